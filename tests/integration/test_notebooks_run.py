"""The notebooks in notebooks/ are kept without outputs and run top to bottom against the dev provider.

quickstart.ipynb runs in real JupyterLab and Notebook 7 (test_notebook_e2e.py); the other two run
here with nbclient, as nbconvert or papermill would run them: no widget manager, so the panel's text
fallback is what shows, and the device flow's link is read from it.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import oauth_login
from devtools.browser import complete_device

pytestmark = pytest.mark.integration

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def outputs_text(notebook) -> list[str]:
    texts = []
    for cell in notebook.cells:
        parts = []
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(out.get("data", {}).get("text/plain", ""))
        texts.append("".join(parts))
    return texts


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == []
            assert cell.execution_count is None
    assert "widgets" not in notebook.metadata


def test_requests_integration_notebook_runs(idp_env, user, tmp_path):
    oauth_login.login()  # sign in first, as the notebook says; the kernel finds the stored login
    notebook = nbformat.read(NOTEBOOKS / "requests_integration.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    text = "\n".join(outputs_text(notebook))
    assert "signed in as alice@example.com" in text
    assert "200 alice" in text
    assert "['Authorization']" in text
    assert oauth_login.get_token() not in text


def test_device_flow_notebook_runs_with_the_code_confirmed_in_a_browser(idp_env, browser, tmp_path):
    notebook = nbformat.read(NOTEBOOKS / "device_flow.ipynb", as_version=4)
    confirmed = []

    def after_cell(cell, cell_index, execute_reply):
        if "%oauth_login" in cell.source:
            shown = outputs_text(nbformat.from_dict({"cells": [cell]}))[0]
            # What a user without the widget reads: the provider's device page and the code (no live link).
            shown_code = re.search(r"open (https?://\S+) and enter the code (\S+)", shown)
            assert shown_code, shown
            assert "user_code=" not in shown, shown
            page, code = shown_code[1], shown_code[2]
            # The user types the code on that page; the dev provider's page takes it as ?user_code=.
            confirmed.append(browser.submit(complete_device, f"{page}?user_code={code}"))

    client = NotebookClient(
        notebook,
        timeout=60,  # per cell, under the test's 120 s: a cell that hangs is named by nbclient's error
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
        on_cell_executed=after_cell,
    )
    client.execute()
    assert "sign-in complete" in confirmed[0].result(60).lower()
    text = outputs_text(notebook)
    assert "signed in as alice@example.com" in text[-1]
