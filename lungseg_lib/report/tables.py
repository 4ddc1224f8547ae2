"""Tables as the book shows them: HTML for gluing (numbers right-aligned, CIs on a second line,
the best measured value in bold, reported values set apart), pipe tables, and number formats."""

from __future__ import annotations

import html
import re

import pandas as pd

from . import facts as _facts

_CI = r"\[[-+]?\d+\.\d+, [-+]?\d+\.\d+\]"


_NUMERIC = re.compile(rf"[-+]?(\d[\d,]*\.?\d*(e[-+]?\d+)?|nan)( ?%| M| s| ms)?( {_CI})?|{_CI}")


_LEADING = re.compile(r"[-+]?\d+(\.\d+)?")


REPORTED = "_reported"  # a table column marking rows of reported (quoted) values; html_table styles them


REPORTED_LEGEND = ("<em>Italic on a grey ground</em>: values reported by a paper, quoted as printed "
                   "(on the paper's own data); not measured here.")


METRICS = {"dice": "Dice", "iou": "IoU"}


def _cell(text: str) -> str:
    """One cell's HTML: escaped, a ``mean [low, high]`` CI on a second, smaller line, a newline
    as a line break, numbers marked with :func:`facts.mark` as fact spans."""
    pieces = []
    for piece, identity in _facts.split(text):
        out = html.escape(piece).replace("\n", "<br>")
        out = re.sub(rf"([-+]?\d+\.\d+) ({_CI})", r'\1<br><span class="ci">\2</span>', out)
        out = re.sub(rf"^({_CI})$", r'<span class="ci">\1</span>', out)
        pieces.append(_facts.span(out, identity) if identity else out)
    return "".join(pieces)


def _best_rows(table: pd.DataFrame, column: str, how: str, measured: pd.Series) -> set:
    """Row positions holding the best leading number of ``column`` among measured rows."""
    values = {}
    for i, (text, keep) in enumerate(zip(table[column].astype(str), measured)):
        m = _LEADING.match(text)
        if keep and m:
            values[i] = float(m.group(0))
    if not values:
        return set()
    best = max(values.values()) if how == "max" else min(values.values())
    return {i for i, v in values.items() if v == best}


#: a text column whose cells are all this short is kept on one line instead of given a text width
SHORT_TEXT = 24


def html_table(table: pd.DataFrame, index: str = "Model"):
    """``table`` as HTML for gluing (IPython HTML, class ``lungseg``), its ``index`` column as
    row headers, inside ``<div class="lungseg-scroll">``: a table wider than the text column
    scrolls sideways there with its first column held in place (``book/_static/lungseg.css``).

    Numbers are right-aligned (class ``num``); a column of short words (at most
    :data:`SHORT_TEXT` characters a cell) stays on one line (class ``short``); a
    ``mean [low, high]`` cell puts its CI on a second, smaller line (class ``ci``).
    ``table.attrs["best"]``, ``{column: "max" | "min"}``, sets the best leading number of each
    such column in bold (measured rows only). Rows whose
    ``_reported`` column (:data:`REPORTED`) is true hold a paper's reported values: class
    ``reported`` (italic on a muted ground), with a legend line under the table; so do the cells
    of the columns named in ``table.attrs["reported_columns"]``. The ``_facts`` column
    (:data:`lungseg_lib.report.facts.FACTS`), ``{column: identity}`` per row, marks those cells
    with ``data-fact``; numbers marked inside a cell's text (:func:`facts.mark`) become fact spans."""
    from IPython.display import HTML

    best = dict(table.attrs.get("best", {}))
    reported_columns = set(table.attrs.get("reported_columns", ()))
    reported = (table[REPORTED].fillna(False).astype(bool) if REPORTED in table
                else pd.Series(False, index=table.index)).reset_index(drop=True)
    cell_facts = (table[_facts.FACTS].reset_index(drop=True) if _facts.FACTS in table
                  else pd.Series([{}] * len(table)))
    table = table.drop(columns=[REPORTED, _facts.FACTS], errors="ignore").reset_index(drop=True)
    columns = [c for c in table.columns if c != index]
    marked = table.astype(object).where(table.notna(), "").astype(str)
    text = marked.map(_facts.plain)
    head = "".join(f"<th{_num_class(text[c])}>{html.escape(str(c)).replace(chr(10), '<br>')}</th>" for c in columns)
    lines = ['<div class="lungseg-scroll"><table class="lungseg">', f"<thead><tr><th></th>{head}</tr></thead>",
             "<tbody>"]
    classes = _column_classes(text, columns, reported_columns)
    bold = {c: _best_rows(text, c, how, ~reported) for c, how in best.items() if c in columns}
    for i in range(len(text)):
        found = cell_facts[i] if isinstance(cell_facts[i], dict) else {}
        cells = [_td(marked.at[i, c], classes[c], i in bold.get(c, ()), found.get(c)) for c in columns]
        cls = ' class="reported"' if reported[i] else ""
        lines.append(f'<tr{cls}><th>{_cell(marked.at[i, index])}</th>{"".join(cells)}</tr>')
    lines.append("</tbody></table></div>")
    if reported.any() or reported_columns & set(columns):
        lines.append(f'<p class="lungseg-legend">{REPORTED_LEGEND}</p>')
    return HTML("\n".join(lines))


