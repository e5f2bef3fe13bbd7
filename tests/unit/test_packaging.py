"""The wheel carries the panel's ES module, and an installed package finds it there."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_ships_the_widget_module_and_an_installed_package_uses_it(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("oauth_login-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    shipped = {"oauth_login/_static/widget.js", "oauth_login/_static/widget.css", "oauth_login/py.typed"}
    assert shipped <= names
    assert not [n for n in names if "node_modules" in n or n.endswith(".test.js")]
    code = "import oauth_login._panel as p; print(p.LoginButton._esm.__class__.__name__, p._STATIC)"
    shown = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "site")},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert str(tmp_path / "site" / "oauth_login" / "_static") in shown
