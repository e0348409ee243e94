"""Messages in two languages: same keys and placeholders everywhere, Korean when asked, the score line never translated."""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from unit_helpers import GOOD_DOCKERFILE, LABS, REPO_ROOT
from grader import cli, i18n
from grader.i18n import LOCALES, catalog, placeholders, set_language
from grader.model import CheckResult, CheckSpec, ExerciseSpec, Report, Status
from grader.outputs.terminal import render_terminal

HANGUL = re.compile(r"[\uac00-\ud7a3]")
LANGUAGE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")


@pytest.fixture(autouse=True)
def _english_then_the_locale(monkeypatch):
    """Start every test in English whatever the machine's locale; leave the choice to the locale after."""
    for name in LANGUAGE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    set_language("en")
    yield
    set_language(None)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key written twice in one mapping (plain PyYAML keeps the last one)."""


def _construct_unique_mapping(loader, node, deep=False):
    keys = [loader.construct_object(key, deep=deep) for key, _ in node.value]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise AssertionError(f"{node.start_mark.name}: keys written twice: {duplicates}")
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _files(language: str) -> list[Path]:
    return sorted((LOCALES / language).glob("*.yaml"))


def _raw(path: Path) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}


# -- the catalogs ----------------------------------------------------------------------------


def test_english_and_korean_catalogs_exist():
    assert {"en", "ko"} <= set(i18n.available_languages())
    assert _files("en") and [p.name for p in _files("en")] == [p.name for p in _files("ko")]


@pytest.mark.parametrize("language", ["en", "ko"])
def test_no_key_is_written_twice_in_a_file_or_across_files(language):
    seen: dict[str, str] = {}
    for path in _files(language):
        for key, text in _raw(path).items():
            assert isinstance(key, str) and isinstance(text, str) and text.strip(), (path.name, key)
            assert key not in seen, f"`{key}` is in both {seen.get(key)} and {path.name}"
            seen[key] = path.name


def test_every_english_key_is_in_korean_and_back():
    english, korean = catalog("en"), catalog("ko")
    assert sorted(set(english) - set(korean)) == [], "keys without a Korean text"
    assert sorted(set(korean) - set(english)) == [], "Korean keys without an English text"


def test_translations_use_the_same_placeholders():
    english, korean = catalog("en"), catalog("ko")
    different = {
        key: (placeholders(english[key]), placeholders(korean[key]))
        for key in english
        if key in korean and placeholders(english[key]) != placeholders(korean[key])
    }
    assert different == {}


def test_keys_sit_in_the_same_file_in_both_languages():
    for english_file in _files("en"):
        assert set(_raw(english_file)) == set(_raw(LOCALES / "ko" / english_file.name)), english_file.name


@pytest.mark.parametrize("language", ["en", "ko"])
def test_every_message_formats(language):
    """Stray braces or a bad format spec would crash at the worst moment: while a learner reads feedback."""
    for key, text in catalog(language).items():
        text.format(**{name: 1 for name in placeholders(text)})


def test_korean_texts_are_korean():
    english = catalog("en")
    untranslated = [k for k, v in catalog("ko").items() if not HANGUL.search(v) and v != english.get(k) and len(v) > 12]
    assert untranslated == []
    # Long English sentences copied unchanged into ko are missed translations.
    copied = [k for k, v in catalog("ko").items() if v == english.get(k) and len(v.split()) > 4]
    assert copied == []


# -- labs.yaml -------------------------------------------------------------------------------


def test_every_check_in_labs_yaml_has_a_korean_title_and_hint():
    document = yaml.safe_load(LABS.read_text(encoding="utf-8"))
    missing = []
    for exercise in document["exercises"]:
        for check in exercise["checks"]:
            where = f"{exercise['id']}/{check['id']}"
            if not str(check.get("title_ko", "")).strip() or not HANGUL.search(str(check.get("title_ko", ""))):
                missing.append(f"{where}: title_ko")
            if check.get("hint") and not str(check.get("hint_ko", "")).strip():
                missing.append(f"{where}: hint_ko")
            if len(check.get("hints_ko") or []) != len(check.get("hints") or []):
                missing.append(f"{where}: hints_ko")
    assert missing == []


def test_spec_reads_the_korean_title_and_hint(exercise):
    check = next(c for c in exercise.checks if c.id == "expose-port")
    assert check.title_in("ko") != check.title and HANGUL.search(check.title_in("ko"))
    assert check.hint_in("ko") == check.ladder_in("ko")[0] and "EXPOSE 5001" in check.ladder_in("ko")[-1]
    assert check.title_in("fr") == check.title  # no such language: English


# -- choosing the language -------------------------------------------------------------------


def _clear_locale(monkeypatch):
    for variable in ("LABKIT_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(variable, raising=False)


def test_the_locale_chooses_korean(monkeypatch):
    set_language(None)
    _clear_locale(monkeypatch)
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    assert i18n.current_language() == "ko"
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert i18n.current_language() == "en"
    monkeypatch.setenv("LANG", "de_DE.UTF-8")  # a language we have no messages in: English
    assert i18n.current_language() == "en"


def test_switching_to_korean_changes_a_real_checks_failure(make_ctx, run_kind):
    shell_form = GOOD_DOCKERFILE.replace('CMD ["python", "flask_api_v2.py"]', "CMD python flask_api_v2.py")
    english = run_kind("exec_form_cmd", make_ctx(shell_form))
    set_language("ko")
    korean = run_kind("exec_form_cmd", make_ctx(shell_form))
    assert not english.passed and not korean.passed
    assert korean.location == english.location == "Dockerfile:6"
    assert "shell form" in english.message and HANGUL.search(korean.message) and "shell form" not in korean.message
    # The learner's own line is quoted as written, in every language; the line to write is not.
    assert "`CMD python flask_api_v2.py`" in korean.message and '["python", "flask_api_v2.py"]' not in korean.message


def test_korean_report_keeps_the_score_line():
    spec = CheckSpec("cmd", "exec_form_cmd", 5, "CMD in exec form", hint="Use JSON.",
                     translations={"ko": {"title": "CMD는 exec 형식", "hint": "JSON으로 쓰세요."}})
    passed = CheckSpec("base", "base_image", 10, "FROM slim")
    exercise = ExerciseSpec("exercise-01", "Your first ML API image", "x", 5001, (passed, spec), titles={"ko": "나의 첫 ML API 이미지"})
    report = Report(exercise, Path("."), [CheckResult(passed, Status.PASSED, "ok"), CheckResult(spec, Status.FAILED, "no", "Dockerfile:6")], 1.0)
    set_language("ko")
    buffer = io.StringIO()
    render_terminal(report, Console(file=buffer, width=120, color_system=None))
    text = buffer.getvalue()
    assert "CMD는 exec 형식" in text and "JSON으로 쓰세요." in text and "실패" in text and "통과" in text
    assert "나의 첫 ML API 이미지" in text  # the exercise's title
    assert "Hints for what failed" not in text
    assert [line for line in text.splitlines() if line.strip()][-1] == "Score: 10/15"


def test_cli_lang_option_and_locale(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    _clear_locale(monkeypatch)
    assert cli.main(["list", "--lang", "ko"]) == 0
    out = capsys.readouterr().out
    assert "나의 첫 ML API 이미지" in out and "아직 채점 안 함" in out
    assert i18n.current_language() == "en"  # main() gives the choice back
    assert cli.main(["exercise-99", "--lang", "ko"]) == 2
    assert capsys.readouterr().err.startswith("오류: 알 수 없는 실습 `exercise-99`")
    set_language(None)
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    assert cli.main(["exercise-99"]) == 2
    assert capsys.readouterr().err.startswith("오류:")
    assert cli.main(["exercise-99", "--lang", "en"]) == 2  # the option beats the locale
    assert capsys.readouterr().err.startswith("error: unknown exercise")


def test_cli_help_is_translated(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help", "--lang", "ko"])
    assert "실습" in capsys.readouterr().out
    with pytest.raises(SystemExit) as caught:
        cli.main(["exercise-01", "--lang", "fr"])
    assert caught.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_check_modules_hold_no_english_sentences():
    """Learner-facing text lives in the catalogs: no Outcome built from a literal sentence."""
    offenders = []
    for path in sorted((REPO_ROOT / "grader" / "checks").glob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if re.search(r"Outcome\.(ok|fail)\(\s*f?[\"']", line):
                offenders.append(f"{path.name}:{number}")
    assert offenders == []


def test_labkit_lang_wins_and_the_c_locale_means_english(monkeypatch):
    set_language(None)
    _clear_locale(monkeypatch)
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    monkeypatch.setenv("LC_ALL", "C")
    assert i18n.current_language() == "en"  # LC_ALL outranks LANG, and C means untranslated
    monkeypatch.setenv("LABKIT_LANG", "ko")
    assert i18n.current_language() == "ko"


# -- every key the code names is in both catalogs, written out whole ------------------------------

GRADER = REPO_ROOT / "grader"
KEY_LIKE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
FILE_NAMES = (".py", ".sh", ".yaml", ".yml", ".json", ".log", ".html", ".txt", ".csv")  # `compose.yaml` is a file, not a key
# Keys carried as data from the place they are written out whole (the literal test sees them there):
# an engine error's Message, a commands-file Problem, a replayed step's refusal.
CARRIERS = {("grader/errors.py", "self.key"), ("grader/commands.py", "self.key"), ("grader/facts/replay.py", "step.refusal")}
# Keys still built with an f-string, in modules this change did not own (the renderers); this list only shrinks.
PENDING: set[tuple[str, str]] = set()


def _modules() -> list[tuple[str, ast.Module]]:
    return [(path.relative_to(REPO_ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"))) for path in sorted(GRADER.rglob("*.py"))]


def _t_calls(tree: ast.Module):
    """(the call, the function it is in or None) of every t(...) in a module."""
    for scope in [tree] + [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]:
        for node in ast.walk(scope):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "t" and node.args:
                inner = [f for f in ast.walk(scope) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f is not scope
                         and any(n is node for n in ast.walk(f))]
                if not inner:  # each call once, with its innermost function
                    yield node, (scope if scope is not tree else None)


def _literal_container(node: ast.AST) -> bool:
    """A dict, tuple or list whose values are strings (or such containers): keys written out whole."""
    if isinstance(node, ast.Dict):
        return all(_literal_container(value) or _is_text(value) for value in node.values)
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_literal_container(item) or _is_text(item) for item in node.elts)
    return False


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _assignments(name: str, scopes: list[ast.AST]) -> list[tuple[ast.AST, ast.AST]]:
    """(target, value) of every assignment to NAME in the innermost scope that has one."""
    for scope in scopes:
        found = []
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    names = [target] if isinstance(target, ast.Name) else getattr(target, "elts", [])
                    if any(isinstance(n, ast.Name) and n.id == name for n in names):
                        found.append((target, node.value))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name and node.value:
                found.append((node.target, node.value))
        if found:
            return found
    return []


def _whole_key(node: ast.AST, scopes: list[ast.AST]) -> bool:
    """True when the key is a literal, a choice of literals, or read from a mapping of literals."""
    if _is_text(node):
        return True
    if isinstance(node, ast.IfExp):
        return _whole_key(node.body, scopes) and _whole_key(node.orelse, scopes)
    if isinstance(node, ast.Subscript):
        return _container(node.value, scopes)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        return _container(node.func.value, scopes) and all(_whole_key(arg, scopes) for arg in node.args[1:])
    if isinstance(node, ast.Name):
        bound = _assignments(node.id, scopes)
        return bool(bound) and all(
            _whole_key(value, scopes) if isinstance(target, ast.Name) else isinstance(value, ast.Subscript) and _container(value.value, scopes)
            for target, value in bound
        )
    return False


def _container(node: ast.AST, scopes: list[ast.AST]) -> bool:
    if _literal_container(node):
        return True
    if isinstance(node, ast.Subscript):
        return _container(node.value, scopes)
    if isinstance(node, ast.Name):
        bound = _assignments(node.id, scopes)
        return bool(bound) and all(_literal_container(value) for _, value in bound)
    return False


def test_no_catalog_key_is_built():
    """Keys are written out whole (grep finds every use of a message): a literal, a choice of literals, or a mapping of them."""
    built, pending_seen = [], set()
    for name, tree in _modules():
        for call, function in _t_calls(tree):
            argument = call.args[0]
            scopes = [function, tree] if function is not None else [tree]
            if _whole_key(argument, scopes) or (name, ast.unparse(argument)) in CARRIERS:
                continue
            if (name, ast.unparse(argument)) in PENDING:
                pending_seen.add((name, ast.unparse(argument)))
                continue
            built.append(f"{name}:{call.lineno}: t({ast.unparse(argument)})")
    assert built == [], "write the whole key, or map the cases to whole keys in a dict"
    assert pending_seen == PENDING, f"fixed, so take them off PENDING: {sorted(PENDING - pending_seen)}"


def test_every_key_the_code_names_is_in_both_catalogs():
    english, korean = catalog("en"), catalog("ko")
    prefixes = {key.split(".")[0] for key in english}
    named = {}
    for name, tree in _modules():
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
            if text and KEY_LIKE.match(text) and text.split(".")[0] in prefixes and not text.endswith(FILE_NAMES):
                named.setdefault(text, f"{name}:{node.lineno}")
    missing = {key: where for key, where in named.items() if key not in english or key not in korean}
    assert missing == {}, "keys the code names that a catalog lacks"
    assert len(named) > 500  # the scan sees the code: t("..."), the mappings, and the keys engine errors carry


def test_the_key_test_catches_a_built_key():
    tree = ast.parse("KEYS = {'a': 'x.a'}\ndef f(kind, flag):\n    t(f'x.{kind}')\n    t(KEYS[kind])\n    t('x.a' if flag else 'x.b')\n"
                     "    key = 'x.c'\n    t(key)\n    t(kind)\n")
    verdicts = [_whole_key(call.args[0], [function, tree] if function else [tree]) for call, function in _t_calls(tree)]
    assert verdicts == [False, True, True, True, False]


def test_a_kinds_messages_sit_in_its_familys_catalog_file():
    """grader/locales/<lang>/<family>.yaml holds the messages of the kinds of grader/checks/<family>.py, and only those."""
    from grader.kinds import registry

    kinds = registry()
    for language in ("en", "ko"):
        for kind in kinds.values():
            path = LOCALES / language / f"{kind.family}.yaml"
            assert path.is_file(), f"{kind.family}: no catalog {path.relative_to(REPO_ROOT)}"
        for family in {kind.family for kind in kinds.values()}:
            for key in _raw(LOCALES / language / f"{family}.yaml"):
                prefix = key.split(".")[0]
                assert prefix in kinds and kinds[prefix].family == family, f"{language}/{family}.yaml: `{key}` belongs elsewhere"
        for path in _files(language):
            misplaced = [key for key in _raw(path) if key.split(".")[0] in kinds and kinds[key.split(".")[0]].family != path.stem]
            assert misplaced == [], f"{language}/{path.name}: messages of another family's kinds"
