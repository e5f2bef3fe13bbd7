"""Find the Python versions this package claims to support that this machine has, for `make test`.

The claimed versions are pyproject.toml's ``Programming Language :: Python :: 3.X`` classifiers at or
above ``requires-python``. An interpreter is looked for in pyenv (``$PYENV_ROOT/versions/3.X.*``,
newest patch first) and then on ``PATH`` (``python3.X``), and kept only if it runs and reports that
version: a pyenv shim for a version that is not installed, or a broken symlink, does not count.
Nothing is assumed to exist: a fresh CI machine may have none of them.

    python -m devtools.pythons found          # "3.10 3.12 3.13": the others than this interpreter's
    python -m devtools.pythons path 3.12      # the interpreter for 3.12 (exit 1 if there is none)
    python -m devtools.pythons report --passed "3.10 3.12" --failed "3.13"
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # requires-python allows 3.10, where tomli is a dependency of this package
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
_CLASSIFIER = re.compile(r"^Programming Language :: Python :: (3\.\d+)$")
_MINIMUM = re.compile(r">=\s*(\d+)\.(\d+)")


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def claimed_versions(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The ``3.X`` versions named in the classifiers that ``requires-python`` allows, oldest first."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    minimum = _MINIMUM.search(project.get("requires-python", ""))
    floor = (int(minimum.group(1)), int(minimum.group(2))) if minimum else (0, 0)
    versions = {m.group(1) for c in project.get("classifiers", []) if (m := _CLASSIFIER.match(c))}
    return sorted((v for v in versions if _key(v) >= floor), key=_key)


def _reports(executable: Path, version: str) -> bool:
    """Whether ``executable`` runs and is Python ``version`` (shims and stale links are not)."""
    try:
        done = subprocess.run(
            [str(executable), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == version


def _candidates(version: str, pyenv_root: Path, path: str | None) -> Iterable[Path]:
    patch = re.compile(rf"^{re.escape(version)}\.\d+$")  # 3.12.1, not 3.12.1t or 3.12-dev
    versions = pyenv_root / "versions"
    installed = [d for d in versions.iterdir() if patch.match(d.name)] if versions.is_dir() else []
    for directory in sorted(installed, key=lambda d: _key(d.name), reverse=True):
        yield directory / "bin" / f"python{version}"
    on_path = shutil.which(f"python{version}", path=path)
    if on_path:
        yield Path(on_path)


def find_interpreter(version: str, *, pyenv_root: Path | None = None, path: str | None = None) -> Path | None:
    """The first working interpreter for ``version`` in pyenv, then on ``PATH``; ``None`` if none."""
    if pyenv_root is None:
        pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    for candidate in _candidates(version, pyenv_root, path):
        if _reports(candidate, version):
            return candidate
    return None


def _this_version() -> str:
    return "{}.{}".format(*sys.version_info[:2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.pythons", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("found", help="the claimed versions found here, except this interpreter's")
    path = commands.add_parser("path", help="the interpreter for one version")
    path.add_argument("version")
    report = commands.add_parser("report", help="say which versions were tested and which were not found")
    report.add_argument("--passed", default="")
    report.add_argument("--failed", default="")
    args = parser.parse_args(argv)

    if args.command == "found":
        others = [v for v in claimed_versions() if v != _this_version()]
        print(" ".join(v for v in others if find_interpreter(v)))
        return 0
    if args.command == "path":
        found = find_interpreter(args.version)
        if found is None:
            print(f"no working python{args.version} in pyenv or on PATH", file=sys.stderr)
            return 1
        print(found)
        return 0

    passed, failed = args.passed.split(), args.failed.split()
    claimed = claimed_versions()
    missing = [v for v in claimed if v not in {_this_version(), *passed, *failed}]
    print(f"Python {_this_version()}: the whole suite ran in .venv")
    print(f"Unit suite + one real-provider login passed on: {' '.join(passed) or 'none'}")
    if failed:
        print(f"... and FAILED on: {' '.join(failed)}")
    print(f"Not found on this machine (not tested): {' '.join(missing) or 'none'}")
    print(f"Claimed in pyproject.toml: {' '.join(claimed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
