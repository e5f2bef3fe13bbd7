"""Fixtures for end-to-end tests: a clean public-API state and a browser that plays the user."""

from __future__ import annotations

import webbrowser
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from devtools.browser import complete_login


@pytest.fixture(autouse=True)
def _clean_api_state() -> Iterator[None]:
    from oauth_login import _api, _discovery

    def reset() -> None:
        for client in _api._clients.values():
            client.cancel()
        _api._clients.clear()
        _api._current = None
        _discovery.clear_cache()

    reset()
    yield
    reset()


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
