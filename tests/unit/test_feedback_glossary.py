"""One Korean word per idea (docs/glossary.ko.md) in every Korean text of the kit, and README.ko titles
equal to labs.yaml's `title_ko`."""

from __future__ import annotations

import re

import pytest
import yaml

from unit_helpers import LABS, REPO_ROOT

GLOSSARY = REPO_ROOT / "docs" / "glossary.ko.md"
HANGUL = re.compile(r"[\uac00-\ud7a3]")
CODE = re.compile(r"```.*?```|`[^`\n]*`|\{[a-z_]+\}", re.S)  # code, commands, names and placeholders stay as written
# The variants the glossary's right column rules out, as patterns over running Korean text.
BANNED = {
    "과제": "실습 (or 할 일)", "연습 문제": "실습", "의존성": "종속성", "디렉터리": "디렉토리", "신호": "시그널",
    "라벨": "레이블", "게시": "포트 매핑", "공개": "포트 매핑 (or 누구나 볼 수 있는)", "바인딩": "수신 대기",
    r"(?<!수신 )대기": "수신 대기", "맨 위 단계": "최상위", "빌더 단계": "빌더 스테이지", r"서비스(?=(하|합|할|해|한))": "서빙하다",
    r"(?<![A-Za-z0-9_/.-])client(?![A-Za-z0-9_/.-])": "클라이언트", "기본 이미지": "베이스 이미지",
}


def korean_texts() -> list[tuple[str, str]]:
    """(where, running text) for every Korean text: README.ko files, labs.yaml's *_ko values, the ko catalog."""
    texts = [(str(p.relative_to(REPO_ROOT)), p.read_text(encoding="utf-8")) for p in sorted(REPO_ROOT.glob("exercises/*/README.ko.md"))]

    def walk(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                if str(key).endswith("_ko"):
                    for text in value if isinstance(value, list) else [value]:
                        texts.append((f"{where}.{key}", str(text)))
                else:
                    walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")

    walk(yaml.safe_load(LABS.read_text(encoding="utf-8")), "labs.yaml")
    for path in sorted((REPO_ROOT / "grader" / "locales" / "ko").glob("*.yaml")):
        for key, text in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            texts.append((f"{path.name}:{key}", str(text)))
    return texts


def test_the_glossary_exists_and_every_readme_links_it():
    assert GLOSSARY.is_file()
    for readme in sorted(REPO_ROOT.glob("exercises/*/README*.md")):
        assert "docs/glossary.ko.md" in readme.read_text(encoding="utf-8"), readme


@pytest.mark.parametrize("variant, use", BANNED.items(), ids=list(BANNED))
def test_no_banned_variant_in_korean_running_text(variant, use):
    found = []
    for where, text in korean_texts():
        for line in CODE.sub(" ", text).splitlines():
            if HANGUL.search(line) and re.search(variant, line):
                found.append(f"{where}: {line.strip()[:80]}")
    assert found == [], f"write {use} instead"


def test_every_banned_variant_is_listed_in_the_glossary():
    glossary = GLOSSARY.read_text(encoding="utf-8")
    for variant in (
        "과제", "연습 문제", "의존성", "작업 디렉터리", "신호", "라벨", "게시", "공개", "바인딩", "맨 위 단계", "빌더 단계", "서비스하다", "기본 이미지",
    ):
        assert variant in glossary, variant


def test_readme_ko_titles_are_labs_yaml_title_ko():
    for exercise in yaml.safe_load(LABS.read_text(encoding="utf-8"))["exercises"]:
        first = (REPO_ROOT / exercise["folder"] / "README.ko.md").read_text(encoding="utf-8").splitlines()[0]
        assert first == f"# Exercise {exercise['id'].split('-')[1]} — {exercise['title_ko']}"


def test_the_korean_hint_climbs_and_names_the_level(capsys):
    from grader import cli

    cli.main(["hint", "exercise-01", "--lang", "ko", "--path", str(REPO_ROOT / "exercises" / "exercise-01")])
    out = capsys.readouterr().out
    assert "단계 중 1단계" in out and "Path(" not in out
