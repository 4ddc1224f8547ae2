"""lungseg_lib.report.papers: the papers' reported values as data, and the Dice/IoU consistency check."""

import math

import pytest

from lungseg_lib.report import papers, profile_runs, tables


def test_table1_is_the_papers_whole_table():
    """Five rows, ten values, as printed in Table 1 of arXiv:2303.10315."""
    rows = [(r.row, r.iou, r.dice) for r in papers.table1()]
    assert rows == [("Segnet [19]", 0.82, 0.87), ("U-Net [20]", 0.84, 0.88), ("Deep-Lab [21]", 0.85, 0.89),
                    ("Nastnetlarge-net", 0.86, 0.91), ("Nastnetlarge-net-Post", 0.87, 0.92)]
    for r in papers.table1():  # each quote holds the printed row verbatim
        assert r.quote == f"{r.row} {r.iou:.2f} {r.dice:.2f}"
    assert papers.headline().dice == 0.92 and papers.headline().post
    assert papers.table1_by_model()["nasnet_decoder"] == {"dice": 0.91, "iou": 0.86, "dice_post": 0.92, "iou_post": 0.87}
    assert papers.reported_gain("dice") == 0.01 and papers.reported_gain("iou") == 0.01
    assert set(papers.table1_by_model()) <= set(profile_runs.registry_models())
    assert "1412.7062" in papers.row("zhang2023", "Deep-Lab [21]").note  # DeepLab v1, a stand-in


def test_every_paper_and_row_is_consistent():
    for r in papers.REPORTED:
        assert r.paper in papers.PAPERS and r.split in ("test", "validation")
        for v in (r.dice, r.iou):
            assert v is None or (0 < v < 1 and round(v, r.decimals) == v)
    assert {p.model for p in papers.PAPERS.values()} <= set(profile_runs.registry_models())
    cited = profile_runs.registry().set_index("name")["paper"]
    for p in papers.PAPERS.values():  # the registry's citation names the same paper
        assert cited[p.model].startswith(p.short.split(" (")[0].split(" & ")[0]), (p.model, cited[p.model])


@pytest.mark.parametrize("dice, iou, decimals, mean, pooled", [
    (0.92, 0.87, 2, True, False),    # Zhang's post row: a mean, not pooled pixels
    (0.938, 0.859, 3, False, False),  # Ainala's results: above the largest mean Dice 0.9244
    (0.93, 0.85, 2, False, False),   # Ainala's abstract
    (0.91, 0.83, 2, True, True),     # impossible at the printed values, possible within rounding
    (0.80, 0.85, 2, False, False),   # a mean Dice below the mean IoU
    (0.9388, 0.8850, 4, True, False),
])
def test_consistency_check(dice, iou, decimals, mean, pooled):
    assert papers.mean_possible(dice, iou, decimals) is mean
    assert papers.pooled_possible(dice, iou, decimals) is pooled


def test_rounding_matters():
    """0.91 / 0.83 breaks the bound at the printed values (2 * 0.83 / 1.83 = 0.9071) and meets it
    with IoU at the top of its interval (0.835 -> 0.9101 >= 0.905)."""
    assert not papers.mean_possible(0.91, 0.83, None)
    assert papers.mean_possible(0.91, 0.83, 2)
    assert papers.interval(0.92, 2) == pytest.approx((0.915, 0.925))
    assert papers.dice_of_iou(1.0) == 1.0 and papers.dice_of_iou(0.0) == 0.0


def test_aggregation_verdict():
    assert papers.aggregation_verdict(papers.table1()).startswith("they can only be means over images")
    assert papers.aggregation_verdict(papers.rows("ainala2023")).startswith("they can be neither")
    assert papers.aggregation_verdict(papers.rows("kuppili2023")) == "no Dice/IoU pair to check"


def test_consistency_and_related_tables():
    table = papers.consistency_table([{"Source": "ours", "dice": 0.95, "iou": 0.905},
                                      {"Source": "missing", "dice": math.nan, "iou": math.nan}])
    pairs = [r for r in papers.REPORTED if r.dice is not None and r.iou is not None]
    assert len(table) == len(pairs) + 1 and table["_reported"].sum() == len(pairs)
    verdicts = dict(zip(table["Source"], table["As a mean over images"]))
    assert verdicts["ours"] == "possible"
    assert [v for s, v in verdicts.items() if "Ainala" in s] == ["impossible", "impossible"]
    counts = papers.consistency_counts(table)
    assert counts["n_reported_pairs"] == len(pairs) and counts["n_own_pairs"] == 1
    assert counts["n_mean_impossible"] >= 2 and "Ainala" in counts["mean_impossible_sources"]
    assert counts["n_own_impossible"] == 0
    t1 = papers.table1_counts()
    assert t1["n_table1_rows"] == len(papers.table1()) and t1["zhang_mean_possible"] == t1["n_table1_rows"]
    assert t1["zhang_verdict"] == papers.aggregation_verdict(papers.table1())
    related = papers.related_table()
    assert "Zhang 2023" not in set(related["Paper"]) and set(related["Model here"]) == {
        "resnet50_unet", "resnet101_unet", "unet22", "unet3_compact"}
    assert (related.loc[related["Model here"] == "unet22", "Dice"] == "not reported").all()
    html = tables.html_table(related, "Paper").data  # reported values set apart, cell by cell
    assert '<td class="num reported">0.9388</td>' in html and tables.REPORTED_LEGEND in html
