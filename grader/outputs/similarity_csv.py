"""similarity.csv: the ranked pairs of alike Dockerfiles."""

from __future__ import annotations

import csv
from pathlib import Path

from grader.i18n import t
from grader.outputs.common import Cohort, cell, csv_title

FILENAME = "similarity.csv"


def write(out: Path, cohort: Cohort) -> list[Path]:
    """One row per pair of alike Dockerfiles, most suspicious first."""
    path = out / FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([
            csv_title(name)
            for name in ("rank", "learner_a", "learner_b", "score", "identical", "shared_lines", "lines_a", "lines_b", "rare_shared_lines")
        ])
        for rank, p in enumerate(cohort.pairs, start=1):
            writer.writerow([
                rank, cell(p.a), cell(p.b), p.score, t("csv.yes") if p.identical else t("csv.no"), p.shared, p.lines_a, p.lines_b,
                cell(" | ".join(p.rare)),
            ])
    return [path]
