"""One source per number (lungseg_lib.report.facts): every per-model score of the book is glued
under one key per (profile, model, metric, seeds), marked in the HTML with that identity
(``data-fact``), and shown with one value wherever it appears.

- static: no notebook glues a per-model score under a key ``facts.key`` did not build, and no
  chapter pastes one (:func:`facts.is_score_key`);
- the built book (marker ``book``: the smoke build of ``test_book.build_once``, or the book in
  ``$LUNGSEG_BOOK_HTML``, e.g. ``_build/html`` of ``make book``): every marked value of an identity
  agrees across the pages (:func:`conflicts`), and the pages mark their scores at all.
"""

from __future__ import annotations

import ast
import html.parser
import json
import os
import re
from pathlib import Path

import pytest

from lungseg_lib.report import facts, profile_runs, tables

REPO = Path(__file__).resolve().parents[1]
MODELS = profile_runs.registry_models()
#: keys that look like scores and are not per-model test scores, each with its reason
EXEMPT = {
    "usage_dice": "notebook 14: the default model's Dice on the one example image of the usage page "
                  "(one image's score, not a model's)",
    "speed_min_gain_percent": "the speed benchmark's rule for the best batch (a constant)",
    "readings_dice_gap": "notebook 15: the training table's flag threshold (a rule's constant, not a measurement)",
}


# ---------------------------------------------------------------- the library

def test_a_fact_has_one_key_and_says_its_seeds():
    fact = facts.Fact("cpu", "nasnet_decoder", "dice_post", (0, 1, 2))
    assert fact.key == "fact__nasnet_decoder__dice_post" == facts.key("nasnet_decoder", "dice_post")
    assert fact.identity == "cpu|nasnet_decoder|dice_post|seeds 0 1 2" and fact.words == "mean of 3 seeds"
    assert facts.Fact("cpu", "unet", "dice_post", (0,)).words == "seed 0"
    assert facts.Fact("cpu", "unet", "failure_rho_contrast", (0,), "dice").identity == \
        "cpu|unet|failure_rho_contrast of dice|seeds 0"
    with pytest.raises(ValueError):
        facts.key("nasnet-decoder", "dice")


def test_marks_become_spans_and_leave_plain_text():
    fact = facts.Fact("cpu", "unet", "dice_post", (0,))
    text = f"Dice {facts.mark('0.954', fact)} on 141 images"
    assert facts.plain(text) == "Dice 0.954 on 141 images"
    assert facts.split(text) == [("Dice ", None), ("0.954", fact.identity), (" on 141 images", None)]
    assert facts.html_of(text) == ('Dice <span class="fact" data-fact="cpu|unet|dice_post|seeds 0" '
                                   'title="seed 0 (0), runs of the cpu profile">0.954</span> on 141 images')


def test_html_table_marks_fact_cells():
    import pandas as pd

    fact = facts.Fact("cpu", "unet", "dice_post", (0, 1))
    table = pd.DataFrame({"Model": ["U-Net"], "Dice": ["0.950 [0.94, 0.96]"], "Note": [f"x {facts.mark('3', fact)}"],
                          facts.FACTS: [{"Dice": fact.identity}]})
    out = tables.html_table(table).data
    assert f'<td class="num" data-fact="{fact.identity}"' in out and "_facts" not in out
    assert f'<span class="fact" data-fact="{fact.identity}"' in out and "\u27e6" not in out
    assert out.startswith('<div class="lungseg-scroll"><table class="lungseg">')
    assert "\u27e6" not in tables.markdown_table(table) and "_facts" not in tables.markdown_table(table)


def test_score_keys_are_recognised():
    for name in ("nasnet_decoder_dice_post_mean", "pp_gain", "rho_brightness_deviation", "extreme_p",
                 "unet_iou_raw_ci_low", "rob_unet_jpeg_3_drop", "pp_n_changed"):
        assert facts.is_score_key(name), name
    for name in ("fact__nasnet_decoder__dice_post", "reported_dice", "claims_min_effect", "pp_reported_gain_dice",
                 "gain_table", "fail_metric", "pred_run", "arch_params_m", "ci_percent", "speed_cpu_unet_infer_ms"):
        assert not facts.is_score_key(name), name


# ---------------------------------------------------------------- static: notebooks and chapters

