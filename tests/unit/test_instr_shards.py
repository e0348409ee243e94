"""`batch --shard K/N` and `merge`: stable shards by learner name, one gradebook from many, refusals with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_helpers import grading_of
from unit_helpers import LABS, REPO_ROOT
from grader import cli
from grader.batch import BatchOptions, parse_shard, plan, shard_of
from grader.gradebook import Gradebook
from grader.rows import NOT_GRADABLE
from grader.model import Status
from grader.outputs.registry import write_all

CLASS = [f"learner-{n:02d}" for n in range(20)] + ["김민지", "O'Brien"]


def test_parse_shard():
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/2", "3/2", "2", "a/b", "1/0"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_shards_split_the_class_once_and_by_name_alone(tmp_path, exercise):
    for name in CLASS:
        (tmp_path / "subs" / name).mkdir(parents=True)
    seen: list[str] = []
    for k in (1, 2, 3):
        options = BatchOptions(exercise, LABS, tmp_path / "subs", tmp_path / f"out{k}", shard=(k, 3))
        book = Gradebook.in_folder(options.out)
        submissions, todo, _, _ = plan(options, book)
        book.close()
        assert [s.learner for s in submissions] == [s.learner for s in todo]
        assert all(shard_of(s.learner, 3) == k for s in submissions)
        seen += [s.learner for s in submissions]
    assert sorted(seen) == sorted(CLASS)
    # A learner's shard does not depend on who else is in the class.
    (tmp_path / "subs" / "late-joiner").mkdir()
    options = BatchOptions(exercise, LABS, tmp_path / "subs", tmp_path / "again", shard=(1, 3))
    book = Gradebook.in_folder(options.out)
    again = {s.learner for s in plan(options, book)[0]} - {"late-joiner"}
    book.close()
    assert again == {name for name in CLASS if shard_of(name, 3) == 1}


def make_shard(folder: Path, gradings, k: int, n: int = 2, exercise_id: str = "exercise-01", version: str = "v1") -> Path:
    book = Gradebook.in_folder(folder)
    book.set_meta({"exercise": exercise_id, "grader_version": version, "shard": f"{k}/{n}"})
    for grading in gradings:
        book.record(grading)
    book.close()
    return folder


@pytest.fixture
def shards(tmp_path, exercise):
    one = make_shard(tmp_path / "shard-1", [grading_of(exercise, "alice"), grading_of(exercise, "bob", state=NOT_GRADABLE, message="engine gone"),
                                            grading_of(exercise, "bob", {"expose-port": Status.FAILED})], 1)
    two = make_shard(tmp_path / "shard-2", [grading_of(exercise, "carol", {"predictions": Status.FAILED})], 2)
    return one, two


def test_merge_writes_every_output_as_one_batch_would(tmp_path, exercise, shards, capsys):
    assert cli.main(["merge", str(shards[0]), str(shards[1]), "--out", str(tmp_path / "merged")]) == 0
    book = Gradebook.in_folder(tmp_path / "merged")
    standing = book.current(exercise.id)
    assert len(book.all()) == 4  # history too
    book.close()
    assert sorted(standing) == ["alice", "bob", "carol"] and standing["bob"].final
    single = {}
    for folder in shards:
        shard_book = Gradebook.in_folder(folder)
        single.update(shard_book.current(exercise.id))
        shard_book.close()
    write_all(tmp_path / "one-batch", exercise, dict(sorted(single.items())))
    for name in ("gradebook.csv", "junit.xml", "github-classroom/carol/results.json", "prairielearn/bob/results.json"):
        assert (tmp_path / "merged" / name).read_text() == (tmp_path / "one-batch" / name).read_text(), name
    assert "merged 2 shard(s): 3 learner(s)" in capsys.readouterr().out
    # Merging again rebuilds, never appends.
    assert cli.main(["merge", str(shards[0]), str(shards[1]), "--out", str(tmp_path / "merged")]) == 0
    book = Gradebook.in_folder(tmp_path / "merged")
    assert len(book.all()) == 4
    book.close()


@pytest.mark.parametrize("case, reason", [
    ("exercise", "different exercises"),
    ("version", "different grader versions"),
    ("twice", "learner `alice` was graded in two shards"),
    ("pieces", "different numbers of pieces"),
])
def test_merge_refuses_what_does_not_belong_together(tmp_path, exercise, exercises, shards, case, reason, capsys):
    other = {
        "exercise": lambda: make_shard(tmp_path / "x", [grading_of(next(e for e in exercises if e.id == "exercise-02"), "dave")], 2, exercise_id="exercise-02"),
        "version": lambda: make_shard(tmp_path / "x", [grading_of(exercise, "dave", grader_version="v2")], 2, version="v2"),
        "twice": lambda: make_shard(tmp_path / "x", [grading_of(exercise, "alice")], 2),
        "pieces": lambda: make_shard(tmp_path / "x", [grading_of(exercise, "dave")], 2, n=3),
    }[case]()
    assert cli.main(["merge", str(shards[0]), str(other), "--out", str(tmp_path / "merged")]) == 2
    assert reason in capsys.readouterr().err
    assert not (tmp_path / "merged" / "gradebook.csv").exists()


def test_merge_refuses_a_missing_or_repeated_shard(tmp_path, shards, capsys):
    assert cli.main(["merge", str(shards[0]), "--out", str(tmp_path / "m")]) == 2
    assert "shard(s) 2/2 missing" in capsys.readouterr().err
    assert cli.main(["merge", str(shards[0]), str(shards[0]), str(shards[1]), "--out", str(tmp_path / "m")]) == 2
    assert "given twice" in capsys.readouterr().err


def test_merge_refuses_a_folder_that_is_no_shard(tmp_path, shards, capsys):
    assert cli.main(["merge", str(shards[0]), str(tmp_path / "nothing"), "--out", str(tmp_path / "m")]) == 2
    assert "holds no gradebook.sqlite" in capsys.readouterr().err
    assert cli.main(["merge", str(shards[0]), str(shards[1]), "--out", str(shards[0])]) == 2


def test_instructors_workflow_runs_shards_as_a_matrix_and_merges(exercise):
    import yaml

    workflow = yaml.safe_load((REPO_ROOT / "docs" / "instructors-batch-workflow.yml").read_text())
    shard_job, merge_job = workflow["jobs"]["grade"], workflow["jobs"]["merge"]
    shards = shard_job["strategy"]["matrix"]["shard"]
    count = workflow["env"]["SHARDS"]
    assert sorted(shards) == list(range(1, int(count) + 1)) and shard_job["strategy"]["fail-fast"] is False
    run = "\n".join(step.get("run", "") for step in shard_job["steps"])
    assert '--shard "${{ matrix.shard }}/$SHARDS"' in run
    assert merge_job["needs"] == "grade" and merge_job["if"] == "${{ always() }}"
    assert "python -m grader merge" in "\n".join(step.get("run", "") for step in merge_job["steps"])
