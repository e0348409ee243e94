"""Alike Dockerfiles: normalisation, the starter's lines, and lines most of the class wrote."""

from __future__ import annotations

from unit_helpers import GOOD_DOCKERFILE
from grader.similarity import normalise, similar_pairs

UNUSUAL = GOOD_DOCKERFILE.replace("EXPOSE 5001", 'ENV APP_HOME=/app \\\n    MODE=prod\nLABEL team="otters"\nEXPOSE 5001')


def test_normalise_drops_comments_layout_and_spelling():
    a = normalise('# my file\nfrom  python:3.11-slim\n\nCMD [ "python",   "app.py" ]\nRUN pip install \\\n    flask\n')
    b = normalise('FROM python:3.11-slim\n# another comment\ncmd ["python","app.py"]\nRUN pip install flask\n')
    assert a == b == ["FROM python:3.11-slim", 'CMD ["python", "app.py"]', "RUN pip install flask"]


def test_a_pair_sharing_unusual_lines_is_listed_and_correct_answers_are_not():
    class_ = {f"ok{n}": GOOD_DOCKERFILE for n in range(6)}
    class_["alice"] = "# mine\n" + UNUSUAL
    class_["bob"] = UNUSUAL.replace("LABEL", "label").replace("MODE=prod", "MODE=prod")
    class_["carol"] = GOOD_DOCKERFILE.replace("EXPOSE 5001", "LABEL team=\"otters\"\nEXPOSE 5001")
    pairs = similar_pairs(class_)
    assert [(p.a, p.b) for p in pairs][0] == ("alice", "bob")
    assert pairs[0].identical and pairs[0].score == 1.0 and any("LABEL" in line for line in pairs[0].rare)
    assert not any(p.a.startswith("ok") and p.b.startswith("ok") for p in pairs)  # everyone's answer proves nothing


def test_template_lines_do_not_count():
    template = "FROM python:3.11-slim\nWORKDIR /app\n"
    class_ = {"a": template + "RUN echo a\n", "b": template + "RUN echo b\n", "c": template + "RUN echo c\n"}
    assert similar_pairs(class_, template=template, threshold=0.1) == []


def test_scores_rank_closer_pairs_first():
    base = GOOD_DOCKERFILE + "LABEL a=1\nLABEL b=2\nLABEL c=3\n"
    class_ = {"x": base, "y": base, "z": base.replace("LABEL c=3", "LABEL c=4"), **{f"ok{n}": GOOD_DOCKERFILE for n in range(5)}}
    pairs = similar_pairs(class_, threshold=0.3)
    assert (pairs[0].a, pairs[0].b, pairs[0].score) == ("x", "y", 1.0)
    assert all(p.score <= 1.0 for p in pairs) and [p.score for p in pairs] == sorted((p.score for p in pairs), reverse=True)
