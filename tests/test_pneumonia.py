"""The pneumonia chapter (lungseg_lib.report.pneumonia, conventions_analysis, pneumonia_figures)
on hand-made run folders and a tiny synthetic data folder whose answers are known by
construction; the licence filter of every figure that shows images of the set; and the chapter
and its notebook gluing the same keys."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from lungseg_lib.data.imageio import to_square
from lungseg_lib.data.licences import may_show
from lungseg_lib.engine import runfolder
from lungseg_lib.report import conventions_analysis as ca
from lungseg_lib.report import pneumonia as pn
from lungseg_lib.report import pneumonia_figures as pf
from lungseg_lib.report import profile_runs
from lungseg_lib.report.tables import REPORTED

REPO = Path(__file__).resolve().parents[1]
MODELS = profile_runs.registry_models()
SPLIT = pd.read_csv(REPO / "data" / "splits" / "covid_pneumonia_512.csv", dtype=str)
TEST_NAMES = [Path(f).stem for f in SPLIT.loc[SPLIT["split"] == "test", "file"]]
EXTERNAL_NAMES = [Path(f).stem for f in SPLIT.loc[SPLIT["split"] == "external", "file"]]


def write_scores(folder: Path, names, dice, preds: dict | None = None) -> Path:
    """An evaluated score folder: per_image.csv (the set's empty label column included),
    metrics.json and, given ``preds`` ({name: bool array}), predictions/NAME.png."""
    folder.mkdir(parents=True, exist_ok=True)
    dice = np.broadcast_to(np.asarray(dice, float), (len(names),))
    pd.DataFrame({"name": list(names), "source": "unknown", "label": "", "brightness": np.linspace(0.2, 0.8, len(names)),
                  "contrast": 0.2, "removed_components": 0, "dice": dice - 0.01, "iou": dice / 2,
                  "dice_post": dice, "iou_post": dice / 2}).to_csv(folder / runfolder.PER_IMAGE, index=False)
    (folder / runfolder.METRICS).write_text(json.dumps({"n_images": len(names), "image_size": 16}))
    for name, mask in (preds or {}).items():
        (folder / runfolder.PREDICTIONS).mkdir(exist_ok=True)
        cv2.imwrite(str(folder / runfolder.PREDICTIONS / f"{name}.png"), mask.astype(np.uint8) * 255)
    return folder


def make_run(root: Path, profile: str, model: str, names, dice, seed: int = 0, val: float = 0.9,
             preds: dict | None = None, square: str = "stretch") -> Path:
    """A run folder evaluated on its own test split (config, training.json, scores)."""
    path = runfolder.run_dir_for(profile, model, seed, root)
    write_scores(path, names, dice, preds)
    (path / runfolder.CONFIG).write_text(json.dumps({"config": {"model": model, "profile": profile, "image_size": 16,
                                                                "square": square}, "data_root": "x"}))
    (path / runfolder.TRAINING).write_text(json.dumps({"best_val_dice": val}))
    return path


def evaluate(run: Path, data: str, split: str, names, dice, preds: dict | None = None) -> Path:
    """A fake ``lungseg evaluate RUN --data DATA --split SPLIT``."""
    return write_scores(runfolder.evaluation_dir(run, data, split), names, dice, preds)


# ---------------------------------------------------------------- tables from run folders

def test_the_results_table_says_missing_then_averages_seeds_per_image(tmp_path):
    table = pn.results_table(tmp_path)
    measured, reported = table[~table[REPORTED]], table[table[REPORTED]]
    assert len(measured) == len(MODELS) and (measured["Dice (post-processed), test"] == "missing").all()
    nasnet = reported[reported["Model"].str.contains("Nastnetlarge")].iloc[0]
    assert nasnet["Dice (post-processed), test"] == "0.92" and nasnet["Reported Dice (raw)"] == "0.91"
    names = TEST_NAMES[:4]  # 000001 and 000016 among them: names that look like numbers
    assert "000001" in names
    for seed, dice in ((0, [0.8, 0.9, 0.7, 0.6]), (1, [0.9, 0.9, 0.9, 0.8])):
        run = make_run(tmp_path, pn.PROFILE, "unet", names, dice, seed)
    evaluate(run, pn.DATA, "external", EXTERNAL_NAMES[:3], 0.5)  # seed 1 only
    row = pn.results_table(tmp_path).set_index("Model").loc["U-Net"]
    assert row["Seeds, test"] == "0 1" and row["Test images"] == "4"
    assert row["Dice (post-processed), test"].startswith(f"{np.mean([0.85, 0.9, 0.8, 0.7]):.3f} [")
    assert row["Seeds, external"] == "1" and row["Dice (post-processed), external"] == "0.500 [0.500, 0.500]"
    assert row["IoU (post-processed), external"] == "0.250 [0.250, 0.250]"
    assert pn.mean_scores(pn.PROFILE, "unet", pn.DATA, "test", tmp_path)["name"].tolist() == names


def test_the_cross_set_matrix_reads_seed_zero_of_each_pair(tmp_path):
    sm_names = [f"CHNCXR_{i}" for i in range(5)]
    run = make_run(tmp_path, pn.SM_PROFILE, "unet", sm_names, 0.95)
    evaluate(run, pn.DATA, "test", TEST_NAMES[:6], 0.80)
    other = make_run(tmp_path, pn.SM_PROFILE, "unet", sm_names, 0.95, seed=1)
    evaluate(other, pn.DATA, "test", TEST_NAMES[:6], 0.10)  # seed 1: not in the matrix
    own = make_run(tmp_path, pn.PROFILE, "unet", TEST_NAMES[:6], 0.90)
    evaluate(own, pn.DATA, "external", EXTERNAL_NAMES[:5], 0.85)
    evaluate(own, pn.SM_DATA, "test", sm_names, 0.88)
    long = pn.cross_set_long(tmp_path)
    assert len(long) == len(MODELS) * len(pn.PAIRS)
    unet = long[long["model"] == "unet"].set_index("pair")
    assert unet.loc[pn.pair_label(*pn.PAIRS[1]), "mean"] == pytest.approx(0.80)
    assert unet.loc[pn.pair_label(*pn.PAIRS[5]), "truth"] == "visible"
    assert unet.loc[pn.pair_label(*pn.PAIRS[1]), "truth"] == "whole"
    assert unet.loc[pn.pair_label(*pn.PAIRS[2]), "status"].startswith(
        "missing: lungseg evaluate runs") is False  # the folder is outside the repository
    assert "--data covid_pneumonia_512 --split external" in unet.loc[pn.pair_label(*pn.PAIRS[2]), "status"]
    assert (long[long["model"] == "segnet"]["status"].str.startswith("missing: no evaluated")).all()
    matrix = pn.cross_set_matrix(long)
    assert matrix.shape == (len(MODELS), 6) and int(matrix.notna().sum().sum()) == 5
    assert matrix.loc["U-Net", ("pneumonia films", "Shenzhen + Montgomery test")] == pytest.approx(0.88)
    text = pn.cross_set_table(long).set_index(["Model", "Trained on", "Tested on"])
    assert text.loc[("SegNet", "pneumonia films", "pneumonia test"), "Mean Dice (post-processed)"] == "missing"
    sentence = pn.cross_set_sentence(long)
    assert "trained on pneumonia films (cpu-pneumonia, 1 model(s) measured on all three): 0.900" in sentence
    assert "trained on Shenzhen + Montgomery: not measured yet" in sentence
    evaluate(run, pn.DATA, "external", EXTERNAL_NAMES[:5], 0.70)
    assert "fall from 0.950 on their own test split to 0.800" in pn.takeaway(tmp_path, long=pn.cross_set_long(tmp_path))


def test_a_cpu_rerun_run_stands_for_the_model_in_the_matrix(tmp_path):
    sm_names = [f"CHNCXR_{i}" for i in range(5)]
    evaluate(make_run(tmp_path, pn.SM_PROFILE, "unet", sm_names, 0.95), pn.DATA, "test", TEST_NAMES[:4], 0.5)
    long = pn.cross_set_long(tmp_path).set_index(["model", "pair"])
    assert long.loc[("unet", pn.pair_label(*pn.PAIRS[1])), "mean"] == pytest.approx(0.5)
    rerun = make_run(tmp_path, pn.SM_RERUN, "unet", sm_names, 0.93)  # the same protocol, retrained
    evaluate(rerun, pn.DATA, "test", TEST_NAMES[:4], 0.8)
    long = pn.cross_set_long(tmp_path).set_index(["model", "pair"])
    assert long.loc[("unet", pn.pair_label(*pn.PAIRS[0])), "mean"] == pytest.approx(0.93)  # its own test split
    assert long.loc[("unet", pn.pair_label(*pn.PAIRS[1])), "mean"] == pytest.approx(0.8)
    assert long.loc[("unet", pn.pair_label(*pn.PAIRS[2])), "status"].endswith(
        "cpu-rerun/unet/seed0 --data covid_pneumonia_512 --split external")
    assert pn.seed0_run(pn.SM_PROFILE, "segnet", tmp_path) is None


def test_the_heatmap_blanks_missing_cells_and_says_when_all_are_missing(tmp_path):
    empty = pf.cross_set_figure(pn.cross_set_matrix(pn.cross_set_long(tmp_path)))
    assert "every cell of the matrix is missing" in " ".join(t.get_text() for t in empty.texts)
    make_run(tmp_path, pn.PROFILE, "unet", TEST_NAMES[:3], 0.9)
    fig = pf.cross_set_figure(pn.cross_set_matrix(pn.cross_set_long(tmp_path)))
    annotations = [t.get_text() for t in fig.axes[0].texts if re.fullmatch(r"\d\.\d{3}", t.get_text())]
    assert annotations == ["0.900"]  # one measured cell, the others blank
    assert fig.axes[1].get_ylim() == (pf.VMIN, pf.VMAX)  # the colour bar's fixed range


def test_the_breakdown_by_view_and_finding(tmp_path):
    info = pn.image_info().loc[TEST_NAMES]
    dice = info["view"].map({"PA": 0.9, "AP": 0.8, "AP Supine": 0.7}).to_numpy()
    make_run(tmp_path, pn.PROFILE, "nasnet_decoder", TEST_NAMES, dice)
    table = pn.breakdown_table("test", runs_dir=tmp_path).set_index("Group")
    assert table.loc["View: PA", "NASNet-Large-Decoder Net"] == "0.900 [0.900, 0.900]"
    assert table.loc["View: AP Supine", "Images"] == str((info["view"] == "AP Supine").sum())
    assert table.loc["all images", "Images"] == str(len(TEST_NAMES)) and (table["SegNet"] == "missing").all()
    assert table.loc["Finding: COVID-19", "Images"] == str((info["finding_group"] == "COVID-19").sum())
    external = pn.breakdown_table("external", runs_dir=tmp_path).set_index("Group")
    assert "Finding: other pneumonia" not in external.index  # no such image on that side
    assert (external["NASNet-Large-Decoder Net"] == "missing").all()
    sentence = pn.breakdown_sentence("test", tmp_path)
    assert "lowest on AP Supine (0.700" in sentence and "highest on PA (0.900" in sentence


def test_the_claims_per_data_set_and_the_numbers(tmp_path):
    table = pn.claims_by_data(tmp_path)
    assert list(table.columns[:2]) == ["Claim", "Data"] and "Measured" in table
    assert set(table["Data"]) == {"Shenzhen + Montgomery (cpu)", "pneumonia films (cpu-pneumonia)"}
    assert (table["Verdict"] == pn.NOT_MEASURED).all()
    numbers = pn.data_numbers()
    assert numbers["n_test_images"] == len(TEST_NAMES) and numbers["n_external_images"] == len(EXTERNAL_NAMES)
    assert numbers["n_test_patients"] == SPLIT.loc[SPLIT["split"] == "test", "patient"].nunique()
    assert numbers["n_images"] == len(SPLIT) and numbers["size"] == 128 and numbers["seed"] == pn.SEED
    from lungseg_lib.data.download_covid import MANIFEST

    assert pn.SHIPPED_MANIFEST == MANIFEST.resolve()
    assert pn.takeaway(tmp_path).startswith("Not measured yet")


def test_the_claims_read_pneumonia_runs_whose_label_is_empty(tmp_path):
    make_run(tmp_path, pn.PROFILE, "nasnet_decoder", TEST_NAMES[:5], [0.9, 0.91, 0.92, 0.93, 0.94])
    verdicts = pn.claims_by_data(tmp_path).set_index(["Data", "Claim"])["Verdict"]
    assert verdicts[("pneumonia films (cpu-pneumonia)", "Dice of the NASNet-Large-Decoder Net")] != pn.NOT_MEASURED


# ---------------------------------------------------------------- the regions

def test_the_visible_field_is_the_hull_of_the_two_largest_components():
    raw = np.zeros((20, 20), bool)
    raw[2:12, 2:4] = raw[10:12, 2:8] = True  # an L: its hull fills the corner between the arms
    raw[2:12, 12:18] = True  # a rectangle: its own hull
    raw[16, 10] = True  # a speck: not one of the two largest, no field
    field = ca.visible_field(raw)
    assert field[2:12, 12:18].all() and field[6, 4] and not field[3, 7] and not field[16, 10]
    kept = raw.copy()
    kept[16, 10] = False
    assert field[kept].all()  # every pixel of the two largest components is in the field
    assert not ca.visible_field(np.zeros((8, 8), bool)).any()


def test_recall_by_region_is_known_by_construction():
    truth = np.zeros((10, 10), bool)
    truth[1:9, 1:9] = True
    field = np.zeros_like(truth)
    field[1:6, 1:9] = True  # the visible field: the upper part of the lung
    counts = ca.region_counts(field & truth, truth, field)  # a prediction that is exactly the field
    assert counts == {"inside_px": 40, "outside_px": 24, "hit_inside": 40, "hit_outside": 0}
    summary = ca.region_summary(pd.DataFrame([counts, counts]))
    assert summary["inside_mean"] == 1 and summary["outside_mean"] == 0 and summary["missed_outside_share"] == 1
    assert ca.region_summary(None)["inside_mean"] != ca.region_summary(None)["inside_mean"]  # NaN


def test_to_grid_brings_a_padded_prediction_to_the_stretched_grid():
    mask = np.zeros((32, 16), np.uint8)
    mask[4:28, 2:14] = 1
    padded = to_square(mask, 16, "pad", nearest=True).astype(bool)
    on_grid = ca.to_grid(padded, mask.shape, "pad", 16, "stretch")
    assert (on_grid == to_square(mask, 16, "stretch", nearest=True).astype(bool)).mean() > 0.97
    assert ca.to_grid(on_grid, mask.shape, "stretch", 16, "stretch") is on_grid  # already there: unchanged


TRUTH = np.zeros((16, 32), bool)
TRUTH[2:14, 4:14] = TRUTH[2:14, 18:28] = True
LICENCES = ["CC BY-NC-ND 4.0", "", "CC BY 4.0", "CC BY-NC-SA 4.0", "listed as authorized for everyone", "CC BY 3.0"]


@pytest.fixture
def covid_folder(tmp_path):
    """A synthetic covid_pneumonia_512 folder of six test films, 32 wide and 16 high (and one for
    training): the whole-lung truth is :data:`TRUTH` (two rectangles, rows 2-13), the visible
    field on the 16 px stretched grid their upper two thirds (:func:`_grid_masks`); licences as in
    :data:`LICENCES`."""
    root = tmp_path / "data" / pn.DATA
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    names = [f"case{i}" for i in range(6)] + ["train0"]
    truth = TRUTH.astype(np.uint8) * 255
    for i, name in enumerate(names):
        cv2.imwrite(str(root / "images" / f"{name}.png"), np.full((16, 32), 40 + 20 * i, np.uint8))
        cv2.imwrite(str(root / "masks" / f"{name}.png"), truth)
    licences = LICENCES + ["CC BY 4.0"]
    pd.DataFrame({"file": [f"{n}.png" for n in names], "patient": range(7), "site": "s", "finding": "COVID-19",
                  "view": "PA", "license": licences, "url": [f"https://example.org/{n}" for n in names]}).to_csv(
        root / "manifest.csv", index=False)
    split = tmp_path / "split.csv"
    pd.DataFrame({"file": [f"{n}.png" for n in names], "split": ["test"] * 6 + ["train"]}).to_csv(split, index=False)
    return root, split, names[:6]


def _grid_masks():
    """The truth and the visible field on the 16 px analysis grid (:data:`TRUTH` stretched)."""
    truth = np.zeros((16, 16), bool)
    truth[2:14, 2:7] = truth[2:14, 9:14] = True
    field = np.zeros_like(truth)
    field[2:10, 2:7] = field[2:10, 9:14] = True
    return truth, field


def test_the_regions_of_every_model_against_the_reference(tmp_path, covid_folder):
    root, split, names = covid_folder
    truth, field = _grid_masks()
    for model in MODELS:  # the reference is the cpu model with the best validation Dice: the U-Net
        run = make_run(tmp_path, pn.SM_PROFILE, model, ["x"], 0.9, val=0.99 if model == "unet" else 0.9)
        if model != "nasnet_decoder":  # the others' predictions come from their cpu-rerun runs
            run = make_run(tmp_path, pn.SM_RERUN, model, ["x"], 0.9, val=0.5)
        evaluate(run, pn.DATA, "test", names, 0.8, {n: field for n in names})  # every SM model draws the field
    make_run(tmp_path, pn.PROFILE, "segnet", names, 0.9, preds={n: truth for n in names})
    padded = to_square(TRUTH.astype(np.uint8), 16, "pad", nearest=True).astype(bool)  # another square rule
    make_run(tmp_path, pn.PROFILE, "unet", names, 0.9, preds={n: padded for n in names}, square="pad")
    scores, grid, where = ca.region_scores(tmp_path, root, split)
    assert where.startswith("U-Net (") and "cpu-rerun" in where and grid.names == names
    assert (grid.masks[0] == truth).all()
    assert all((f == field).all() for f in grid.fields)
    rows = scores.set_index(["profile", "model"])
    sm = rows.loc[(pn.SM_PROFILE, "resnet50_unet")]
    assert (sm["inside_mean"], sm["outside_mean"], sm["missed_outside_share"]) == (1.0, 0.0, 1.0)
    pneu = rows.loc[(pn.PROFILE, "segnet")]
    assert pneu["inside_mean"] == 1.0 and pneu["outside_mean"] == 1.0
    assert rows.loc[(pn.PROFILE, "unet"), "inside_mean"] > 0.9 and rows.loc[(pn.PROFILE, "unet"), "outside_mean"] > 0.9
    assert (padded != truth).mean() > 0.2  # read on the wrong grid, it would miss much of the lung
    assert rows.loc[(pn.PROFILE, "unet22"), "status"].startswith("missing: no seed-0 predictions")
    table = ca.region_table(scores).set_index(["Model", "Trained on"])
    assert table.loc[("SegNet", "pneumonia films (cpu-pneumonia)"), "Missed lung pixels outside"] == "none missed"
    assert table.loc[("U-Net", "Shenzhen + Montgomery (cpu)"), "Missed lung pixels outside"] == "100.0 %"
    assert ca.outside_share(grid)["mean"] == pytest.approx(40 / 120)
    assert "33.3 % of the whole-lung truth of the 6 pneumonia test images" in ca.regions_sentence(scores, grid, where)
    assert "100.0 % lie outside the visible field" in ca.takeaway_clause(scores)


def test_the_regions_say_what_is_missing(tmp_path, covid_folder):
    root, split, names = covid_folder
    scores, grid, where = ca.region_scores(tmp_path, root, split)
    assert grid is None and "not known until every cpu seed-0 run is evaluated" in where
    assert (ca.region_table(scores)["Recall inside the visible field"] == "missing").all()
    for model in MODELS:
        make_run(tmp_path, pn.SM_PROFILE, model, ["x"], 0.9, val=0.99 if model == "unet" else 0.9)
    scores, grid, where = ca.region_scores(tmp_path, root, split)
    assert grid is None and "--data covid_pneumonia_512 --split test" in where
    assert ca.regions_sentence(scores, grid, where).startswith("The convention/failure split: not measured yet")


# ---------------------------------------------------------------- the licence filter

def _credited(shown: pf.ShownFigure, info: pd.DataFrame) -> None:
    """Every image drawn passes may_show and is credited (its URL and licence) in the caption."""
    caption = shown.caption()
    for name in shown.shown:
        row = info.loc[name]
        assert may_show(row["license"]), name
        assert f"{row['file']}: {row['url']}, {row['license']}" in caption


def test_every_figure_of_the_set_draws_only_images_it_may_show(tmp_path, covid_folder):
    root, split, names = covid_folder
    info = pn.image_info(pd.read_csv(root / "manifest.csv", dtype=str, keep_default_na=False))
    # the worst cases: the two worst images (licences ND and blank) are skipped, the next two drawn
    make_run(tmp_path, pn.PROFILE, "nasnet_decoder", names, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
             preds={n: _grid_masks()[0] for n in names})
    rows = [pf.worst_cases("nasnet_decoder", tmp_path, n=2, data_dir=root)]
    assert [c["name"] for c in rows[0]["cases"]] == ["case2", "case3"] and rows[0]["skipped"] == ["case0", "case1"]
    shown = pf.worst_cases_figure(rows)
    assert shown.shown == ["case2", "case3"] and shown.skipped == 2 and "2 image(s) not shown" in shown.caption()
    _credited(shown, info)
    forbidden = {**rows[0]["cases"][0], **info.loc["case4"].to_dict()}  # "listed as authorized": not drawn
    shown = pf.worst_cases_figure([{"title": "x", "cases": [forbidden, rows[0]["cases"][1]], "skipped": []}])
    assert shown.shown == ["case3"] and shown.skipped == 1
    _credited(shown, info)
    # the regions: the example is a showable image; a forbidden one is never drawn
    truth, field = _grid_masks()
    for model in MODELS:
        run = make_run(tmp_path, pn.SM_PROFILE, model, ["x"], 0.9, val=0.99 if model == "unet" else 0.9)
        evaluate(run, pn.DATA, "test", names, 0.8, {n: field for n in names})
    _, grid, _ = ca.region_scores(tmp_path, root, split)
    example = pf.region_example(grid, root)
    shown = pf.regions_figure(example)
    assert shown.shown == ["case2"]  # every share is the median: the first showable image by name
    _credited(shown, info)
    refused = pf.regions_figure({**example, **info.loc["case0"].to_dict()})
    assert refused.shown == [] and refused.skipped == 1 and not refused.figure.axes[0].images


def test_the_licence_test_covers_every_figure_function():
    """A new figure function of the chapter must be added to the licence test above."""
    functions = {n for n, f in vars(pf).items() if n.endswith("_figure") and callable(f)
                 and f.__module__ == pf.__name__}
    showing_images = {"worst_cases_figure", "regions_figure"}
    assert functions == showing_images | {"cross_set_figure"}


# ---------------------------------------------------------------- the notebook and the chapter

def test_the_chapter_uses_every_key_the_notebook_glues_and_no_other():
    py = (REPO / "notebooks" / "16_pneumonia.py").read_text(encoding="utf-8")
    md = (REPO / "book" / "pneumonia.md").read_text(encoding="utf-8")
    literal = set(re.findall(r'glue\(\s*"(\w+)"', py))
    assert len(re.findall(r"glue\(", py)) == len(literal) + 1  # plus the loop over data_numbers
    glued = literal | {f"pn_{k}" for k in pn.data_numbers()}
    used = set(re.findall(r"_executed/16_pneumonia\.ipynb::(\w+)", md))
    used |= set(re.findall(r"```\{glued-(?:figure|table)\} (\w+)\n:doc: _executed/16_pneumonia\.ipynb", md))
    assert glued == used, (sorted(glued - used), sorted(used - glued))
    toc = (REPO / "_toc.yml").read_text(encoding="utf-8")
    assert "- file: book/results\n      - file: book/pneumonia\n" in toc


def test_the_notebook_is_paired_and_stripped():
    import jupytext

    nb = json.loads((REPO / "notebooks" / "16_pneumonia.ipynb").read_text(encoding="utf-8"))
    paired = jupytext.read(REPO / "notebooks" / "16_pneumonia.py")
    assert [c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in nb["cells"]] == \
        [c["source"] for c in paired["cells"]]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb["cells"] if c["cell_type"] == "code")
    params = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    assert 'runs_dir = "runs"' in "".join(params["source"]) and 'metric = "dice_post"' in "".join(params["source"])
