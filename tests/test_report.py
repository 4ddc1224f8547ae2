"""The report side's tables from run folders (lungseg_lib.report: runs, results, tables, images),
on hand-made run folders (the ``fake_run`` fixture)."""

import re

import numpy as np
import pandas as pd
import pytest

from lungseg_lib import files
from lungseg_lib.engine import runfolder
from lungseg_lib.report import claims, images, papers, profile_runs, results, tables

MODELS = profile_runs.registry_models()


def test_results_table_one_row_per_model_missing_runs_marked(tmp_path, fake_run):
    fake_run(tmp_path, "cpu", "unet", [0.9, 0.95, 0.97])
    table = results.results_table("cpu", tmp_path)
    measured = table[~table["_reported"]]
    assert measured["Model"].tolist() == profile_runs.registry()["title"].tolist() and len(measured) == len(MODELS)
    row = measured.set_index("Model").loc["U-Net"]
    assert row["Run"] == "cpu/unet\nseeds 0, 3 images"  # the run, its seeds and its test images
    assert row["Dice post"].startswith("0.940 [") and row["Dice raw"].startswith("0.930 [")
    segnet = measured.set_index("Model").loc["SegNet"]
    assert segnet["Run"] == "cpu/segnet (missing)" and segnet["Dice post"] == "missing"
    values = {f.key: v for f, v in results.score_facts("cpu", tmp_path).items()}
    assert values["fact__unet__dice_post"] == pytest.approx(0.94)
    assert np.isnan(values["fact__segnet__dice_post"]) and isinstance(values["fact__segnet__dice_post"], float)
    marked = table.set_index("Model").loc["U-Net", "_facts"]
    assert marked["Dice post"] == "cpu|unet|dice_post|seeds 0"  # the cell is that fact


def test_results_table_holds_the_papers_whole_table_one(tmp_path):
    """All ten values of the paper's Table 1, each under the measured row it is set beside."""
    table = results.results_table("cpu", tmp_path)
    reported = table[table["_reported"]]
    metric_columns = ["Dice raw", "Dice post", "IoU raw", "IoU post"]
    cells = sorted(float(v) for c in metric_columns for v in reported[c] if v)
    assert cells == sorted(v for r in papers.table1() for v in (r.dice, r.iou)) and len(cells) == 10
    models = table["Model"].tolist()
    for r in papers.table1():  # right below the model it is set beside
        below = models[models.index(profile_runs.title_of(r.beside)) + 1]
        assert f"\u201c{r.row}\u201d" in below and below.startswith("reported:")
    nasnet = reported.iloc[0]
    assert (nasnet["Dice raw"], nasnet["Dice post"], nasnet["IoU raw"], nasnet["IoU post"]) == ("0.91", "0.92", "0.86", "0.87")
    deeplab = models[models.index(profile_runs.title_of("deeplabv3plus")) + 1]
    assert "1412.7062" in deeplab and "stands in" in deeplab  # DeepLab v1 of the paper, a stand-in here


def test_html_table_bolds_the_best_measured_value_and_sets_reported_rows_apart(tmp_path, fake_run):
    fake_run(tmp_path, "cpu", "unet", [0.90, 0.95, 0.97])
    fake_run(tmp_path, "cpu", "segnet", [0.80, 0.85, 0.87])
    html = tables.html_table(results.results_table("cpu", tmp_path)).data
    unet = re.search(r"<tr><th>U-Net</th>(.*?)</tr>", html).group(1)
    segnet = re.search(r"<tr><th>SegNet</th>(.*?)</tr>", html).group(1)
    assert re.search(r'<td class="num"[^>]*><strong>0.940</strong><br><span class="ci">', unet) and "<strong>" not in segnet
    assert html.count('<tr class="reported">') == 4 and "_reported" not in html
    assert tables.REPORTED_LEGEND in html  # the legend line says what the grey rows are
    assert '<th class="num">Dice raw</th>' in html and '<th>Run</th>' in html  # numbers right-aligned
    assert "<td>cpu/unet<br>seeds 0, 3 images</td>" in unet  # a paper's long citation below it: a text column
    seeds = tables.html_table(pd.DataFrame({"Model": ["A", "B"], "Seeds": ["0 1 2", "0"],
                                            "Note": ["one seed", "x" * (tables.SHORT_TEXT + 1)]})).data
    assert '<td class="short">0 1 2</td>' in seeds and "<td>one seed</td>" in seeds  # short words on one line


def test_html_list_escapes_and_bolds_labels():
    html = tables.html_list({"U-Net": "a < b", "SegNet": "fine"}).data
    assert html == "<ul><li><strong>U-Net</strong>: a &lt; b.</li><li><strong>SegNet</strong>: fine.</li></ul>"


