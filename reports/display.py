"""How reports show numbers that a rule compares with a threshold (pure Python, no Django).

A shown number must never claim more than the rule grants: a 0-100 score of 79.96 is at
level 3 when level 4 starts at 80, so it is shown as 79.9, not 80.0 (issue 13, section 7).
The rules in maturity.scoring all reach a threshold when ``value + 1e-9 >= threshold``;
``shown`` truncates ``value + 1e-9`` down to the shown precision, so

* a score shown with one decimal reaches a level's threshold exactly when the level rule
  does, for every threshold on the 0.1 grid (20, 37.5, 80): never below its own level's
  threshold, never at the next one;
* a question's team mean on its 0..S scale, shown with one decimal, reaches an integer
  exactly when the current-choice rule (floor(Q*S + 1e-9)) does;
* a question's spread, shown with two decimals, reads 0.25 exactly when it is contested.

Every displayed score goes through ``shown``: the ``shown`` template filter
(reports.templatetags.report_tags), the chart JSON of the team and organisation pages (and
so the radar SVG of page and PDF). A threshold off the display grid (33.33) cannot be
shown faithfully with one decimal; the shipped frameworks use whole numbers.
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, Decimal

from maturity.scoring import LEVEL_TOLERANCE

SCORE_DECIMALS = 1


def shown(value: float | None, decimals: int = SCORE_DECIMALS) -> float | None:
    """Return ``value`` as displayed: ``value + 1e-9`` truncated down to ``decimals`` places.

    ``shown(79.96) == 79.9``, ``shown(79.99999999999) == 80.0`` (the level rule's tolerance
    counts it as 80), ``shown(0.2496, 2) == 0.24``. The result is the float nearest to the
    shown decimal, so ``f"{shown(x, d):.{d}f}"`` and JSON print exactly the shown digits.
    None, NaN and infinities (no score) give None.

    The sum is truncated through its shortest decimal repr, not its binary value: a
    threshold stored as the float nearest to 0.3 must still read 0.3, and the decimal repr
    orders exactly like the floats it stands for, so the comparisons with thresholds the
    level rule makes in floats hold for the shown decimal too.
    """
    if value is None or not math.isfinite(value):
        return None
    reached = Decimal(repr(float(value) + LEVEL_TOLERANCE))
    return float(reached.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_FLOOR))


def shown_text(value: float | None, decimals: int = SCORE_DECIMALS) -> str:
    """Return ``shown(value, decimals)`` as text with exactly ``decimals`` places; "" for None."""
    number = shown(value, decimals)
    return "" if number is None else f"{number:.{decimals}f}"
