"""The promotion gate's paired test: two versions counted on the same held-out photos.

A difference of a few photos between two versions is often noise: McNemar's exact test looks only
at the photos where the two disagree on being right (`b`: the serving version right, the candidate
wrong; `c`: the other way round) and asks whether `c` beats `b` by more than a fair coin would.
A candidate is promoted only when it is better on all the held-out photos taken together beyond
that noise, and worse on no evaluation set beyond it; a tie keeps the serving version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

ALPHA = 0.05  # the chance of promoting on noise alone that the gate accepts
REPORT = "evaluation/sets_report.json"  # per set, per photo: [true count, predicted count]


def mcnemar_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test of b against b + c trials at one half."""
    n = b + c
    if n == 0:
        return 1.0
    tail: float = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class Paired:
    photos: int  # photos both versions were counted on
    b: int  # the serving version right, the candidate wrong
    c: int  # the candidate right, the serving version wrong

    @property
    def p(self) -> float:
        return mcnemar_p(self.b, self.c)

    def describe(self) -> str:
        return f"candidate right on {self.c} photo(s) the current got wrong, wrong on {self.b} it got right"


def outcomes(report: dict[str, Any]) -> dict[str, dict[str, bool]]:
    """{set: {photo: counted right}} from a run's sets report (sets without per-photo results left out)."""
    found = {}
    for name, entry in report.items():
        photos = (entry.get("model") or {}).get("photos")
        if photos:
            found[name] = {photo: int(true) == int(predicted) for photo, (true, predicted) in photos.items()}
    return found


def compare(current: dict[str, bool], candidate: dict[str, bool]) -> Paired:
    shared = current.keys() & candidate.keys()
    b = sum(current[p] and not candidate[p] for p in shared)
    c = sum(candidate[p] and not current[p] for p in shared)
    return Paired(len(shared), b, c)


def decide(current: dict[str, dict[str, bool]], candidate: dict[str, dict[str, bool]]) -> tuple[bool, str] | None:
    """(promote?, why) on the photos both versions were counted on; None if they share none."""
    sets = sorted(current.keys() & candidate.keys())
    per_set = {name: compare(current[name], candidate[name]) for name in sets}
    per_set = {name: paired for name, paired in per_set.items() if paired.photos}
    if not per_set:
        return None
    total = Paired(
        sum(p.photos for p in per_set.values()), sum(p.b for p in per_set.values()), sum(p.c for p in per_set.values())
    )
    where = f"McNemar on {total.photos} held-out photos of {', '.join(per_set)}: {total.describe()}, p={total.p:.3g}"
    worse = [name for name, paired in per_set.items() if paired.b > paired.c and paired.p < ALPHA]
    if worse:
        detail = "; ".join(f"{name} {per_set[name].describe()}, p={per_set[name].p:.3g}" for name in worse)
        return False, f"worse beyond noise on {detail}"
    if total.c <= total.b:
        return False, f"not better ({'a tie' if total.c == total.b else 'fewer right'}): {where}"
    if total.p >= ALPHA:
        return False, f"better by less than the noise (p >= {ALPHA}): {where}"
    return True, f"better beyond noise: {where}"