def test_best_profile_prefers_paper_then_cpu_never_smoke(tmp_path, fake_run):
    assert profile_runs.best_profile(tmp_path) == "cpu"  # nothing at all: cpu, shown as missing
    fake_run(tmp_path, "smoke", "unet", [0.5, 0.6])
    assert profile_runs.resolve_profile("auto", tmp_path) == "cpu"
    fake_run(tmp_path, "paper", "unet", [0.9, 0.95])
    assert profile_runs.resolve_profile("auto", tmp_path) == "paper"
    assert profile_runs.resolve_profile("smoke", tmp_path) == "smoke"
    with pytest.raises(ValueError, match="unknown profile"):
        profile_runs.resolve_profile("gpu", tmp_path)


def test_paired_and_gain_tables(tmp_path, fake_run):
    fake_run(tmp_path, "cpu", "nasnet_decoder", [0.90, 0.92, 0.94, 0.96])
    fake_run(tmp_path, "cpu", "unet", [0.80, 0.82, 0.84, 0.86])
    paired = results.paired_table("cpu", tmp_path).set_index("Model")
    diff, verdict = results.paired_columns()["diff"], results.paired_columns()["verdict"]
    assert diff == "NASNet-Large-Decoder Net minus model\n[95% CI]"  # one sign everywhere: the paper's model minus the other
    assert len(paired) == len(MODELS) - 1
    assert paired.loc["U-Net", diff].startswith("+0.1000 [") and paired.loc["U-Net", "n"] == "4"
    assert paired.loc["SegNet", diff].startswith("missing")
    assert paired.loc["U-Net", "Sign per seed"] == "0: +"
    assert paired.loc["U-Net", verdict] == "better (one seed: not tested across seeds)"  # the paper's model is
    fake_run(tmp_path, "cpu", "nasnet_decoder", [0.90, 0.92, 0.94, 0.96], seed=1)
    fake_run(tmp_path, "cpu", "unet", [0.95, 0.97, 0.99, 0.99], seed=1)  # better than the reference in seed 1
    paired = results.paired_table("cpu", tmp_path).set_index("Model")
    assert paired.loc["U-Net", "Sign per seed"] == "0: +, 1: -" and paired.loc["U-Net", verdict] == "not separable"
    gain = results.postprocessing_gain(runfolder.read_per_image(tmp_path / "cpu" / "unet" / "seed0"))
    assert gain["gain"] == pytest.approx(0.01) and gain["n_removed"] == 1 and gain["n_changed"] == 4
    assert results.gain_table("cpu", tmp_path).set_index("Model").loc["SegNet", "Mean Dice gain [95% CI]"] == "missing"


def test_paired_comparison_needs_shared_test_images(tmp_path, fake_run):
    fake_run(tmp_path, "cpu", "nasnet_decoder", [0.90, 0.92])
    path = fake_run(tmp_path, "cpu", "unet", [0.80, 0.82])
    table = runfolder.read_per_image(path)
    table["name"] = ["OTHER_0", "IMG_1"]  # one image in common
    files.write_csv(path / runfolder.PER_IMAGE, table)
    assert results.paired_table("cpu", tmp_path).set_index("Model").loc["U-Net", results.paired_columns()["diff"]] == \
        "1 shared test images: too few to compare"
    assert claims.comparison_claim("cpu", tmp_path)["Verdict"] == claims.NOT_MEASURED


def test_seeds_are_averaged_per_image_and_spread_is_reported(tmp_path, fake_run):
    fake_run(tmp_path, "cpu", "unet", [0.90, 0.92, 0.94], seed=0)
    fake_run(tmp_path, "cpu", "unet", [0.80, 0.84, 0.88], seed=2)
    files.write_json(tmp_path / "cpu/unet/seed1" / runfolder.CONFIG, {"config": {}})  # started, not evaluated
    assert list(profile_runs.seed_dirs("cpu", "unet", tmp_path)) == [0, 2]
    mean = profile_runs.mean_per_image("cpu", "unet", tmp_path)
    assert mean["dice_post"].tolist() == pytest.approx([0.85, 0.88, 0.91]) and (mean["n_seeds"] == 2).all()
    spread = profile_runs.seed_spread("cpu", "unet", tmp_path)
    assert (spread["mean"], spread["min"], spread["max"]) == pytest.approx((0.88, 0.84, 0.92))
    assert spread["sd"] == pytest.approx(np.std([0.92, 0.84], ddof=1))
    row = results.results_table("cpu", tmp_path).set_index("Model").loc["U-Net"]
    assert row["Run"] == "cpu/unet\nseeds 0 2, 3 images" and row["Dice post"].startswith("0.880 [")
    seeds = results.seed_table("cpu", tmp_path).set_index("Model")
    assert seeds.loc["U-Net", "Dice SD (range)"] == f"{spread['sd']:.4f} (0.840-0.920)"
    assert seeds.loc["U-Net", "Dice post, mean"] == "0.8800" and seeds.loc["SegNet", "Seeds"] == "none"
    values = {f.key: v for f, v in results.score_facts("cpu", tmp_path).items()}
    assert values["fact__unet__dice_post_n_seeds"] == 2
    gain = {f.key: (f, v) for f, v in results.gain_facts("cpu", "unet", tmp_path).items()}
    fact, n = gain["fact__unet__pp_gain_dice_n"]
    assert n == 3 and fact.words == "mean of 2 seeds"


