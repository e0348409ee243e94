"""similarity.csv: the ranked pairs of alike Dockerfiles."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable

from grader.i18n import t
from grader.outputs.csv_gradebook import _cell
from grader.rows import Pair


def write(path: Path, pairs: Iterable[Pair]) -> Path:
    """One row per pair, most suspicious first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([
            t(f"csv.{name}")
            for name in ("rank", "learner_a", "learner_b", "score", "identical", "shared_lines", "lines_a", "lines_b", "rare_shared_lines")
        ])
        for rank, p in enumerate(pairs, start=1):
            writer.writerow([
                rank, _cell(p.a), _cell(p.b), p.score, t("csv.yes") if p.identical else t("csv.no"), p.shared, p.lines_a, p.lines_b,
                _cell(" | ".join(p.rare)),
            ])
    return path
