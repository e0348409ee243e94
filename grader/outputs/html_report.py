"""report.html: one self-contained page (inline CSS and SVG, no script, no server) for the instructor.

Summary, score histogram, per-check pass rates, alike Dockerfiles, and each learner's feedback.
Every text that comes from a submission (folder names, messages, logs) is escaped.
"""

from __future__ import annotations

import statistics
import time
from html import escape
from pathlib import Path
from typing import Iterable

from grader.i18n import current_language, t
from grader.model import ExerciseSpec, Status
from grader.outputs.common import Cohort, clean, exercise_title, points, result_text, state_label, status_label, title
from grader.rows import STATE_LABELS, Grading, Pair

FILENAME = "report.html"

BINS = 10
STATUS_CLASS = {Status.PASSED: "pass", Status.FAILED: "fail", Status.BLOCKED: "skip"}

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2430;background:#f5f6f8}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 10px}
.muted{color:#5d6675;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}
.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:10px 14px;min-width:110px}
.card b{display:block;font-size:22px}
section,.panel{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:14px 16px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eceff3;vertical-align:top}
th{font-size:13px;color:#5d6675;font-weight:600}
td.num,th.num{text-align:right;white-space:nowrap}
.bar{background:#e7eaef;border-radius:4px;height:12px;min-width:120px;position:relative}
.bar span{display:block;height:12px;border-radius:4px;background:#2f9e5a}
.tag{display:inline-block;font-size:12px;font-weight:700;padding:1px 6px;border-radius:4px;color:#fff}
.pass{background:#2f9e5a}.fail{background:#cc3d3d}.skip{background:#c28a12}.ng{background:#6b7280}
details{background:#fff;border:1px solid #dde1e7;border-radius:8px;margin:8px 0}
details>summary{cursor:pointer;padding:9px 14px;font-weight:600}
details>div{padding:0 14px 12px}
pre{white-space:pre-wrap;word-break:break-word;background:#f3f4f6;padding:8px;border-radius:6px;font-size:12.5px;margin:4px 0}
.feedback{white-space:pre-wrap;word-break:break-word}
"""


def _e(text: object) -> str:
    return escape(clean(str(text)), quote=True)


def _anchor(learner: str) -> str:
    return "learner-" + "".join(c if c.isalnum() or c in "-_" else f"_{ord(c):x}" for c in learner)


def histogram_svg(percents: list[float], width: int = 560, height: int = 220) -> str:
    """An inline SVG bar chart of scores in 10-point bins (100 % falls in the last)."""
    counts = [0] * BINS
    for percent in percents:
        counts[min(int(percent // (100 / BINS)), BINS - 1)] += 1
    top = max(counts) or 1
    left, bottom, right, upper = 36, 34, 8, 14
    plot_w, plot_h = width - left - right, height - bottom - upper
    bar_w = plot_w / BINS
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{_e(t("html.histogram_label"))}">'
    ]
    parts.append(f'<line x1="{left}" y1="{upper + plot_h}" x2="{width - right}" y2="{upper + plot_h}" stroke="#8a93a3"/>')
    for tick in range(0, top + 1, max(1, top // 4)):
        y = upper + plot_h - plot_h * tick / top
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#5d6675">{tick}</text>')
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#eceff3"/>')
    for i, count in enumerate(counts):
        h = plot_h * count / top
        x = left + i * bar_w
        parts.append(
            f'<rect x="{x + 3:.1f}" y="{upper + plot_h - h:.1f}" width="{bar_w - 6:.1f}" height="{h:.1f}" fill="#3b7dd8">'
            f'<title>{i * 10}–{i * 10 + 10}%: {count}</title></rect>'
        )
        if count:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{upper + plot_h - h - 3:.1f}" font-size="11" text-anchor="middle" fill="#1d2430">{count}</text>')
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{upper + plot_h + 15}" font-size="11" text-anchor="middle" fill="#5d6675">'
            f'{i * 10}–{i * 10 + 10 if i < BINS - 1 else 100}</text>'
        )
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 3}" font-size="11" text-anchor="middle" fill="#5d6675">{_e(t("html.histogram_axis"))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _summary(exercise: ExerciseSpec, standing: dict[str, Grading]) -> str:
    gradings = list(standing.values())
    final = [g for g in gradings if g.final and g.report is not None]
    scores = [g.score for g in final if g.score is not None]
    maximum = exercise.max_score or 1
    cards = [(t("html.card_learners"), len(gradings))]
    for state in STATE_LABELS:
        cards.append((state_label(state), sum(1 for g in gradings if g.state == state)))
    cards.append((t("html.card_full_marks"), sum(1 for g in final if g.report.full_marks)))
    if scores:
        cards += [
            (t("html.card_mean"), f"{points(round(statistics.mean(scores), 1))}/{points(maximum)}"),
            (t("html.card_median"), f"{points(statistics.median(scores))}/{points(maximum)}"),
        ]
    html = ['<div class="cards">']
    html += [f'<div class="card"><b>{_e(value)}</b><span class="muted">{_e(label)}</span></div>' for label, value in cards]
    html.append("</div>")
    html.append(f'<section><h2 style="margin-top:0">{_e(t("html.scores"))}</h2>')
    html.append(histogram_svg([100 * s / maximum for s in scores]) if scores else f'<p class="muted">{_e(t("html.no_graded"))}</p>')
    html.append("</section>")
    return "\n".join(html)


def _pass_rates(exercise: ExerciseSpec, standing: dict[str, Grading]) -> str:
    final = [g for g in standing.values() if g.final and g.report is not None]
    rows = []
    for check in exercise.checks:
        counts = {status: 0 for status in Status}
        for grading in final:
            for result in grading.report.results:
                if result.spec.id == check.id:
                    counts[result.status] += 1
        seen = sum(counts.values())
        rate = 100 * counts[Status.PASSED] / seen if seen else 0
        rows.append(
            f'<tr><td>{_e(check.title_in(current_language()))}<div class="muted">{_e(check.id)}</div></td><td class="num">{points(check.points)}</td>'
            f'<td class="num">{counts[Status.PASSED]}</td><td class="num">{counts[Status.FAILED]}</td><td class="num">{counts[Status.BLOCKED]}</td>'
            f'<td><div class="bar" title="{rate:.0f}%"><span style="width:{rate:.1f}%"></span></div></td><td class="num">{rate:.0f}%</td></tr>'
        )
    return (
        f'<section><table><thead><tr><th>{_e(t("html.col_check"))}</th><th class="num">{_e(t("html.col_points"))}</th>'
        f'<th class="num">{_e(t("html.col_passed"))}</th><th class="num">{_e(t("html.col_failed"))}</th>'
        f'<th class="num">{_e(t("html.col_skipped"))}</th><th>{_e(t("html.col_pass_rate"))}</th><th class="num"></th></tr></thead><tbody>'
        + "".join(rows) + "</tbody></table></section>"
    )


def _similarity(pairs: list[Pair]) -> str:
    if not pairs:
        return f'<section><p class="muted">{_e(t("html.no_pairs"))}</p></section>'
    rows = [
        f'<tr><td class="num">{rank}</td><td><a href="#{_anchor(p.a)}">{_e(p.a)}</a></td><td><a href="#{_anchor(p.b)}">{_e(p.b)}</a></td>'
        f'<td class="num">{p.score:.2f}</td><td>{_e(t("html.identical") if p.identical else t("html.shared", shared=p.shared, a=p.lines_a, b=p.lines_b))}</td>'
        f'<td><pre>{_e(chr(10).join(p.rare))}</pre></td></tr>'
        for rank, p in enumerate(pairs[:50], start=1)
    ]
    more = f'<p class="muted">{_e(t("html.more_pairs", count=len(pairs) - 50))}</p>' if len(pairs) > 50 else ""
    return (
        f'<section><table><thead><tr><th class="num">#</th><th>{_e(t("html.col_learner"))}</th><th>{_e(t("html.col_learner"))}</th>'
        f'<th class="num">{_e(t("html.col_score"))}</th><th>{_e(t("html.col_lines"))}</th><th>{_e(t("html.col_rare"))}</th></tr></thead><tbody>'
        + "".join(rows) + "</tbody></table>" + more + "</section>"
    )


def _learner(learner: str, grading: Grading) -> str:
    state = state_label(grading.state)
    if grading.final and grading.report is not None:
        headline = f"{points(grading.report.score)}/{points(grading.report.max_score)}"
        tag = "pass" if grading.report.full_marks else "fail"
    else:
        headline, tag = t("html.not_graded"), "ng"
    parts = [
        f'<details id="{_anchor(learner)}"><summary>{_e(learner)} — <span class="tag {tag}">{_e(headline)}</span>'
        f' <span class="muted">{_e(state)}, {grading.duration:.1f} s</span></summary><div>'
    ]
    if grading.message:
        parts.append(f'<p class="feedback"><b>{_e(t("html.note"))}</b> {_e(grading.message)}</p>')
    if grading.report is not None and grading.final:
        rows = []
        for result in grading.report.results:
            label, css = status_label(result.status), STATUS_CLASS[result.status]
            detail = (
                f'<details><summary class="muted">{_e(t("html.details"))}</summary><pre>{_e(result.detail)}</pre></details>'
                if result.detail and result.status is not Status.PASSED else ""
            )
            rows.append(
                f'<tr><td><span class="tag {css}">{label}</span></td><td>{_e(title(result))}</td>'
                f'<td class="num">{points(result.score)}/{points(result.max_score)}</td>'
                f'<td><div class="feedback">{_e(result_text(result))}</div>{detail}</td></tr>'
            )
        parts.append(
            f'<table><thead><tr><th></th><th>{_e(t("html.col_check"))}</th><th class="num">{_e(t("html.col_points"))}</th>'
            f'<th>{_e(t("html.col_feedback"))}</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>"
        )
        facts = ", ".join(f"{k}={v}" for k, v in grading.report.facts.items())
        if facts:
            parts.append(f'<p class="muted">{_e(t("html.measured", facts=facts))}</p>')
    provenance = t("html.graded_on", when=grading.finished_at, engine=grading.engine, version=grading.engine_version or "?",
                   grader=grading.grader_version, hash=grading.content_hash[:16])
    parts.append(f'<p class="muted">{_e(provenance)}</p>')
    parts.append("</div></details>")
    return "".join(parts)


def render(exercise: ExerciseSpec, standing: dict[str, Grading], pairs: Iterable[Pair] = ()) -> str:
    """The whole page."""
    pairs = list(pairs)
    learners = "\n".join(_learner(learner, grading) for learner, grading in sorted(standing.items()))
    generated = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"""<!DOCTYPE html>
<html lang="{current_language()}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(t("html.title", exercise=exercise.id))}</title><style>{CSS}</style></head>
<body><main>
<h1>{_e(exercise.id)} — {_e(exercise_title(exercise))}</h1>
<div class="muted">{_e(t("html.generated", when=generated, learners=len(standing), checks=len(exercise.checks), points=points(exercise.max_score)))}</div>
<h2>{_e(t("html.summary"))}</h2>
{_summary(exercise, standing)}
<h2>{_e(t("html.checks"))}</h2>
{_pass_rates(exercise, standing)}
<h2>{_e(t("html.alike"))}</h2>
{_similarity(pairs)}
<h2>{_e(t("html.learners"))}</h2>
{learners or f'<p class="muted">{_e(t("html.no_submission"))}</p>'}
</main></body></html>
"""


def write(out: Path, cohort: Cohort) -> list[Path]:
    """Write report.html."""
    path = out / FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(cohort.exercise, cohort.standing, cohort.pairs), encoding="utf-8")
    return [path]
