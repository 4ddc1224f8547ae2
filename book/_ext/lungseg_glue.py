"""Numbered figures and tables whose content is glued from another notebook.

myst-nb's ``{glue:figure}`` only works inside the notebook that glued the output; prose
pages need ``{glue}`` with ``:doc:``, which gives neither a number nor a caption. These two
directives wrap that cross-document glue in a numbered figure or table:

    ```{glued-figure} key
    :doc: _executed/05_predictions.ipynb
    :name: fig-predictions

    Caption, which may glue numbers with {glue:text}`_executed/05_predictions.ipynb::key:.3f`.
    ```

``{glued-table}`` is the same for a glued table (``lungseg_lib.report.tables.html_table``),
numbered as a table ("Table 3.1"), with its caption above it; it is not a figure: a
``<div class="lungseg-table">`` holding the caption and the table, in the body's colour and
left-aligned (``book/_static/lungseg.css``). ``{numref}`` works for both.

Facts (``lungseg_lib.report.facts``): a ``{glue:text}`` of a key glued with its identity
(``<key>__id``) is wrapped in ``<span class="fact" data-fact="IDENTITY">``, and numbers marked
inside a glued sentence become such spans, so that a test can collect every per-model score of
the built book and compare the pages.

The executed notebooks live in ``book/_executed/`` (git-ignored); their launch (Binder,
Colab) and repository buttons are pointed at the committed copies in ``notebooks/``, and
repeated script tags (sphinx-thebe's configuration) are dropped.
"""

from __future__ import annotations

import ast
import re

from docutils import nodes
from docutils.parsers.rst import directives
from myst_nb.core.variables import format_plain_text
from myst_nb.ext.glue.crossref import read_glue_cache
from myst_nb.ext.glue.utils import PendingGlueReference, PendingGlueReferenceError, create_pending_glue_ref
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective


class glued_table(nodes.General, nodes.Element):
    """A numbered table: its caption above a glued HTML table (not a figure)."""


def visit_glued_table(self, node) -> None:
    self.body.append(self.starttag(node, "div", CLASS="lungseg-table"))


def depart_glued_table(self, node) -> None:
    self.body.append("</div>\n")


class fact(nodes.Inline, nodes.TextElement):
    """A pasted number that is a fact: ``<span class="fact" data-fact="IDENTITY">``."""


def visit_fact(self, node) -> None:
    self.body.append(self.starttag(node, "span", "", CLASS="fact",
                                   **{"data-fact": node["fact"], "title": _fact_title(node["fact"])}))


def depart_fact(self, node) -> None:
    self.body.append("</span>")


# ⟦identity⟧text⟦/⟧: lungseg_lib.report.facts.mark (the book's extension does not import the library)
_MARKED = re.compile("\u27e6([^\u27e7]+)\u27e7(.*?)\u27e6/\u27e7", re.S)
FACT_ID = "__id"  # lungseg_lib.report.facts.ID_SUFFIX


def _fact_title(identity: str) -> str:
    """``mean of 3 seeds (0 1 2), runs of the cpu profile`` (facts.title)."""
    profile, _, _, seeds = identity.split("|")
    numbers = seeds.split()[1:]
    words = f"seed {numbers[0]}" if len(numbers) == 1 else f"mean of {len(numbers)} seeds"
    return f"{words} ({' '.join(numbers)}), runs of the {profile} profile"


def _text_value(output: dict) -> str | None:
    plain = output.get("data", {}).get("text/plain")
    try:
        return ast.literal_eval(plain) if plain is not None else None
    except (SyntaxError, ValueError):
        return plain


def _marked_nodes(text: str) -> list[nodes.Node]:
    out, last = [], 0
    for m in _MARKED.finditer(text):
        if m.start() > last:
            out.append(nodes.Text(text[last:m.start()]))
        out.append(fact(m.group(2), m.group(2), fact=m.group(1)))
        last = m.end()
    if last < len(text):
        out.append(nodes.Text(text[last:]))
    return out


class MarkGluedFacts(SphinxPostTransform):
    """Before myst-nb pastes cross-document glue (priority 5): wrap a pasted fact in a
    :class:`fact` node, and paste a glued sentence with marked numbers as text and fact nodes."""

    default_priority = 4

    def apply(self, **kwargs) -> None:
        folder = self.env.mystnb_config.output_folder
        for node in list(self.document.findall(PendingGlueReference)):
            if node.gtype != "text":
                continue
            data = read_glue_cache(folder, node.refdoc)
            if node.key + FACT_ID in data:
                wrapper = fact("", "", fact=str(_text_value(data[node.key + FACT_ID])))
                node.replace_self(wrapper)
                wrapper.append(node)
            elif node.key in data and "\u27e6" in str(_text_value(data[node.key]) or ""):
                text = format_plain_text(data[node.key]["data"]["text/plain"], node["fmt_spec"])
                node.replace_self(nodes.inline("", "", *_marked_nodes(text), classes=["pasted-text"]))


