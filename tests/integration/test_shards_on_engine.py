"""A class graded as two shards on the real engine and merged: the merged gradebook holds what the gradings earned,
in Korean, with the LMS CSVs from a roster. Two gradings in all."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

from grader.batch import shard_of
from grader.gradebook import Gradebook
from tests.integration.cohort import make_submission
from tests.integration.test_batch import batch_env


def names_in_both_shards() -> tuple[str, str]:
    """Two learner names that fall in shard 1 and shard 2 of 2."""
    first = next(f"ada-{n}" for n in range(100) if shard_of(f"ada-{n}", 2) == 1)
    second = next(f"bo-{n}" for n in range(100) if shard_of(f"bo-{n}", 2) == 2)
    return first, second


def grader(*args, prefix: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=cwd, env=batch_env(prefix),
                          capture_output=True, text=True, timeout=600, check=False)


def test_two_shards_merge_into_one_korean_class(tmp_path, repo, exercise01, no_leftovers):
    full, lossy = names_in_both_shards()
    make_submission(tmp_path / "subs" / full, "solution")
    make_submission(tmp_path / "subs" / lossy, "no-expose")
    outs = []
    for k in (1, 2):
        out = tmp_path / f"shard-{k}"
        done = grader("batch", "exercise-01", tmp_path / "subs", "--out", out, "--shard", f"{k}/2", "-j", "1", "--lang", "ko",
                      prefix=no_leftovers, cwd=repo)
        assert done.returncode == 0, done.stderr[-3000:]
        book = Gradebook.in_folder(out)
        assert set(book.current("exercise-01")) == {(full, lossy)[k - 1]}  # each shard graded only its learner
        book.close()
        outs.append(out)
    roster = tmp_path / "roster.csv"
    roster.write_text(f"Student,ID,SIS Login ID,folder\nAda,1,ada,{full}\nBo,2,bo,{lossy}\nCy,3,cy,cy-never-submitted\n")
    merged = tmp_path / "graded"
    done = grader("merge", *outs, "--out", merged, "--roster", roster, "--lang", "ko", prefix=no_leftovers, cwd=repo)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "샤드 2개를 합침" in done.stdout
    lost = next(c.points for c in exercise01.checks if c.id == "expose-port")
    with (merged / "canvas.csv").open(newline="") as handle:
        grades = {row["Student"]: row["exercise-01 (exercise-01)"] for row in csv.DictReader(handle)}
    assert grades == {"Ada": f"{exercise01.max_score:g}", "Bo": f"{exercise01.max_score - lost:g}", "Cy": ""}
    assert '<html lang="ko">' in (merged / "report.html").read_text()
    classroom = json.loads((merged / "github-classroom" / lossy / "results.json").read_text())
    assert sum(test["score"] for test in classroom["tests"]) == exercise01.max_score - lost
    assert exercise01.checks[0].title_in("ko") in {test["name"] for test in classroom["tests"]}
    # A shard graded again by another grader version is refused, with the reason.
    shutil.rmtree(merged)
    book = Gradebook.in_folder(outs[1])
    rows = book.all()
    book.close()
    for row in rows:
        row.grader_version, row.id = "another", None
    other = tmp_path / "shard-2-other"
    book = Gradebook.in_folder(other)
    book.set_meta({"exercise": "exercise-01", "grader_version": "another", "shard": "2/2"})
    for row in rows:
        book.record(row)
    book.close()
    done = grader("merge", outs[0], other, "--out", merged, prefix=no_leftovers, cwd=repo)
    assert done.returncode == 2 and "different grader versions" in done.stderr