def _glue_keys(path: Path) -> list[tuple[int, str]]:
    """The literal (or f-string) keys a notebook glues: (line, key with {} for each field)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "glue" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((node.lineno, arg.value))
            elif isinstance(arg, ast.JoinedStr):
                found.append((node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in arg.values)))
    return found


def non_canonical_keys(paths) -> list[str]:
    """Per-model score keys glued by name (not through :func:`facts.glue_facts`), as
    ``file:line key`` (an f-string's fields as ``{}``)."""
    bad = []
    for path in paths:
        for line, name in _glue_keys(path):
            if name not in EXEMPT and facts.is_score_key(name.replace("{}", "x")):
                bad.append(f"{path.name}:{line} {name}")
    return bad


def test_no_notebook_glues_a_score_under_another_key():
    notebooks = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py"))
    assert len(notebooks) >= 15
    bad = non_canonical_keys(notebooks)
    assert not bad, ("per-model scores glued by name (glue them with facts.glue_facts, one key per "
                     "profile, model, metric and seeds): " + "; ".join(bad))


def test_the_static_check_finds_a_score_glued_by_name(tmp_path):
    notebook = tmp_path / "99_x.py"
    notebook.write_text('glue("nasnet_decoder_dice_post_mean", 0.9)\nglue(f"rho_{feature}", 0.1)\n'
                        'glue("fact__unet__dice_post", 0.9)\nglue("reported_dice", 0.92)\n', encoding="utf-8")
    assert non_canonical_keys([notebook]) == ["99_x.py:1 nasnet_decoder_dice_post_mean", "99_x.py:2 rho_{}"]


_PASTED = re.compile(r"\{glue:text\}`[^`]*?::([\w]+)")


def test_no_chapter_pastes_a_score_by_another_key():
    bad = [f"{path.name}: {key}" for path in sorted((REPO / "book").glob("*.md"))
           for key in _PASTED.findall(path.read_text(encoding="utf-8"))
           if key not in EXEMPT and facts.is_score_key(key)]
    assert not bad, "chapters paste per-model scores by non-canonical keys: " + "; ".join(bad)


# ---------------------------------------------------------------- the built book

class _Facts(html.parser.HTMLParser):
    """Every element with ``data-fact`` of one page: (identity, its text)."""

    VOID = {"br", "img", "hr", "meta", "link", "input", "wbr", "col", "source"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, str | None, list[str]]] = []
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.open.append((tag, dict(attrs).get("data-fact"), []))

    def handle_data(self, data):
        for _, identity, text in self.open:
            if identity:
                text.append(data)

    def handle_endtag(self, tag):
        while self.open:
            name, identity, text = self.open.pop()
            if identity:
                self.found.append((identity, "".join(text).strip()))
            if name == tag:
                break


_VALUE = re.compile(r"[-+\u2212]?\d+(?:\.(\d+))?(?:e([-+]?\d+))?")


def shown_value(text: str) -> tuple[float, int] | None:
    """The leading number of a marked text and the place of its last digit (``0.954`` -> -3)."""
    m = _VALUE.search(text.replace(",", ""))
    if not m:
        return None
    return float(m.group(0).replace("\u2212", "-")), -len(m.group(1) or "") + int(m.group(2) or 0)


def collect(html_dir: Path) -> dict[str, list[tuple[str, str]]]:
    """``{identity: [(page, text)]}`` of every marked number of the built book."""
    out: dict[str, list[tuple[str, str]]] = {}
    for page in sorted(html_dir.rglob("*.html")):
        parser = _Facts()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        for identity, text in parser.found:
            out.setdefault(identity, []).append((page.relative_to(html_dir).as_posix(), text))
    return out


def conflicts(found: dict[str, list[tuple[str, str]]]) -> list[str]:
    """Identities shown with two values that no rounding explains: ``a`` and ``b`` agree when
    they differ by at most half a unit of each one's last digit."""
    bad = []
    for identity, shown in found.items():
        values = [(page, text, v) for page, text in shown if (v := shown_value(text))]
        for page, text, (value, place) in values:
            for other_page, other_text, (other, other_place) in values:
                if abs(value - other) > 0.5 * 10.0 ** place + 0.5 * 10.0 ** other_place + 1e-12:
                    bad.append(f"{identity}: {text!r} on {page}, {other_text!r} on {other_page}")
                    break
            else:
                continue
            break
    return bad


