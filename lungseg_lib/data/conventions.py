"""The two ways lung masks are drawn, and which data set draws which.

``visible``: the visible lung fields; the left lung's border follows the heart and the base
stops at the diaphragm's dome (Shenzhen + Montgomery, JSRT/SCR). ``whole``: the whole lung,
including what lies behind the heart and lung made opaque by disease (V7 Labs' COVID-19 masks,
``covid_pneumonia_512``). On the same film the two differ by far more than two annotators of
one convention do, so a model, a score and a figure always say which one they follow; a model
trained on both keeps one output channel per convention (config ``data_sets``).
"""

from __future__ import annotations

CONVENTIONS = ("whole", "visible")  # the channel order of a model trained on both
DEFAULT_CONVENTION = "whole"  # what segment() and lungseg predict return unless told otherwise
#: the convention of each data set this project knows, by the data folder's name
DATA_CONVENTIONS = {"shenzhen_montgomery_512": "visible", "covid_pneumonia_512": "whole"}
DESCRIPTIONS = {
    "visible": "the visible lung fields (the left lung stops at the heart's border)",
    "whole": "the whole lung, behind the heart and where disease has made it opaque",
}


def convention_of(data_name: str) -> str | None:
    """The convention of the data set in a folder named ``data_name`` (None when unknown)."""
    return DATA_CONVENTIONS.get(data_name)


def check_convention(value: str, where: str = "lung") -> str:
    """``value`` when it is a convention; ValueError naming the valid ones otherwise."""
    if value not in CONVENTIONS:
        raise ValueError(f"{where} {value!r}; valid: {', '.join(CONVENTIONS)}")
    return value
