"""Numbered figures and tables whose content is glued from another notebook.

myst-nb's ``{glue:figure}`` only works inside the notebook that glued the output; prose
pages need ``{glue}`` with ``:doc:``, which gives neither a number nor a caption. These two
directives wrap that cross-document glue in a numbered figure or table:

    ```{glued-figure} key
    :doc: _executed/05_predictions.ipynb
    :name: fig-predictions

    Caption, which may glue numbers with {glue:text}`_executed/05_predictions.ipynb::key:.3f`.
    ```

``{glued-table}`` is the same for a glued pandas table, numbered as a table ("Table 1"),
with its caption above it. ``{numref}`` works for both.

The executed notebooks live in ``book/_executed/`` (git-ignored); their launch (Binder,
Colab) and repository buttons are pointed at the committed copies in ``notebooks/``, and
repeated script tags (sphinx-thebe's configuration) are dropped.
"""

from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import directives
from myst_nb.ext.glue.utils import PendingGlueReferenceError, create_pending_glue_ref
from sphinx.util.docutils import SphinxDirective
from sphinx.writers.html5 import HTML5Translator


class glued_table(nodes.figure):
    """A figure-like container numbered as a table."""


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
        caption = nodes.caption(first.rawsource, "", *first.children)
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


def setup(app):
    app.add_directive("glued-figure", GluedFigure)
    app.add_directive("glued-table", GluedTable)
    app.add_enumerable_node(glued_table, "table", _caption_text,
                            html=(HTML5Translator.visit_figure, HTML5Translator.depart_figure))
    app.connect("html-page-context", _launch_committed, priority=502)  # after the theme's (501)
    app.connect("html-page-context", _unique_scripts, priority=900)  # after every other handler
    return {"parallel_read_safe": True, "parallel_write_safe": True}
