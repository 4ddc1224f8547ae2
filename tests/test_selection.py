"""The default model's selection rule (lungseg_lib.report.selection) on fake candidates."""

from __future__ import annotations

import json

import pandas as pd

from lungseg_lib.report import selection


def fake_candidate(root, profile, model, clean, worst, params=500_000):
    run = root / profile / model / "seed0"
    run.mkdir(parents=True)
    (run / "training.json").write_text(json.dumps({"params": params}))
    for data, (c, w) in zip(("covid_pneumonia_512", "shenzhen_montgomery_512"), zip(clean, worst)):
        folder = run / "evaluations" / f"{data}-val"
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps({"post": {"dice": {"mean": c}}}))
        rows = [{"name": "a", "family": f, "severity": s, "dice_post": (w if f == "jpeg" and s == 3 else c)}
                for f in ("jpeg", "gaussian_noise") for s in (0, 3)]
        pd.DataFrame(rows).to_csv(folder / "robustness.csv", index=False)


def test_the_rule_picks_the_best_clean_dice_among_those_that_hold_and_says_why_others_do_not(tmp_path):
    r = selection.rule("select")
    (a, ma), (b, mb), (c, mc), (d, md) = r["candidates"]
    fake_candidate(tmp_path, a, ma, clean=(0.95, 0.97), worst=(0.92, 0.93))
    fake_candidate(tmp_path, b, mb, clean=(0.96, 0.975), worst=(0.85, 0.93))  # best clean, fragile
    fake_candidate(tmp_path, c, mc, clean=(0.94, 0.96), worst=(0.91, 0.95))
    timing = tmp_path / "timing.json"
    timing.write_text(json.dumps({f"{a}/{ma}": {"median": 80}, f"{b}/{mb}": {"median": 90},
                                  f"{c}/{mc}": {"median": 200}}))
    assert selection.choice_sentence("select", tmp_path, timing).startswith("No choice yet")
    fake_candidate(tmp_path, d, md, clean=(0.93, 0.95), worst=(0.90, 0.91))
    table = selection.candidate_scores("select", tmp_path, timing).set_index("candidate")
    assert table.loc[f"{b}/{mb}", "not qualifying because"].startswith("a family at severity 3 below 0.9")
    assert "over 150 ms" in table.loc[f"{c}/{mc}", "not qualifying because"]
    assert table.loc[f"{d}/{md}", "not qualifying because"] == "not timed yet"
    assert table["chosen"].sum() == 1 and table.loc[f"{a}/{ma}", "chosen"]
    assert "chooses" in selection.choice_sentence("select", tmp_path, timing)


def test_when_no_candidate_qualifies_the_most_robust_is_chosen_and_its_shortfall_said(tmp_path):
    r = selection.rule("select")
    for (p, m), worst in zip(r["candidates"], (0.80, 0.85, 0.70, 0.60)):
        fake_candidate(tmp_path, p, m, clean=(0.95, 0.96), worst=(worst, 0.95))
    table = selection.candidate_scores("select", tmp_path, tmp_path / "none.json")
    chosen = table[table["chosen"]].iloc[0]
    assert chosen["worst"] == 0.85
    assert "no candidate qualifies" in selection.choice_sentence("select", tmp_path, tmp_path / "none.json")
