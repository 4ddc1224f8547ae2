"""One source per number: the identity of every per-model score the book shows.

A per-model score (a test-split Dice or IoU, its CI or seed spread, the post-processing gain, a
failure correlation, a robustness drop, a difference to the paper's model) is a :class:`Fact`:
the profile whose runs made it (the headline reading's profile for a model with recipe
readings), the model, the metric, and the seeds it comes from ("seed 0" or "mean of 3 seeds").

- :func:`lungseg_lib.report.profile_runs.model_fact` makes the fact of a model's runs (this module
  imports nothing of the package, so every report module can use it).
- A notebook glues it under the one key :func:`key` builds (``fact__<model>__<metric>``) with
  :func:`glue_facts`, which glues its identity beside it (``<key>__id``); the book's glue
  extension (``book/_ext/lungseg_glue.py``) wraps every pasted fact in
  ``<span class="fact" data-fact="IDENTITY">``.
- A table marks its cells with :data:`FACTS` (a hidden column: ``{column: identity}`` per row)
  and :func:`lungseg_lib.report.tables.html_table` writes ``data-fact`` on those cells.
- A sentence marks a number inside it with :func:`mark`; ``html_table`` and the glue
  extension turn the mark into the same span, :func:`plain` removes it.

``tests/test_facts.py`` collects every ``data-fact`` of the built book and fails when one
identity shows two values (rounding allowed), and fails when a notebook glues a per-model score
under a key :func:`key` did not build (:func:`is_score_key`).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

PREFIX, ID_SUFFIX, SEP = "fact__", "__id", "|"
FACTS = "_facts"  # the hidden table column of cell identities (html_table writes them as data-fact)
_OPEN, _MID, _CLOSE = "\u27e6", "\u27e7", "\u27e6/\u27e7"  # ⟦identity⟧text⟦/⟧
MARKED = re.compile(re.escape(_OPEN) + r"([^\u27e7]+)" + re.escape(_MID) + r"(.*?)" + re.escape(_CLOSE), re.S)


@dataclass(frozen=True)
class Fact:
    """One per-model score: ``profile`` (of the runs), ``model``, ``metric`` (e.g. ``dice_post``,
    ``dice_post_ci_low``, ``pp_gain_dice``, ``rho_brightness_deviation``), ``seeds``, and
    ``score``: the per-image score a statistic is computed from (``dice_post`` for a correlation;
    part of the identity, not of the key, so the prose's key stays when a notebook's metric
    parameter changes)."""

    profile: str
    model: str
    metric: str
    seeds: tuple[int, ...]
    score: str = ""

    @property
    def key(self) -> str:
        return key(self.model, self.metric)

    @property
    def identity(self) -> str:
        """``profile|model|metric|seeds 0 1 2``: what ``data-fact`` holds."""
        metric = f"{self.metric} of {self.score}" if self.score else self.metric
        return SEP.join([self.profile, self.model, metric, "seeds " + " ".join(map(str, self.seeds))])

    @property
    def words(self) -> str:
        """The seeds in words: ``seed 0`` or ``mean of 3 seeds``."""
        return seeds_words(self.seeds)


def key(model: str, metric: str) -> str:
    """The one glue key of ``metric`` of ``model``: ``fact__<model>__<metric>``."""
    if not re.fullmatch(r"[a-z0-9_]+", model + metric) or "__" in model + metric:
        raise ValueError(f"not a fact name: {model!r}, {metric!r} (lower-case words joined by single _)")
    return f"{PREFIX}{model}__{metric}"


def seeds_words(seeds) -> str:
    """``seed 0``, ``mean of 3 seeds`` (``no seed`` for none)."""
    seeds = list(seeds)
    if not seeds:
        return "no seed"
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"mean of {len(seeds)} seeds"


def glue_facts(glue, values: dict[Fact, float]) -> None:
    """Glue each value under its fact's key, and its identity under ``<key>__id`` (read by the
    book's glue extension); ``glue`` is myst_nb's."""
    for fact, value in values.items():
        glue(fact.key, float(value), display=False)
        glue(fact.key + ID_SUFFIX, fact.identity, display=False)


def glue_words(glue, words: dict[str, str]) -> None:
    """Glue ``fact__<model>__seeds`` for each model of ``words`` (``{model: "mean of 3 seeds"}``,
    :func:`lungseg_lib.report.profile_runs.seeds_words`): which seeds its scores average."""
    for model, text in words.items():
        glue(key(model, "seeds"), text, display=False)


def mark(text: str, fact: Fact | str) -> str:
    """``text`` (a number as shown) marked as ``fact`` inside a sentence or a table cell."""
    identity = fact.identity if isinstance(fact, Fact) else fact
    return f"{_OPEN}{identity}{_MID}{text}{_CLOSE}"


def plain(text: str) -> str:
    """``text`` with its marks removed."""
    return MARKED.sub(lambda m: m.group(2), text)


def split(text: str) -> list[tuple[str, str | None]]:
    """``text`` as ``(piece, identity or None)`` pieces, marks resolved."""
    out, last = [], 0
    for m in MARKED.finditer(text):
        if m.start() > last:
            out.append((text[last:m.start()], None))
        out.append((m.group(2), m.group(1)))
        last = m.end()
    if last < len(text):
        out.append((text[last:], None))
    return out


def title(identity: str) -> str:
    """The hover text of a marked number: ``mean of 3 seeds (0 1 2), profile cpu``."""
    profile, _, _, seeds = identity.split(SEP)
    numbers = seeds.split()[1:]
    return f"{seeds_words(numbers)} ({' '.join(numbers)}), runs of the {profile} profile"


def span(text_html: str, identity: str) -> str:
    """HTML of a marked number (``text_html`` already escaped)."""
    return (f'<span class="fact" data-fact="{html.escape(identity)}" title="{html.escape(title(identity))}">'
            f"{text_html}</span>")


def html_of(text: str) -> str:
    """``text`` escaped as HTML, its marks as :func:`span` elements."""
    return "".join(span(html.escape(piece), identity) if identity else html.escape(piece)
                   for piece, identity in split(text))


# ---------------------------------------------------------------- which glue keys are scores

#: tokens of a glue key that make it a per-model test score (a key made by :func:`key` is one)
SCORE_TOKENS = {"dice", "iou", "rho", "p", "extreme", "gain", "drop", "recall", "precision", "wilcoxon", "changed",
                "removed"}
#: tokens of a key that is no measured score: a paper's reported value, a rule's threshold, a label
NOT_SCORES = {"reported", "effect", "metric", "label", "model", "run", "case", "title", "threshold", "table", "fig"}


def is_score_key(name: str) -> bool:
    """Whether a glue key looks like a per-model score: a token of :data:`SCORE_TOKENS`
    (``dice``, ``rho``, ``gain``...) and none of :data:`NOT_SCORES` (a model's speed or size is
    not a score). Keys made by :func:`key` are canonical, never flagged."""
    if name.startswith(PREFIX):
        return False
    tokens = set(name.split("_"))
    return bool(tokens & SCORE_TOKENS) and not tokens & NOT_SCORES
