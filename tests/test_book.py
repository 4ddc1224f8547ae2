"""The book: tables from run folders (lungseg_lib.results), the notebooks, `lungseg book` and
`lungseg figure` (lungseg_lib.book).

The whole book is built once per session (`build_once`, shared with test_browser.py) from
smoke runs trained here on synthetic data, in a separate book root under pytest's tmp folder,
with `jupyter-book build -W` (zero warnings).
"""

import json
import os
import re
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from lungseg_lib import book, claims, cli, failures, files, papers, results
from lungseg_lib.engine import runfolder
from lungseg_lib.errors import DataError

REPO = Path(__file__).resolve().parents[1]
MODELS = results.registry_models()
# Remembered parameters the session's build must use (as if set by `lungseg figure`).
CHANGED = {"01_data": {"example": "SYN_0002_1"}, "02_architecture": {"image_size": 64},
           "03_results": {"metric": "dice"}, "04_postprocessing": {"model": "unet"},
           "05_predictions": {"n_cases": 1, "model": "unet"}, "06_failures": {"n_worst": 2, "metric": "dice"}}
SMOKE_EPOCHS = 1  # the smoke profile with one epoch: the build, not the training, is under test
_BUILT: dict = {}


def build_once(tmp_path_factory) -> Path:
    """Build the book once per session from smoke runs (trained into its root); return the root."""
    if "root" not in _BUILT:
        root = book.copy_sources(tmp_path_factory.mktemp("book"))
        book.save_state({"book": {}, "notebooks": CHANGED}, root)
        start = time.time()
        book.build_book("smoke", runs_dir=root / "runs", root=root, smoke_overrides={"epochs": SMOKE_EPOCHS})
        _BUILT.update(root=root, seconds=time.time() - start)
    return _BUILT["root"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build_once(tmp_path_factory)


# ---------------------------------------------------------------- fake run folders

def fake_run(runs_dir: Path, profile: str, model: str, dice: list[float], data_root="nowhere",
             data="nowhere", seed: int = 0) -> Path:
    """A minimal evaluated run folder with per-image Dice values ``dice`` (IoU = Dice / 2)."""
    from lungseg_lib.stats import summarize

    path = runfolder.run_dir_for(profile, model, seed, runs_dir)
    names = [f"IMG_{i}" for i in range(len(dice))]
    table = pd.DataFrame({"name": names, "source": "s", "label": "0", "brightness": np.linspace(0.2, 0.8, len(dice)),
                          "contrast": 0.2, "mask_fraction": 0.25, "removed_components": [1] + [0] * (len(dice) - 1),
                          "removed_area": [30] + [0] * (len(dice) - 1), "dice": np.array(dice) - 0.01,
                          "iou": np.array(dice) / 2, "dice_post": dice, "iou_post": np.array(dice) / 2})
    files.write_csv(path / runfolder.PER_IMAGE, table)
    files.write_json(path / runfolder.CONFIG, {"config": {"model": model, "profile": profile, "data": data, "epochs": 3},
                                         "data_root": str(data_root), "split_file": "data/splits/nowhere.csv",
                                         "data_fingerprint": "abc", "environment": {"git_commit": "1234567890ab"}})
    files.write_json(path / runfolder.METRICS, {
        "model": model, "profile": profile, "n_images": len(dice), "image_size": 64,
        "raw": {"dice": summarize(table.dice), "iou": summarize(table.iou)},
        "post": {"dice": summarize(table.dice_post), "iou": summarize(table.iou_post)}, "timings": {}})
    (path / runfolder.PREDICTIONS).mkdir(exist_ok=True)
    for name in names:
        cv2.imwrite(str(path / runfolder.PREDICTIONS / f"{name}.png"), np.zeros((8, 8), np.uint8))
    return path


def test_results_table_one_row_per_model_missing_runs_marked(tmp_path):
    fake_run(tmp_path, "cpu", "unet", [0.9, 0.95, 0.97])
    table = results.results_table("cpu", tmp_path)
    measured = table[~table["_reported"]]
    assert measured["Model"].tolist() == results.registry()["title"].tolist() and len(measured) == len(MODELS)
    row = measured.set_index("Model").loc["U-Net"]
    assert row["Run"] == "cpu/unet" and row["Test images"] == "3"
    assert row["Dice post"].startswith("0.940 [") and row["Dice raw"].startswith("0.930 [")
    segnet = measured.set_index("Model").loc["SegNet"]
    assert segnet["Run"] == "cpu/segnet (missing)" and segnet["Dice post"] == "missing"
    values = results.metric_values("cpu", tmp_path)
    assert values["unet_dice_post_mean"] == pytest.approx(0.94)
    assert np.isnan(values["segnet_dice_post_mean"]) and isinstance(values["segnet_dice_post_mean"], float)


def test_results_table_holds_the_papers_whole_table_one(tmp_path):
    """All ten values of the paper's Table 1, each under the measured row it is set beside."""
    table = results.results_table("cpu", tmp_path)
    reported = table[table["_reported"]]
    metric_columns = ["Dice raw", "Dice post", "IoU raw", "IoU post"]
    cells = sorted(float(v) for c in metric_columns for v in reported[c] if v)
    assert cells == sorted(v for r in papers.table1() for v in (r.dice, r.iou)) and len(cells) == 10
    models = table["Model"].tolist()
    for r in papers.table1():  # right below the model it is set beside
        below = models[models.index(results.title_of(r.beside)) + 1]
        assert f"\u201c{r.row}\u201d" in below and below.startswith("reported:")
    nasnet = reported.iloc[0]
    assert (nasnet["Dice raw"], nasnet["Dice post"], nasnet["IoU raw"], nasnet["IoU post"]) == ("0.91", "0.92", "0.86", "0.87")
    deeplab = models[models.index(results.title_of("deeplabv3plus")) + 1]
    assert "1412.7062" in deeplab and "stands in" in deeplab  # DeepLab v1 of the paper, a stand-in here


def test_html_table_bolds_the_best_measured_value_and_sets_reported_rows_apart(tmp_path):
    fake_run(tmp_path, "cpu", "unet", [0.90, 0.95, 0.97])
    fake_run(tmp_path, "cpu", "segnet", [0.80, 0.85, 0.87])
    html = results.html_table(results.results_table("cpu", tmp_path)).data
    unet = re.search(r"<tr><th>U-Net</th>(.*?)</tr>", html).group(1)
    segnet = re.search(r"<tr><th>SegNet</th>(.*?)</tr>", html).group(1)
    assert '<td class="num"><strong>0.940</strong><br><span class="ci">' in unet and "<strong>" not in segnet
    assert html.count('<tr class="reported">') == 4 and "_reported" not in html
    assert results.REPORTED_LEGEND in html  # the legend line says what the grey rows are
    assert '<th class="num">Dice raw</th>' in html and '<th>Run</th>' in html  # numbers right-aligned


def test_best_profile_prefers_paper_then_cpu_never_smoke(tmp_path):
    assert results.best_profile(tmp_path) == "cpu"  # nothing at all: cpu, shown as missing
    fake_run(tmp_path, "smoke", "unet", [0.5, 0.6])
    assert results.resolve_profile("auto", tmp_path) == "cpu"
    fake_run(tmp_path, "paper", "unet", [0.9, 0.95])
    assert results.resolve_profile("auto", tmp_path) == "paper"
    assert results.resolve_profile("smoke", tmp_path) == "smoke"
    with pytest.raises(ValueError, match="unknown profile"):
        results.resolve_profile("gpu", tmp_path)


def test_paired_and_gain_tables(tmp_path):
    fake_run(tmp_path, "cpu", "nasnet_decoder", [0.90, 0.92, 0.94, 0.96])
    fake_run(tmp_path, "cpu", "unet", [0.80, 0.82, 0.84, 0.86])
    paired = results.paired_table("cpu", tmp_path).set_index("Model")
    assert len(paired) == len(MODELS) - 1
    assert paired.loc["U-Net", "Mean difference"] == "-0.1000" and paired.loc["U-Net", "n"] == "4"
    assert paired.loc["SegNet", "Mean difference"].startswith("missing")
    gain = results.postprocessing_gain(results.read_per_image(tmp_path / "cpu" / "unet" / "seed0"))
    assert gain["gain"] == pytest.approx(0.01) and gain["n_removed"] == 1 and gain["n_changed"] == 4
    assert results.gain_table("cpu", tmp_path).set_index("Model").loc["SegNet", "Mean Dice gain"] == "missing"


def test_paired_comparison_needs_shared_test_images(tmp_path):
    fake_run(tmp_path, "cpu", "nasnet_decoder", [0.90, 0.92])
    path = fake_run(tmp_path, "cpu", "unet", [0.80, 0.82])
    table = results.read_per_image(path)
    table["name"] = ["OTHER_0", "IMG_1"]  # one image in common
    files.write_csv(path / runfolder.PER_IMAGE, table)
    assert results.paired_table("cpu", tmp_path).set_index("Model").loc["U-Net", "Mean difference"] == \
        "1 shared test images: too few to compare"
    assert claims.comparison_claim("cpu", tmp_path)["Verdict"] == claims.NOT_MEASURED


def test_claims_verdicts_follow_the_numbers(tmp_path):
    table = claims.claims_table("cpu", tmp_path).set_index("Claim")
    assert (table["Verdict"] == claims.NOT_MEASURED).all()  # no runs: nothing is claimed
    assert "Measured (cpu profile)" in table
    fake_run(tmp_path, "cpu", "nasnet_decoder", [0.93, 0.94, 0.95, 0.96])
    fake_run(tmp_path, "cpu", "unet", [0.80, 0.82, 0.84, 0.86])
    table = claims.claims_table("cpu", tmp_path).set_index("Claim")["Verdict"]
    assert table["Dice of the NASNet-Large-Decoder Net"].startswith("reached on nowhere data at 64 px")  # CI above 0.92
    assert "reproduce" not in " ".join(table)  # reached here is not the paper's result reproduced
    assert table["Better than every other model"] == "incomplete: better than 1 of the 1 models evaluated so far"
    assert table["Post-processing helps"].startswith("holds on nowhere data at 64 px: Dice +0.0100")  # raw = post - 0.01
    fake_run(tmp_path, "cpu", "segnet", [0.99, 0.99, 0.995, 0.999])
    comparison = claims.comparison_claim("cpu", tmp_path)
    assert comparison["Verdict"] == "does not hold on nowhere data at 64 px: worse than 1 of 2 models"
    assert "worse than SegNet (-0.0" in comparison["Measured"] and "better than U-Net (+0.1" in comparison["Measured"]
    assert "5 model(s) not evaluated" in comparison["Measured"]
    fake_run(tmp_path, "cpu", "nasnet_decoder", [0.5, 0.6, 0.7, 0.8])
    assert claims.accuracy_claim("cpu", tmp_path)["Verdict"].startswith("not reached on nowhere data")
    assert "0.91 to 0.92" in claims.postprocessing_claim("cpu", tmp_path)["Paper"]  # the reported gain
    assert [claims.direction(*ci) for ci in ((0.1, 0.2), (-0.2, -0.1), (-0.1, 0.1))] == [
        "better", "worse", "no clear difference"]


def test_seeds_are_averaged_per_image_and_spread_is_reported(tmp_path):
    fake_run(tmp_path, "cpu", "unet", [0.90, 0.92, 0.94], seed=0)
    fake_run(tmp_path, "cpu", "unet", [0.80, 0.84, 0.88], seed=2)
    files.write_json(tmp_path / "cpu/unet/seed1" / runfolder.CONFIG, {"config": {}})  # started, not evaluated
    assert list(results.seed_dirs("cpu", "unet", tmp_path)) == [0, 2]
    mean = results.mean_per_image("cpu", "unet", tmp_path)
    assert mean["dice_post"].tolist() == pytest.approx([0.85, 0.88, 0.91]) and (mean["n_seeds"] == 2).all()
    spread = results.seed_spread("cpu", "unet", tmp_path)
    assert (spread["mean"], spread["min"], spread["max"]) == pytest.approx((0.88, 0.84, 0.92))
    assert spread["sd"] == pytest.approx(np.std([0.92, 0.84], ddof=1))
    row = results.results_table("cpu", tmp_path).set_index("Model").loc["U-Net"]
    assert row["Seeds"] == "0 2" and row["Dice post"].startswith("0.880 [")
    seeds = results.seed_table("cpu", tmp_path).set_index("Model")
    assert seeds.loc["U-Net", "Dice seed SD (range)"] == f"{spread['sd']:.4f} (0.840-0.920)"
    assert seeds.loc["U-Net", "Dice post, mean of seeds"] == "0.8800" and seeds.loc["SegNet", "Seeds"] == "none"
    assert results.metric_values("cpu", tmp_path)["unet_dice_post_seed_n_seeds"] == 2


def test_verdicts_need_the_same_sign_in_every_seed(tmp_path):
    assert claims.seed_direction(0.01, 0.02, "+ + +") == "better"
    assert claims.seed_direction(0.01, 0.02, "+ - +") == "not separable"
    assert claims.seed_direction(-0.02, -0.01, "- -") == "worse"
    assert claims.seed_direction(-0.01, 0.02, "+ +") == "not separable"
    reference = [0.90, 0.91, 0.92, 0.93, 0.94]
    for seed, shift in ((0, 0.03), (1, 0.03), (2, -0.01)):  # better on average, not in seed 2
        fake_run(tmp_path, "cpu", "nasnet_decoder", reference, seed=seed)
        fake_run(tmp_path, "cpu", "unet", [v + shift for v in reference], seed=seed)
    c = results.paired_comparisons("cpu", tmp_path).set_index("model").loc["unet"]
    assert c["seeds"] == "0 1 2" and c["seed_signs"] == "+ + -" and c["ci_low"] > 0
    assert "not separable from U-Net" in claims.comparison_claim("cpu", tmp_path)["Measured"]


def test_intervention_verdict_from_the_robustness_grid(tmp_path):
    from lungseg_lib import robustness_report

    path = fake_run(tmp_path, "cpu", "nasnet_decoder", [0.9] * 6)
    rows = []
    for i in range(6):
        for family in ("brightness_down", "brightness_up", "jpeg"):
            for severity in (0, 3, 5):
                hit = {"brightness_down": 0.05, "brightness_up": 0.002}.get(family, 0.0) * (severity > 0)
                value = 0.9 - hit - 0.001 * i * (severity > 0)
                rows.append({"name": f"IMG_{i}", "family": family, "severity": severity, "dice": value,
                             "iou": value / 2, "dice_post": value, "iou_post": value / 2})
    files.write_csv(path / "robustness.csv", pd.DataFrame(rows))
    verdict = claims.intervention_claim("cpu", tmp_path)
    assert verdict["Verdict"] == f"partly: only darker images lose more than {claims.MIN_EFFECT} Dice"
    assert "darker (brightness x0.7): Dice (post-processed) drop +0.05" in verdict["Measured"]
    table = robustness_report.drop_table("cpu", tmp_path).set_index("Model (severity)")
    assert table.loc["NASNet-Large-Decoder Net (3)", "brightness down"].startswith("+0.053 [")
    assert table.loc["NASNet-Large-Decoder Net (3)", "gamma up"] == "not scored"
    assert table.loc["U-Net (5)", "jpeg"] == "missing"
    curves = robustness_report.curves("cpu", tmp_path)
    assert set(curves["severity"]) == {0, 3, 5} and set(curves["model"]) == {"nasnet_decoder"}
    assert claims.intervention_claim("cpu", tmp_path / "none")["Verdict"] == claims.NOT_MEASURED


def test_comparison_verdict_once_every_model_is_evaluated(tmp_path):
    reference = [0.90, 0.91, 0.92, 0.93, 0.94]
    fake_run(tmp_path, "cpu", "nasnet_decoder", reference)
    for model in MODELS[1:]:
        fake_run(tmp_path, "cpu", model, [v - 0.05 for v in reference])
    assert claims.comparison_claim("cpu", tmp_path)["Verdict"] == \
        f"holds on nowhere data at 64 px: better than all {len(MODELS) - 1} other models"
    fake_run(tmp_path, "cpu", "unet", [0.95, 0.86, 0.97, 0.88, 0.94])  # differences straddle 0
    assert claims.comparison_claim("cpu", tmp_path)["Verdict"].startswith(f"partly: better than {len(MODELS) - 2} of")
    for model in MODELS[1:]:
        fake_run(tmp_path, "cpu", model, [0.95, 0.86, 0.97, 0.88, 0.94])
    assert claims.comparison_claim("cpu", tmp_path)["Verdict"] == "not shown: not separable from any model"


def test_postprocessing_verdict_calls_tiny_gains_negligible(tmp_path):
    path = fake_run(tmp_path, "cpu", "nasnet_decoder", list(np.linspace(0.9, 0.95, 40)))
    table = results.read_per_image(path)
    table["dice"] = table["dice_post"] - np.r_[np.full(5, 0.001), np.zeros(35)]  # 5 images gain 0.001
    files.write_csv(path / runfolder.PER_IMAGE, table)
    verdict = claims.postprocessing_claim("cpu", tmp_path)["Verdict"]
    assert verdict.startswith("negligible: Dice +0.0001") and "5 of 40 images changed" in verdict
    table["dice"] = table["dice_post"] + np.r_[0.02, -0.02, np.zeros(38)]  # ups and downs: CI contains 0
    files.write_csv(path / runfolder.PER_IMAGE, table)
    assert claims.postprocessing_claim("cpu", tmp_path)["Verdict"].startswith("not shown: the CI contains 0")


def test_claims_failure_verdict(tmp_path):
    path = fake_run(tmp_path, "cpu", "nasnet_decoder", list(np.linspace(0.8, 0.99, 30)))
    claim = claims.failures_claim("cpu", tmp_path)
    assert claim["Verdict"].startswith("not supported") and "worst images among the lightest" in claim["Measured"]
    table = results.read_per_image(path)
    table["brightness"] = 0.5 + np.linspace(0.3, 0.0, 30) * np.resize([1, -1], 30)  # best images: typical
    files.write_csv(path / runfolder.PER_IMAGE, table)
    assert claims.failures_claim("cpu", tmp_path)["Verdict"].startswith("holds on nowhere data")
    table["brightness"] = 0.5 + np.linspace(0.0, 0.3, 30) * np.resize([1, -1], 30)  # best images: extreme
    files.write_csv(path / runfolder.PER_IMAGE, table)
    assert claims.failures_claim("cpu", tmp_path)["Verdict"].startswith("contradicted")


def test_rank_cases_and_failure_tests():
    table = pd.DataFrame({"name": list("abcdefghij"), "dice_post": np.linspace(0.5, 0.95, 10),
                          "brightness": [0.1, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], "contrast": 0.2})
    groups = results.rank_cases(table, "dice_post", 2)
    assert groups == {"best": ["j", "i"], "median": ["f", "e"], "worst": ["a", "b"]}
    assert results.rank_cases(table, "dice_post", 1, present={"a", "c", "j"})["worst"] == ["a"]
    extreme = failures.extreme_brightness(table, n_worst=2)
    assert extreme["n_extreme"] == 2 and extreme["expected"] == pytest.approx(0.4) and extreme["p"] < 0.05
    corr = failures.failure_correlations(table).set_index("feature")
    assert corr.loc["brightness_deviation", "rho"] < 0
    assert failures.failure_correlations(None)["rho"].isna().all()


def test_failure_modes_and_groups():
    table = pd.DataFrame({"name": list("abcd"), "dice_post": [0.5, 0.6, 0.9, 0.95],
                          "recall_post": [0.4, 0.9, 0.9, 0.95], "precision_post": [0.9, 0.5, 0.9, 0.95],
                          "label": [0, 1, 0, 1], "source": ["shenzhen"] * 3 + ["montgomery"]})
    modes = failures.failure_modes(table, n_worst=3)
    assert (modes["n"], modes["n_under"], modes["n_over"]) == (3, 1, 1)
    assert modes["recall"] == pytest.approx(2.2 / 3)
    groups = failures.group_table(table).set_index("Group")
    assert groups.loc["label: normal", "Images"] == "2" and groups.loc["label: tuberculosis", "Images"] == "2"
    assert groups.loc["label: normal", "Dice (post-processed)"].startswith("0.700 [")
    assert groups.loc["source: montgomery", "Images"] == "1" and groups["Mann-Whitney p"].str.len().gt(0).all()
    assert failures.group_table(None)["Group"].tolist() == ["missing run"]


def test_data_root_rules(tmp_path, monkeypatch):
    synth = tmp_path / "synthetic_64"
    (synth / "images").mkdir(parents=True)
    fake_run(tmp_path / "runs", "smoke", "unet", [0.5, 0.6], data_root=synth, data="synthetic")
    monkeypatch.setenv("LUNGSEG_DATA", str(tmp_path / "elsewhere"))
    assert results.data_root("smoke", tmp_path / "runs") == synth  # synthetic runs: their data
    other = tmp_path / "other"
    (other / "images").mkdir(parents=True)
    assert results.data_root("smoke", tmp_path / "runs", str(other)) == other  # explicit wins
    monkeypatch.setenv("LUNGSEG_DATA", str(other))
    assert results.data_root("cpu", tmp_path / "runs") == other


def test_no_data_offline_stops_with_one_message(tmp_path, monkeypatch, capsys):
    """Without LUNGSEG_DATA, recorded data or data/shenzhen_montgomery_512, and with the download
    failing."""
    from lungseg_lib.data import download

    monkeypatch.delenv("LUNGSEG_DATA", raising=False)
    monkeypatch.setattr(results, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(book, "REPO_ROOT", tmp_path)

    def offline(*args, **kwargs):
        raise DataError("https://codeload.github.com/...: download failed (network is unreachable)")

    monkeypatch.setattr(download, "fetch_shenzhen_montgomery_512", offline)
    assert cli.main(["book", "--profile", "cpu", "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lungseg: error: no chest X-ray data found")
    assert "LUNGSEG_DATA" in err[0] and "Traceback" not in err[0]
    assert "lungseg data fetch shenzhen-montgomery-512 --out data/shenzhen_montgomery_512" in err[0]


def test_without_data_the_book_fetches_the_runs_data_set(tmp_path, monkeypatch, capsys):
    """No LUNGSEG_DATA and no data here: `lungseg book` fetches the Shenzhen + Montgomery set
    the runs were trained on into data/shenzhen_montgomery_512 (not Montgomery alone), once."""
    from lungseg_lib.data import download

    monkeypatch.delenv("LUNGSEG_DATA", raising=False)
    monkeypatch.setattr(results, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(book, "REPO_ROOT", tmp_path)
    fetched = []

    def fetch(out, **kwargs):
        fetched.append(Path(out))
        (Path(out) / "images").mkdir(parents=True)
        return download.ConversionSummary(Path(out), 704)

    monkeypatch.setattr(download, "fetch_shenzhen_montgomery_512", fetch)
    monkeypatch.setattr(download, "fetch_montgomery", None)  # never called
    expected = tmp_path / "data" / "shenzhen_montgomery_512"
    assert book.ensure_data("cpu", tmp_path / "runs") == expected and fetched == [expected]
    assert "downloading the Shenzhen + Montgomery set" in capsys.readouterr().out
    assert book.ensure_data("cpu", tmp_path / "runs") == expected and fetched == [expected]  # found now


# ---------------------------------------------------------------- notebooks

def test_book_notebooks_and_their_parameters():
    stems = book.book_notebooks()
    assert "00_train" not in stems and stems[-1] == book.LAST
    for stem in [s for s in stems if s[:2] <= "09"]:
        nb = json.loads((REPO / "notebooks" / f"{stem}.ipynb").read_text())
        tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, stem
        assert all(not c.get("outputs") and c.get("execution_count") is None
                   for c in nb["cells"] if c["cell_type"] == "code"), f"{stem}.ipynb has outputs"
        assert (REPO / "notebooks" / f"{stem}.py").exists(), f"{stem}.py (jupytext pair) is missing"
        params = book.notebook_parameters(REPO / "notebooks" / f"{stem}.ipynb")
        required = {"profile", "runs_dir"} | (set() if stem == "08_claims" else {"data_dir", "figures_dir"})
        assert required <= set(params), stem


def test_notebooks_match_their_py_pairs():
    import jupytext

    for stem in ["00_train"] + book.book_notebooks():
        ipynb = jupytext.read(REPO / "notebooks" / f"{stem}.ipynb")
        py = jupytext.read(REPO / "notebooks" / f"{stem}.py")
        assert [c.source for c in ipynb.cells] == [c.source for c in py.cells], \
            f"{stem}: run `jupytext --sync notebooks/{stem}.py`"


def test_notebooks_run_without_the_kernel_encryption_warning(tmp_path, capfd):
    """ipykernel >= 7.3 warns on every kernel start over unencrypted TCP; run_notebook encrypts."""
    from lungseg_lib.notebooks import run_notebook

    out = run_notebook("claims", tmp_path / "claims.ipynb", {"profile": "cpu", "runs_dir": str(tmp_path)})
    assert "not measured yet" in out.read_text()
    assert "without encryption" not in capfd.readouterr().err


def test_figure_rejects_unknown_names(capsys):
    assert cli.main(["figure", "predictions", "--set", "n_casez=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter(s) n_casez" in err and "n_cases" in err
    assert cli.main(["figure", "nosuch"]) == 2
    assert "unknown notebook 'nosuch'" in capsys.readouterr().err


def test_every_notebook_runs_with_its_defaults(tmp_path):
    """Plain papermill defaults: the best profile in runs/ and the data found automatically."""
    from lungseg_lib.notebooks import run_notebook

    try:
        results.data_root(results.best_profile())
    except DataError as exc:
        pytest.skip(f"no data for the default parameters: {exc}")
    for stem in book.book_notebooks():
        out = run_notebook(stem, tmp_path / f"{stem}.ipynb")
        assert json.loads(out.read_text())["metadata"]["papermill"]["exception"] is None


# ---------------------------------------------------------------- the built book

def test_book_builds_from_smoke_runs_with_zero_warnings(built):
    """build_book raises on any Sphinx warning (-W); here: every page and notebook is there."""
    html = built / "_build" / "html"
    for page in ("intro", "data", "method", "results", "failures", "reproduce", "citing", "speed", "ct"):
        assert (html / "book" / f"{page}.html").exists(), page
    for stem in book.book_notebooks():
        assert (built / book.EXECUTED / f"{stem}.ipynb").exists(), stem
        assert (html / "book" / "_executed" / f"{stem}.html").exists(), stem
    for model in MODELS:
        assert runfolder.run_status(built / "runs" / "smoke" / model / "seed0") == "evaluated"
    # the redirect page index.html declares no icon, so browsers fetch /favicon.ico
    assert (html / "favicon.ico").read_bytes()[:4] == b"\x00\x00\x01\x00"  # an ICO file
    print(f"book built in {_BUILT['seconds']:.0f} s")


def test_pages_show_glued_numbers_and_the_profile(built):
    html = built / "_build" / "html" / "book"
    page = (html / "results.html").read_text()
    assert "smoke profile: synthetic 64 px images" in page
    assert "{glue" not in page and "glued-" not in page
    text = (html / "intro.html").read_text()
    assert len(re.findall(r"\b0\.\d{3}\b", text)) >= 3
    for name in ("fig-architecture", "fig-postprocessing", "fig-predictions", "tbl-results", "tbl-data", "tbl-claims",
                 "tbl-deviations", "tbl-related", "tbl-consistency"):
        assert f'id="{name}"' in "".join(p.read_text() for p in html.glob("*.html")), name
    assert (built / "_build" / "figures" / "fig4_predictions.pdf").exists()
    status = (html / "_executed" / "09_status.html").read_text()
    assert status.count("train.ipynb") >= len(MODELS)  # links to the executed training notebooks


def test_remembered_parameters_are_used_by_the_build(built):
    for stem, params in CHANGED.items():
        meta = json.loads((built / book.EXECUTED / f"{stem}.ipynb").read_text())["metadata"]["papermill"]
        assert params.items() <= meta["parameters"].items(), stem
        assert meta["parameters"]["profile"] == "smoke"


def test_figure_reexecutes_one_notebook_and_remembers(built):
    executed = built / book.EXECUTED / "05_predictions.ipynb"
    book.run_figure("predictions", {"n_cases": 2}, root=built)
    assert book.load_state(built)["notebooks"]["05_predictions"] == {"n_cases": 2, "model": "unet"}
    assert json.loads(executed.read_text())["metadata"]["papermill"]["parameters"]["n_cases"] == 2
    with pytest.raises(ValueError, match="unknown parameter"):
        book.run_figure("predictions", {"n_casez": 2}, root=built)
    assert book.load_state(built)["notebooks"]["05_predictions"]["n_cases"] == 2
    book.run_figure("05_predictions", {}, root=built, reset=True)
    assert "05_predictions" not in book.load_state(built)["notebooks"]
    assert json.loads(executed.read_text())["metadata"]["papermill"]["parameters"].get("n_cases") is None
    assert os.path.getsize(executed) > 0