def _is_numeric(values: pd.Series) -> bool:
    neutral = ("", "missing", "not reported")  # words that do not make a column of numbers text
    return any(_NUMERIC.fullmatch(v) for v in values) and all(_NUMERIC.fullmatch(v) or v in neutral for v in values)


def _num_class(values: pd.Series) -> str:
    return ' class="num"' if _is_numeric(values) else ""


def _column_classes(text: pd.DataFrame, columns: list, reported_columns: set) -> dict[str, list[str]]:
    """Each column's cell classes: ``num`` (numbers), ``short`` (short words), ``reported``."""
    out = {}
    for c in columns:
        numeric = _is_numeric(text[c])
        short = not numeric and all(len(v) <= SHORT_TEXT for v in text[c])
        out[c] = [k for k, on in (("num", numeric), ("short", short), ("reported", c in reported_columns)) if on]
    return out


def _td(value: str, classes: list[str], bold: bool, identity: str | None) -> str:
    """One ``<td>``: its classes, the leading number in bold when ``bold``, ``data-fact`` when
    the cell is a fact."""
    content = _cell(value)
    if bold:  # the mean in bold, its CI as it is
        content = re.sub(r"^([^<]+)", r"<strong>\1</strong>", content, count=1)
    attrs = f' class="{" ".join(classes)}"' if classes else ""
    if identity:
        attrs += (f' data-fact="{html.escape(identity)}" title="{html.escape(_facts.title(identity))}"')
    return f"<td{attrs}>{content}</td>"


def html_list(items: dict[str, str]):
    """``{label: text}`` as an HTML bullet list for gluing, each label in bold, each text a
    sentence (the book's glued lists: a Markdown object would show as its repr)."""
    from IPython.display import HTML

    return HTML("<ul>" + "".join(f"<li><strong>{html.escape(k)}</strong>: {html.escape(v)}.</li>"
                                 for k, v in items.items()) + "</ul>")


def metric_label(metric: str) -> str:
    """``dice_post`` -> ``Dice (post-processed)``, ``iou`` -> ``IoU (raw)``."""
    base, _, post = metric.partition("_")
    return f"{METRICS.get(base, base)} ({'post-processed' if post else 'raw'})"


def fmt_ci(stat: dict | None, digits: int = 3) -> str:
    """``mean [ci_low, ci_high]`` of a :func:`lungseg_lib.core.stats.summarize` dict."""
    if not isinstance(stat, dict):
        return "missing"
    return f"{stat['mean']:.{digits}f} [{stat['ci_low']:.{digits}f}, {stat['ci_high']:.{digits}f}]"


def fmt_spread(spread: dict, digits: int = 4) -> str:
    """``sd (min-max)`` of a :func:`seed_spread` over several seeds; ``one seed`` or ``missing``."""
    if not spread["n_seeds"]:
        return "missing"
    if spread["n_seeds"] < 2:
        return "one seed"
    return f"{spread['sd']:.{digits}f} ({spread['min']:.3f}-{spread['max']:.3f})"


def markdown_table(table: pd.DataFrame) -> str:
    """A pipe table (MyST/GFM) of ``table``'s values as text (fact marks removed)."""
    table = table.drop(columns=[REPORTED, _facts.FACTS], errors="ignore")
    cells = table.astype(str).map(lambda v: _facts.plain(v).replace("|", "\\|"))
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False)]
    return "\n".join(lines)


def dict_table(values: dict, key: str, value: str) -> pd.DataFrame:
    """A two-column table of a dict."""
    return pd.DataFrame({key: list(values), value: [str(v) for v in values.values()]})
