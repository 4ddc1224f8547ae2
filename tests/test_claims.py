"""The paper's claims checked against hand-made runs (lungseg_lib.report.claims: every verdict
follows the numbers) and the failure analysis (lungseg_lib.report.failures)."""

import numpy as np
import pandas as pd
import pytest

from lungseg_lib import files
from lungseg_lib.engine import runfolder
from lungseg_lib.report import claims, facts, failures, profile_runs, results, verdicts

MODELS = profile_runs.registry_models()


def test_claims_verdicts_follow_the_numbers(tmp_path, fake_run):
    table = claims.claims_table("cpu", tmp_path).set_index("Claim")
    assert (table["Verdict"] == claims.NOT_MEASURED).all()  # no runs: nothing is claimed
    assert "Measured (cpu profile)" in table
    fake_run(tmp_path, "cpu", "nasnet_decoder", [0.93, 0.94, 0.95, 0.96])
    fake_run(tmp_path, "cpu", "unet", [0.80, 0.82, 0.84, 0.86])
    table = claims.claims_table("cpu", tmp_path).set_index("Claim")["Verdict"]
    assert table["Dice of the NASNet-Large-Decoder Net"].startswith("reached on nowhere data at 64 px")  # CI above 0.92
    assert "reproduce" not in " ".join(table)  # reached here is not the paper's result reproduced
    scaled = next(c for c in table.index if c.startswith("Better than every other model (scaled reading"))
    assert table[scaled] == "incomplete: better than 1 of the 1 models evaluated so far"
    others = [c for c in table.index if c.startswith("Better than every other model (") and c != scaled]
    assert len(others) == 3 and all(table[c] == "not measured yet" for c in others)  # one row per reading
    assert facts.plain(table["Post-processing helps"]).startswith("holds on nowhere data at 64 px: Dice +0.0100")  # raw = post - 0.01
    fake_run(tmp_path, "cpu", "segnet", [0.99, 0.99, 0.995, 0.999])
    comparison = claims.comparison_claim("cpu", tmp_path)
    assert comparison["Verdict"] == "does not hold on nowhere data at 64 px: worse than 1 of 2 models"
    measured = facts.plain(comparison["Measured"])
    assert "worse than SegNet (-0.0" in measured and "better than U-Net (+0.1" in measured
    assert "5 model(s) not evaluated" in comparison["Measured"]
    fake_run(tmp_path, "cpu", "nasnet_decoder", [0.5, 0.6, 0.7, 0.8])
    assert claims.accuracy_claim("cpu", tmp_path)["Verdict"].startswith("not reached on nowhere data")
    assert "0.91 to 0.92" in claims.postprocessing_claim("cpu", tmp_path)["Paper"]  # the reported gain
    assert [verdicts.direction(*ci) for ci in ((0.1, 0.2), (-0.2, -0.1), (-0.1, 0.1))] == [
        "better", "worse", "no clear difference"]


def test_verdicts_need_the_same_sign_in_every_seed(tmp_path, fake_run):
    assert verdicts.seed_direction(0.01, 0.02, "+ + +") == "better"
    assert verdicts.seed_direction(0.01, 0.02, "+ - +") == "not separable"
    assert verdicts.seed_direction(-0.02, -0.01, "- -") == "worse"
    assert verdicts.seed_direction(-0.01, 0.02, "+ +") == "not separable"
    reference = [0.90, 0.91, 0.92, 0.93, 0.94]
    for seed, shift in ((0, 0.03), (1, 0.03), (2, -0.01)):  # better on average, not in seed 2
        fake_run(tmp_path, "cpu", "nasnet_decoder", reference, seed=seed)
        fake_run(tmp_path, "cpu", "unet", [v + shift for v in reference], seed=seed)
    c = results.paired_comparisons("cpu", tmp_path).set_index("model").loc["unet"]
    assert c["seeds"] == "0 1 2" and c["seed_signs"] == "+ + -" and c["ci_low"] > 0
    assert "not separable from U-Net" in claims.comparison_claim("cpu", tmp_path)["Measured"]


def test_intervention_verdict_from_the_robustness_grid(tmp_path, fake_run):
    from lungseg_lib.report import perturbation_grid

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
    assert verdict["Verdict"] == f"partly: only darker images lose more than {verdicts.MIN_EFFECT} Dice"
    assert "darker (brightness x0.7): Dice (post-processed) drop +0.05" in facts.plain(verdict["Measured"])
    assert 'drop_brightness_down_3 of dice_post|seeds 0' in verdict["Measured"]  # the drop table's fact
    table = perturbation_grid.drop_table("cpu", tmp_path).set_index("Model (severity)")
    assert table.loc["NASNet-Large-Decoder Net (3)", "brightness down"].startswith("+0.053 [")
    assert table.loc["NASNet-Large-Decoder Net (3)", "gamma up"] == "not scored"
    assert table.loc["U-Net (5)", "jpeg"] == "missing"
    curves = perturbation_grid.curves("cpu", tmp_path)
    assert set(curves["severity"]) == {0, 3, 5} and set(curves["model"]) == {"nasnet_decoder"}
    assert claims.intervention_claim("cpu", tmp_path / "none")["Verdict"] == claims.NOT_MEASURED


def test_comparison_verdict_once_every_model_is_evaluated(tmp_path, fake_run):
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


def test_postprocessing_verdict_calls_tiny_gains_negligible(tmp_path, fake_run):
    path = fake_run(tmp_path, "cpu", "nasnet_decoder", list(np.linspace(0.9, 0.95, 40)))
    table = runfolder.read_per_image(path)
    table["dice"] = table["dice_post"] - np.r_[np.full(5, 0.001), np.zeros(35)]  # 5 images gain 0.001
    files.write_csv(path / runfolder.PER_IMAGE, table)
    verdict = facts.plain(claims.postprocessing_claim("cpu", tmp_path)["Verdict"])
    assert verdict.startswith("negligible: Dice +0.0001") and "5 of 40 images changed" in verdict
    table["dice"] = table["dice_post"] + np.r_[0.02, -0.02, np.zeros(38)]  # ups and downs: CI contains 0
    files.write_csv(path / runfolder.PER_IMAGE, table)
    assert facts.plain(claims.postprocessing_claim("cpu", tmp_path)["Verdict"]).startswith("not shown: the CI contains 0")


def test_claims_failure_verdict(tmp_path, fake_run):
    path = fake_run(tmp_path, "cpu", "nasnet_decoder", list(np.linspace(0.8, 0.99, 30)))
    claim = claims.failures_claim("cpu", tmp_path)
    assert claim["Verdict"].startswith("not supported") and "worst images among the lightest" in claim["Measured"]
    assert "failure_rho_brightness_deviation of dice_post|seeds 0" in claim["Measured"]  # the failure chapter's fact
    table = runfolder.read_per_image(path)
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
