"""Pairs of submissions whose Dockerfiles are suspiciously alike, ranked for an instructor to look at.

Dockerfiles are normalised (comments, blank lines and whitespace dropped, continuations joined,
instruction keywords upper-cased, JSON arrays re-spelled, the starter's own lines removed). A short
exercise makes most correct answers identical, so likeness alone proves nothing: every line (and
every pair of consecutive lines, which keeps order) is weighted by how rare it is in the cohort
(inverse document frequency). A pair is listed when its weighted overlap reaches the threshold and
the two share at least one line that at most half the cohort wrote.
"""

from __future__ import annotations

import json
import math
import re
from itertools import combinations

from grader.rows import Pair

DEFAULT_THRESHOLD = 0.8
_KEYWORD = re.compile(r"^([A-Za-z]+)(\s+|$)")


def normalise(text: str) -> list[str]:
    """Instruction lines of a Dockerfile without comments, blank lines or layout differences."""
    joined = re.sub(r"\\[ \t]*\r?\n", " ", text)
    lines = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = re.sub(r"\s+", " ", line)
        match = _KEYWORD.match(line)
        if match:
            keyword, rest = match.group(1).upper(), line[match.end():]
            if rest.startswith("["):
                try:
                    rest = json.dumps(json.loads(rest))
                except ValueError:
                    pass
            line = f"{keyword} {rest}".strip()
        lines.append(line)
    return lines


def _shingles(lines: list[str]) -> set[str]:
    return set(lines) | {f"{a}\n{b}" for a, b in zip(lines, lines[1:])}


def similar_pairs(dockerfiles: dict[str, str], template: str = "", threshold: float = DEFAULT_THRESHOLD) -> list[Pair]:
    """Pairs at or above THRESHOLD, most suspicious first; DOCKERFILES maps learner -> Dockerfile text."""
    template_lines = set(normalise(template))
    lines = {who: [line for line in normalise(text) if line not in template_lines] for who, text in dockerfiles.items()}
    shingles = {who: _shingles(own) for who, own in lines.items()}
    count = len(shingles)
    frequency: dict[str, int] = {}
    for own in shingles.values():
        for shingle in own:
            frequency[shingle] = frequency.get(shingle, 0) + 1
    # +1 smoothing: a line everyone wrote still weighs a little, so identical files score 1.0.
    weight = {s: math.log((count + 1) / n) for s, n in frequency.items()}
    rare_limit = max(2, count // 2)
    pairs = []
    for a, b in combinations(sorted(shingles), 2):
        sa, sb = shingles[a], shingles[b]
        union = sum(weight[s] for s in sa | sb)
        if not union:
            continue
        common = sa & sb
        score = sum(weight[s] for s in common) / union
        rare = sorted((s for s in common if "\n" not in s and frequency[s] <= rare_limit), key=lambda s: (frequency[s], s))
        if score >= threshold and rare:
            pairs.append(Pair(
                a, b, round(score, 3), len(set(lines[a]) & set(lines[b])), len(lines[a]), len(lines[b]),
                tuple(rare[:5]), lines[a] == lines[b],
            ))
    pairs.sort(key=lambda p: (-p.score, -sum(weight[s] for s in p.rare), p.a, p.b))
    return pairs
