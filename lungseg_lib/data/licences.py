"""Which images a published figure may show, and the credit line it must carry.

The COVID-19 and other pneumonia films (:mod:`lungseg_lib.data.download_covid`) come under a
licence per image (the manifest's ``license``). Training and evaluating on them is research
use; a figure in the book is an adapted copy (resized, outlined, overlaid) that is shared
publicly, so it may show an image only under a licence that allows adapted copies.
"""

from __future__ import annotations

import re

from ..errors import DataError

#: "CC BY", "CC-BY", "CC BY-NC-SA 4.0", "CC BY-SA 3.0 Unported", ...: the modifiers and version
_CC_RE = re.compile(r"^CC[ -]BY((?:-(?:NC|SA|ND))*)(?: (\d+(?:\.\d+)?))?(?: (?:INTERNATIONAL|UNPORTED|GENERIC))?$")
ADAPTABLE = (set(), {"SA"}, {"NC"}, {"NC", "SA"})  # CC BY, BY-SA, BY-NC, BY-NC-SA: adaptations allowed


def may_show(license: str) -> bool:  # noqa: A002 (the manifest's column name)
    """True only when ``license`` allows sharing adapted copies: Creative Commons Attribution,
    alone or with ShareAlike and/or NonCommercial (CC BY, CC BY-SA, CC BY-NC, CC BY-NC-SA, any
    version; spelling and case as written in practice).

    False for NoDerivatives (ND: no adapted copies may be shared), for a blank licence (not
    stated: all rights reserved by default), for "listed as authorized for everyone" (the
    collection's note that the image may be viewed and used; it grants no right to share
    altered copies and names no terms or attribution, so it is not a licence that allows
    adaptations) and for anything else not recognised here (add it deliberately)."""
    return _modifiers(license) in ADAPTABLE


def _modifiers(license: str) -> set[str] | None:  # noqa: A002
    """The modifiers (NC, SA, ND) of a Creative Commons Attribution licence, or None."""
    text = " ".join(str(license or "").replace("\u00a0", " ").split()).upper()
    match = _CC_RE.match(text)
    return {m for m in match.group(1).split("-") if m} if match else None


def figure_credit(row) -> str:
    """The caption credit of one manifest row (a mapping or a named tuple with ``file``,
    ``license`` and ``url``): its source URL and licence, and the adaptation. A DataError when
    its licence does not allow a figure (:func:`may_show`) or it has no source URL."""
    get = row.get if hasattr(row, "get") else (lambda key, default="": getattr(row, key, default))
    file, license, url = (str(get(k, "") or "").strip() for k in ("file", "license", "url"))
    if not may_show(license):
        raise DataError(f"{file}: licence {license or '(not stated)'!r} does not allow an adapted copy "
                        "in a published figure")
    if not url:
        raise DataError(f"{file}: no source URL to credit (column url)")
    share = f"; the adapted figure is shared under {license}" if "SA" in _modifiers(license) else ""
    return (f"{file}: {url}, {license} (COVID-19 image data collection, Cohen et al.; lung mask "
            f"V7 Labs, CC BY 4.0; resized and outlined){share}")
