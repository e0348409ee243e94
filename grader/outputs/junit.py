"""JUnit XML: one testsuite per learner, one testcase per check (GitLab, Jenkins and GitHub test reporters read it)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from grader.model import ExerciseSpec, Status
from grader.outputs.common import Cohort, clean, result_text, title
from grader.rows import Grading

FILENAME = "junit.xml"


def document(exercise: ExerciseSpec, standing: dict[str, Grading]) -> ET.Element:
    """<testsuites> for every learner; a not-gradable learner is one <error>, a blocked check <skipped>."""
    root = ET.Element("testsuites", name=exercise.id)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
    for learner, grading in sorted(standing.items()):
        suite = ET.SubElement(root, "testsuite", name=clean(learner))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        classname = f"{exercise.id}.{clean(learner)}"
        if not grading.final or grading.report is None:
            case = ET.SubElement(suite, "testcase", name="grading", classname=classname, time="0")
            ET.SubElement(case, "error", message=clean(grading.message)[:500], type="not_gradable").text = clean(grading.message)
            counts["tests"], counts["errors"] = 1, 1
        else:
            for result in grading.report.results:
                case = ET.SubElement(suite, "testcase", name=clean(title(result)), classname=classname, time=f"{result.duration:.3f}")
                props = ET.SubElement(case, "properties")
                for key, value in (("check_id", result.spec.id), ("points", f"{result.score:g}/{result.max_score:g}")):
                    ET.SubElement(props, "property", name=key, value=value)
                counts["tests"] += 1
                text = clean(result_text(result) + (f"\n\n{result.detail}" if result.detail else ""))
                if result.status is Status.FAILED:
                    ET.SubElement(case, "failure", message=clean(result.message)[:500], type=result.spec.kind).text = text
                    counts["failures"] += 1
                elif result.status is Status.BLOCKED:
                    ET.SubElement(case, "skipped", message=clean(result.message)[:500])
                    counts["skipped"] += 1
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{grading.duration:.3f}")
        totals["time"] += grading.duration
    for key, value in totals.items():
        root.set(key, f"{value:.3f}" if key == "time" else str(value))
    return root


def write(out: Path, cohort: Cohort) -> list[Path]:
    """Write junit.xml."""
    path = out / FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(document(cohort.exercise, cohort.standing))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return [path]