class GluedFigure(SphinxDirective):
    """A numbered figure holding the output glued under ``key`` in the ``:doc:`` notebook."""

    required_arguments = 1
    has_content = True
    option_spec = {"doc": directives.unchanged_required, "name": directives.unchanged,
                   "figwidth": directives.unchanged, "class": directives.class_option}
    node_class = nodes.figure
    caption_first = False

    def run(self) -> list[nodes.Node]:
        source, line = self.get_source_info()
        try:
            ref = create_pending_glue_ref(self.state.document, source, line, self.options["doc"],
                                          self.arguments[0])
        except (PendingGlueReferenceError, KeyError) as exc:
            raise self.error(f"{self.name}: {exc} (give :doc: the notebook that glued {self.arguments[0]!r})")
        node = self.node_class("", ref, classes=["glued"] + self.options.get("class", []))
        if "figwidth" in self.options:
            node["width"] = self.options["figwidth"]
        self.add_name(node)
        caption = self._caption()
        if caption is not None:
            node.insert(0, caption) if self.caption_first else node.append(caption)
        return [node]

    def _caption(self) -> nodes.caption | None:
        if not self.content:
            return None
        holder = nodes.Element()
        self.state.nested_parse(self.content, self.content_offset, holder)
        first = holder[0]
        if not isinstance(first, nodes.paragraph):
            raise self.error(f"{self.name}: the caption must be a paragraph")
        caption = nodes.caption(first.rawsource, "", *first.children, classes=["caption"])
        caption.source, caption.line = first.source, first.line
        return caption


class GluedTable(GluedFigure):
    """A numbered table (caption above) holding a glued pandas table."""

    node_class = glued_table
    caption_first = True


def _caption_text(node: nodes.Element) -> str:
    return next((child.astext() for child in node.children if isinstance(child, nodes.caption)), "")


EXECUTED, COMMITTED = "book/_executed/", "notebooks/"


def _point_to_committed(item) -> None:
    """Rewrite http(s) URLs of ``book/_executed/X.ipynb`` to ``notebooks/X.ipynb`` in the
    header buttons."""
    if isinstance(item, list):
        for child in item:
            _point_to_committed(child)
    elif isinstance(item, dict):
        for key, value in item.items():
            if isinstance(value, str) and value.startswith("http") and f"{EXECUTED}" in value \
                    and ".ipynb" in value:  # launch and source links, not the issue title
                item[key] = value.replace(EXECUTED, COMMITTED)
            else:
                _point_to_committed(value)


def _launch_committed(app, pagename, templatename, context, doctree) -> None:
    _point_to_committed(context.get("header_buttons", []))


def _unique_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated script entries: sphinx-thebe adds its configuration script once per
    reading phase, and a repeated ``const THEBE_JS_URL`` is a JavaScript error."""
    seen, unique = set(), []
    for script in context.get("script_files", []):
        filename = getattr(script, "filename", script) or ""  # a repeat may say '' for None
        key = (str(filename), repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique


def _number_the_unnumbered(app, env) -> list[str]:
    """Tables and figures of a page outside the numbered chapters (the root page, the
    introduction) are numbered as chapter 0 ("Table 0.1"), so that no table of the book is
    "Table 1" like the paper's; runs after Sphinx assigns the numbers (``env-get-updated``)."""
    for doc, numbers in env.toc_fignumbers.items():
        if env.toc_secnumbers.get(doc):
            continue
        for ids in numbers.values():
            for name, number in ids.items():
                if len(number) == 1:
                    ids[name] = (0, *number)
    return []


def setup(app):
    app.add_directive("glued-figure", GluedFigure)
    app.add_directive("glued-table", GluedTable)
    app.add_enumerable_node(glued_table, "table", _caption_text, html=(visit_glued_table, depart_glued_table))
    app.add_node(fact, html=(visit_fact, depart_fact))
    app.add_post_transform(MarkGluedFacts)
    app.connect("env-get-updated", _number_the_unnumbered, priority=900)  # after the toctree collector (500)
    app.connect("html-page-context", _launch_committed, priority=502)  # after the theme's (501)
    app.connect("html-page-context", _unique_scripts, priority=900)  # after every other handler
    return {"parallel_read_safe": True, "parallel_write_safe": True}