def test_conflicts_are_found_rounding_is_not_one():
    same = {"cpu|unet|dice_post|seeds 0": [("a.html", "0.9543"), ("b.html", "0.954 [0.95, 0.96]"), ("c", "+0.95")]}
    assert conflicts(same) == []
    differ = {"cpu|nasnet_decoder|pp_gain_dice_n_changed|seeds 0 1 2": [("results.html", "21"), ("claims.html", "52")],
              "cpu|nasnet_decoder|failure_rho_brightness_deviation of dice_post|seeds 0 1 2":
                  [("failures.html", "-0.284"), ("intro.html", "-0.26")]}
    assert len(conflicts(differ)) == 2
    assert shown_value("6.5e-04") == (6.5e-4, -5) and shown_value("missing") is None


def test_the_collector_reads_marked_cells_and_spans(tmp_path):
    (tmp_path / "a.html").write_text('<p>x <span class="fact" data-fact="I">0.95<br></span></p>'
                                     '<table><tr><td data-fact="J">52 of 141</td><td>9</td></tr></table>')
    assert collect(tmp_path) == {"I": [("a.html", "0.95")], "J": [("a.html", "52 of 141")]}


@pytest.fixture(scope="module")
def built_html(tmp_path_factory) -> Path:
    given = os.environ.get("LUNGSEG_BOOK_HTML")
    if given:
        return Path(given)
    from test_book import build_once

    return build_once(tmp_path_factory) / "_build" / "html"


def glued_score_keys(html_dir: Path) -> list[str]:
    """Every key the executed notebooks of a built book glued (myst-nb's glue caches beside the
    HTML: ``_build/jupyter_execute``) that looks like a per-model score and is not canonical:
    the static check of :func:`non_canonical_keys` for keys made in loops."""
    caches = sorted((html_dir.parent / "jupyter_execute").rglob("*.glue.json"))
    assert caches, f"no glue caches beside {html_dir}"
    return [f"{cache.stem.removesuffix('.glue')}: {key}" for cache in caches
            for key in json.loads(cache.read_text(encoding="utf-8"))
            if key not in EXEMPT and facts.is_score_key(key)]


@pytest.mark.book
def test_the_executed_notebooks_glue_scores_only_under_their_keys(built_html):
    bad = glued_score_keys(built_html)
    assert not bad, f"{len(bad)} per-model scores glued by name: " + "; ".join(bad[:40])


@pytest.mark.book
def test_every_fact_has_one_value_across_the_pages(built_html):
    """The cross-page check: a model's score, for one profile, metric and set of seeds, shows one
    value on every page (rounding allowed); and the pages mark their scores (the results table,
    the intro's and the failure chapter's numbers, the claims)."""
    found = collect(built_html)
    pages = {page for shown in found.values() for page, _ in shown}
    for page in ("book/results.html", "book/intro.html", "book/failures.html", "book/robustness.html"):
        assert page in pages, f"{page} marks no per-model score (data-fact)"
    assert len(found) >= 50, f"only {len(found)} facts marked"
    bad = conflicts(found)
    assert not bad, f"{len(bad)} facts with two values:\n" + "\n".join(bad)


def test_the_issues_duplicates_would_be_caught(tmp_path):
    """Issue 30's example on the committed cpu runs: the results text once gave the
    post-processing count of seed 0 alone (21 of 141) under the words of the model's score,
    while the table gave the mean of the seeds (52 of 141). Glued as the same fact, the pages
    conflict; the chapter now pastes the table's fact."""
    from lungseg_lib.engine import runfolder
    from lungseg_lib.report import results

    if len(profile_runs.seed_dirs("cpu", "nasnet_decoder")) < 2:
        pytest.skip("needs the committed cpu runs of the NASNet-Large decoder with several seeds")
    fact, n_changed = next((f, v) for f, v in results.gain_facts("cpu", "nasnet_decoder").items()
                           if f.metric == "pp_gain_dice_n_changed")
    seed0 = results.postprocessing_gain(runfolder.read_per_image(profile_runs.run_dir("cpu", "nasnet_decoder")))
    assert seed0["n_changed"] != n_changed  # the two numbers of the issue
    shown = facts.mark(f"{seed0['n_changed']:.0f}", fact)
    (tmp_path / "results.html").write_text(facts.html_of(f"changed {shown} of 141"))
    (tmp_path / "claims.html").write_text(tables.html_table(results.gain_table("cpu")).data)
    bad = conflicts(collect(tmp_path))
    assert len(bad) == 1 and bad[0].startswith(fact.identity)
