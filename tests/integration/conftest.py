"""Fixtures for end-to-end tests: a clean discovery cache and a browser that plays the user."""

from __future__ import annotations

import webbrowser
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from devtools.browser import complete_login


@pytest.fixture(autouse=True)
def _fresh_discovery() -> Iterator[None]:
    """No test sees another's cached discovery (the module API is emptied by tests/conftest.py)."""
    from oauth_login import _discovery

    _discovery.clear_cache()
    yield
    _discovery.clear_cache()


class BrowserUser:
    """Stands in for ``webbrowser.open``: hands every link the package opens to headless Chromium."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.job: Callable[..., Any] = complete_login
        self.kwargs: dict[str, Any] = {}
        self.futures: list[Future[Any]] = []
        self.links: list[str] = []

    def open(self, url: str, *args: object, **kwargs: object) -> bool:
        self.links.append(url)
        self.futures.append(self.browser.submit(self.job, url, **self.kwargs))
        return True

    def result(self, index: int = -1) -> Any:
        return self.futures[index].result(timeout=60)


@pytest.fixture
def user(browser: Any, monkeypatch: pytest.MonkeyPatch) -> BrowserUser:
    """The person at the browser: ``webbrowser.open`` drives headless Chromium through the flow."""
    player = BrowserUser(browser)
    monkeypatch.setattr(webbrowser, "open", player.open)
    monkeypatch.setenv("BROWSER", "headless-chromium-in-tests")  # "a browser exists", on a screenless CI box
    return player
