"""`make test` finds the supported Pythons a machine has (devtools/pythons.py), without assuming any."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devtools import pythons


def fake_python(path: Path, prints: str, status: int = 0) -> Path:
    """An executable that answers the version probe like an interpreter (or a broken shim) would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {prints}\nexit {status}\n")
    path.chmod(0o755)
    return path


def test_the_claimed_versions_start_at_requires_python_and_are_all_tested() -> None:
    text = (pythons.ROOT / "pyproject.toml").read_text()
    floor = re.search(r'requires-python = ">=(3\.\d+)"', text)
    assert floor is not None
    claimed = pythons.claimed_versions()
    assert claimed[0] == floor.group(1)  # the oldest version we promise is one make test looks for
    assert claimed == sorted(claimed, key=lambda v: tuple(map(int, v.split("."))))
    assert {"3.10", "3.11", "3.12", "3.13"} <= set(claimed)


def test_classifiers_below_requires_python_are_not_claimed(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nrequires-python = ">=3.11"\nclassifiers = [\n'
        '  "Programming Language :: Python :: 3",\n'
        '  "Programming Language :: Python :: 3.9",\n'
        '  "Programming Language :: Python :: 3.13",\n'
        '  "Programming Language :: Python :: 3.11",\n'
        '  "Programming Language :: Python :: Implementation :: CPython",\n]\n'
    )
    assert pythons.claimed_versions(pyproject) == ["3.11", "3.13"]


def test_pyenv_newest_working_patch_release_is_found_first(tmp_path: Path) -> None:
    root = tmp_path / "pyenv"
    fake_python(root / "versions" / "3.12.1" / "bin" / "python3.12", "3.12")
    newest = fake_python(root / "versions" / "3.12.10" / "bin" / "python3.12", "3.12")
    fake_python(root / "versions" / "3.12.11t" / "bin" / "python3.12", "3.12")  # free-threaded build
    assert pythons.find_interpreter("3.12", pyenv_root=root, path="") == newest


def test_an_interpreter_that_fails_or_is_another_version_is_skipped_for_one_on_path(tmp_path: Path) -> None:
    root = tmp_path / "pyenv"
    fake_python(root / "versions" / "3.13.2" / "bin" / "python3.13", "pyenv: not installed", status=127)
    fake_python(root / "versions" / "3.13.1" / "bin" / "python3.13", "3.11")
    on_path = fake_python(tmp_path / "bin" / "python3.13", "3.13")
    assert pythons.find_interpreter("3.13", pyenv_root=root, path=str(tmp_path / "bin")) == on_path


def test_a_machine_without_the_version_finds_nothing(tmp_path: Path) -> None:
    fake_python(tmp_path / "bin" / "python3.12", "3.12")
    assert (
        pythons.find_interpreter("3.10", pyenv_root=tmp_path / "no-pyenv", path=str(tmp_path / "bin")) is None
    )


def test_the_report_says_what_ran_and_what_was_not_found(capsys: pytest.CaptureFixture[str]) -> None:
    claimed = pythons.claimed_versions()
    others = [v for v in claimed if v != pythons._this_version()]
    assert pythons.main(["report", "--passed", others[0], "--failed", ""]) == 0
    out = capsys.readouterr().out
    assert f"Python {pythons._this_version()}: the whole suite" in out
    assert f"passed on: {others[0]}\n" in out
    assert f"Not found on this machine (not tested): {' '.join(others[1:]) or 'none'}\n" in out
    assert "FAILED" not in out
