"""Every number in the book's prose is glued from a notebook, never typed.

:func:`bare_numbers` scans a MyST chapter (``book/*.md``) for numbers written in its prose.
What it does not read:

- glue and other roles (``{glue:text}`...```, ``{numref}`...```): a glued number is computed;
- inline code and fenced code blocks (commands, file names, options: what a reader types);
- the option lines of a directive (``:doc:``, ``:name:``); its caption is prose and is read;
- link targets (``(https://...)``) and HTML comments.

The allow-list, each entry with its reason:

- the markers of numbered lists (``1.`` at the start of a line): structure, not values;
- years (1900-2099): dates of papers and data sets, not measurements;
- arXiv identifiers (``arXiv:2303.10315``): names of papers;
- the papers' own section, figure, table, footnote and reference numbers (``Fig. 5``,
  ``Table 1``, ``Sec. 3.1``, ``footnote 3``, ``[21]``): places in a paper, not values;
- bibliographic volume, issue and pages (``33(2):233-245``, ``191:A4975``): parts of a citation;
- names that hold a number: an institution's (``Shenzhen No.3 People's Hospital``), a licence's
  (``CC BY-NC-SA 4.0``);
- formulas (``$...$``): definitions, not values;
- quotations: text in double quotes is a paper's own words, verbatim (the marked form of a
  quoted value; a value the book sets beside a measurement is glued from
  ``lungseg_lib/report/papers.py`` instead).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "book").glob("*.md"))

_FENCE = re.compile(r"^(```+|~~~+)\s*(\S*)")
_REMOVE = [
    re.compile(r"<!--.*?-->", re.S),                        # HTML comments
    re.compile(r"\{[\w:-]+\}`[^`]*`"),                       # roles: {glue:text}`...`, {numref}`...`
    re.compile(r"``[^`]+``|`[^`]+`"),                        # inline code
    re.compile(r"\]\([^)]*\)"),                              # link targets: [text](url)
    re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S),                # formulas
    re.compile(r'"[^"]*"|\u201c[^\u201d]*\u201d', re.S),     # quotations: a paper's own words
    re.compile(r"\barXiv:\s*\d{4}\.\d{4,5}(v\d+)?", re.I),  # arXiv identifiers
    re.compile(r"\b(Figs?|Fig|Figure|Table|Tables|Secs?|Section|Eq|[Ff]ootnote)\.?\s*\d+(\.\d+)*"
               r"(\s*(-|and|,)\s*\d+(\.\d+)*)*"),
    re.compile(r"\[\d+(,\s*\d+)*\]"),                        # reference numbers: [21]
    re.compile(r"\b\d+(\([^)]*\))?:[A-Z]?\d+(-[A-Z]?\d+)?"),  # volume(issue):pages
    re.compile(r"(?<![\w.])(19|20)\d\d(?![\w]|\.\d)"),       # years
    re.compile(r"^[ \t]*\d+\.(?=\s)", re.M),                  # numbered-list markers
    re.compile(r"\bNo\.\s?\d+"),                             # names: Shenzhen No.3 People's Hospital
    re.compile(r"\bCC BY(-[A-Z]+)* \d+(\.\d+)?"),             # licence names
]
_NUMBER = re.compile(r"(?<![\w])\d+(?:[.,]\d+)*(?![\w])")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines of a chapter that are prose: (line number, text), code blocks and directive
    options left out, directive contents (captions) kept."""
    out, fence, code = [], None, False
    for number, line in enumerate(text.splitlines(), 1):
        match = _FENCE.match(line.strip())
        if match and fence is None:
            fence, code = match.group(1), not match.group(2).startswith("{")
            continue
        if fence is not None and line.strip().startswith(fence[:3]) and line.strip().strip(fence[0]) == "":
            fence, code = None, False
            continue
        if code or (fence is not None and line.lstrip().startswith(":")):
            continue
        out.append((number, line))
    return out


def bare_numbers(text: str) -> list[tuple[int, str, str]]:
    """Numbers typed into the prose of a chapter: (line number, number, the line)."""
    lines = prose_lines(text)
    # paragraphs joined, so a quotation or role broken over two lines is still seen whole
    joined = "\n".join(line for _, line in lines)
    marks = [number for number, _ in lines]
    cleaned = joined
    for pattern in _REMOVE:
        cleaned = pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), cleaned)
    found = []
    for index, line in enumerate(cleaned.split("\n")):
        for match in _NUMBER.finditer(line):
            found.append((marks[index], match.group(0), lines[index][1].strip()))
    return found


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_no_number_is_typed_into_the_prose(chapter):
    found = bare_numbers(chapter.read_text(encoding="utf-8"))
    assert not found, "typed numbers (glue them from a notebook): " + "; ".join(
        f"{chapter.name}:{line} {number!r} in {text!r}" for line, number, text in found)


def test_the_scanner_finds_a_typed_number(tmp_path):
    chapter = tmp_path / "typed.md"
    chapter.write_text(
        "# A chapter\n\nThe model reaches a Dice of {glue:text}`_executed/x.ipynb::dice:.3f` "
        "on 141 test images, trained\nat 128 x 128 pixels.\n\n"
        "```bash\nlungseg train --set epochs=30\n```\n\n"
        "```{glued-table} t\n:doc: _executed/x.ipynb\n:name: tbl-x\n\nA caption with 95% CIs.\n```\n", encoding="utf-8")
    found = bare_numbers(chapter.read_text(encoding="utf-8"))
    assert [(line, number) for line, number, _ in found] == [(3, "141"), (4, "128"), (4, "128"), (14, "95")]


def test_the_allow_list_is_what_the_docstring_says():
    allowed = ('Zhang (2023, arXiv:2303.10315) reports "0.92 dice scores" in its abstract and its '
               "Table 1 and Fig. 5 [21]; IEEE TMI 33(2):233-245, 2014. Am J Respir 191:A4975; "
               "`--size 256`; Shenzhen No.3 People's Hospital; CC BY-NC-SA 4.0; $2m / (1 + m)$.\n1. a list item\n")
    assert bare_numbers(allowed) == []
    assert [n for _, n, _ in bare_numbers("an 8-bit image, 2-D slices, 0.5 mm.\n")] == ["8", "2", "0.5"]


def test_a_number_typed_into_a_real_chapter_is_found():
    """The book's own results chapter, with one typed number added, fails the scan at that line."""
    text = (REPO / "book" / "results.md").read_text(encoding="utf-8").splitlines()
    assert bare_numbers("\n".join(text)) == []
    text.insert(4, "The NASNet-Large decoder reaches a Dice of 0.943 on the test split.")
    assert [(line, number) for line, number, _ in bare_numbers("\n".join(text))] == [(5, "0.943")]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_glued_text_is_not_set_in_bold(chapter):
    """A glued sentence inside ``**...**`` renders wholly in bold: glue it plain."""
    text = chapter.read_text(encoding="utf-8")
    bold = re.findall(r"\*\*[^*\n]*\{glue:text\}[^*]*\*\*", text)
    assert not bold, f"{chapter.name}: glued text in bold: {bold}"
