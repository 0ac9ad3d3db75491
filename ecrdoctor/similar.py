"""Closest names: which repository or tag the user probably meant, and in what way theirs differs."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Iterable, List, Optional

# Characters people swap in repository names and tags: `team-app` vs `team/app` vs `team_app` vs `team.app`.
_SEPARATORS = re.compile(r"[-_/.]+")


@dataclass(frozen=True)
class Match:
    """A candidate close to the name asked for, why it is close, and its edit distance."""

    name: str
    reason: str  # "differs only in case", "differs only in separators", "same last path component",
    #              "one extends the other" (1.4 / 1.4.0), "edit distance 2"
    distance: int

    @property
    def rank(self) -> tuple[int, int, str]:
        order = {"differs only in case": 0, "differs only in separators": 1, "same last path component": 2,
                 "one extends the other": 3}
        return (order.get(self.reason, 4), self.distance, self.name)


def normalize(name: str) -> str:
    """Lower case with every run of `-`, `_`, `/`, `.` made one `-`: the spelling-insensitive form of a name."""
    return _SEPARATORS.sub("-", name.lower())


def edit_distance(a: str, b: str, limit: Optional[int] = None) -> int:
    """Levenshtein distance; with `limit`, any distance above it comes back as limit + 1 (and is cheaper)."""
    if a == b:
        return 0
    if limit is not None and abs(len(a) - len(b)) > limit:
        return limit + 1
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if limit is not None and min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _extends(longer: str, shorter: str) -> bool:
    """`1.4.0` extends `1.4`, `team/app-v2` extends `team/app`: the shorter name, then a separator."""
    return len(longer) > len(shorter) and longer.startswith(shorter) and longer[len(shorter)] in "-_/."


def _max_distance(name: str) -> int:
    """How many edits still count as a typo: 1 for short names, about a third of longer ones, at most 4."""
    return max(1, min(4, len(name) // 3))


def closest(name: str, candidates: Iterable[str], limit: int = 5) -> List[Match]:
    """The candidates closest to `name`, best first; `name` itself is never among them.

    Ranked by kind of difference (case only, separators only, same last path component, one
    name extending the other, then typos) and then by edit distance. Cheap enough for the 10,000
    names ecrdoctor caps its listings at: difflib's quick ratios throw most candidates out before
    the edit distance runs.
    """
    if limit <= 0 or not name:
        return []
    lowered, normal, last = name.lower(), normalize(name), name.rsplit("/", 1)[-1].lower()
    max_d = _max_distance(name)
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(lowered)
    found: dict[str, Match] = {}
    for candidate in candidates:
        if candidate == name or candidate in found:
            continue
        cand_lower = candidate.lower()
        if cand_lower == lowered:
            found[candidate] = Match(candidate, "differs only in case", edit_distance(candidate, name))
            continue
        if normalize(candidate) == normal:
            found[candidate] = Match(candidate, "differs only in separators", edit_distance(cand_lower, lowered))
            continue
        if "/" in name + candidate and cand_lower.rsplit("/", 1)[-1] == last:
            found[candidate] = Match(candidate, "same last path component", edit_distance(cand_lower, lowered))
            continue
        if _extends(cand_lower, lowered) or _extends(lowered, cand_lower):
            found[candidate] = Match(candidate, "one extends the other", edit_distance(cand_lower, lowered))
            continue
        if abs(len(candidate) - len(name)) > max_d:
            continue
        matcher.set_seq1(cand_lower)
        if matcher.real_quick_ratio() < 0.5 or matcher.quick_ratio() < 0.5:
            continue
        distance = edit_distance(cand_lower, lowered, limit=max_d)
        if distance <= max_d:
            found[candidate] = Match(candidate, f"edit distance {distance}", distance)
    return sorted(found.values(), key=lambda m: m.rank)[:limit]