def test_data_root_rules(tmp_path, monkeypatch, fake_run):
    synth = tmp_path / "synthetic_64"
    (synth / "images").mkdir(parents=True)
    fake_run(tmp_path / "runs", "smoke", "unet", [0.5, 0.6], data_root=synth, data="synthetic")
    monkeypatch.setenv("LUNGSEG_DATA", str(tmp_path / "elsewhere"))
    assert images.data_root("smoke", tmp_path / "runs") == synth  # synthetic runs: their data
    other = tmp_path / "other"
    (other / "images").mkdir(parents=True)
    assert images.data_root("smoke", tmp_path / "runs", str(other)) == other  # explicit wins
    monkeypatch.setenv("LUNGSEG_DATA", str(other))
    assert images.data_root("cpu", tmp_path / "runs") == other


def test_seed_plan_adds_seeds_for_the_reference_and_the_best_by_validation(tmp_path, fake_run):
    plan, rule = profile_runs.seed_plan("cpu", tmp_path)
    models = profile_runs.registry_models()
    assert plan[:len(models)] == [(0, m) for m in models]
    assert plan[len(models):] == [(1, "nasnet_decoder"), (2, "nasnet_decoder")]  # the two best not known yet
    assert "not known until every seed-0 run is evaluated" in rule
    val = {m: 0.90 + 0.01 * i for i, m in enumerate(models)}  # the last two models are best on validation
    val["nasnet_decoder"] = 0.99
    for m in models:
        files.write_json(fake_run(tmp_path, "cpu", m, [0.9, 0.8]) / runfolder.TRAINING, {"best_val_dice": val[m]})
    plan, rule = profile_runs.seed_plan("cpu", tmp_path)
    best = models[-2:][::-1]
    assert plan[len(models):] == [(s, m) for s in (1, 2) for m in ["nasnet_decoder", *best]]
    assert rule.startswith("seed 0 for every model; seeds 1 and 2 for the ")
    assert "the 2 best by validation Dice of seed 0" in rule
    assert profile_runs.seed_plan("smoke", tmp_path)[1].startswith("seed")


def test_cost_sentence_totals_training_time_per_cpu(tmp_path, fake_run):
    from lungseg_lib.report import training

    assert training.cost_sentence("cpu", tmp_path) == "No run of this profile has finished training yet."
    for model, seconds, cpu, load in (("unet", 3600, "CPU A", 2.1), ("segnet", 1800, "CPU B", 3.4)):
        path = fake_run(tmp_path, "cpu", model, [0.9, 0.8])
        files.write_json(path / runfolder.TRAINING, {"train_seconds": seconds, "mean_load_1min": load})
        config = files.read_json(path / runfolder.CONFIG)
        config["environment"].update(cpu_model=cpu, cpu_isa="avx2")
        files.write_json(path / runfolder.CONFIG, config)
    text = training.cost_sentence("cpu", tmp_path)
    assert text.startswith("The 2 finished runs took 1.5 h of training in total (")
    assert "1.0 h on CPU A (avx2)" in text and "0.5 h on CPU B (avx2)" in text and "2.1 to 3.4" in text
    assert list(training.training_table("cpu", tmp_path)["CPU"]) == ["CPU B (avx2)", "CPU A (avx2)"]


def test_the_training_flag_catches_a_frozen_schedule_and_a_lagging_run():
    """The check that would have caught the NASNet-Large decoder's frozen training: a learning
    rate below 1% of its start before half the epochs, or a last training Dice more than 0.02
    below the study's median; a healthy run has no flag."""
    import pandas as pd

    from lungseg_lib.report.training import run_flag

    epochs = range(1, 13)
    frozen = pd.DataFrame({"epoch": epochs, "learning_rate": [1e-4 * 0.5 ** (e / 0.6) for e in epochs],
                           "dice": [0.81, 0.89] + [0.90] * 10})
    healthy = pd.DataFrame({"epoch": epochs, "learning_rate": [1e-4] * 12, "dice": [0.8 + 0.012 * e for e in epochs]})
    late_decay = healthy.assign(learning_rate=[1e-4] * 8 + [1e-7] * 4)
    assert "learning rate below 1% of its start from epoch 5 of 12" in run_flag(frozen, 12, 0.94)
    assert "last training Dice 0.900, more than 0.02 below the study's median 0.940" in run_flag(frozen, 12, 0.94)
    assert run_flag(healthy, 12, 0.94) == ""
    assert run_flag(late_decay, 12, 0.94) == ""  # after half its epochs: a schedule, not a freeze
    assert "below the study's median" in run_flag(healthy, 12, 0.97)
