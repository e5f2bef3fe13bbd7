"""Drive Debian's headless Chromium through the dev provider's pages with Playwright (sync API).

The sync API refuses to run where an asyncio loop is running, and tests block their own thread
while the browser acts, so ``BrowserThread`` owns Playwright and the browser in one dedicated
thread and runs jobs there::

    with BrowserThread() as browser:
        result = browser.submit(complete_login, auth_url, expect_url_prefix=redirect_uri).result()
        with browser.session() as shared:   # one context: the IdP session cookie survives
            shared.submit(complete_login, url1).result()
            shared.submit(complete_login, url2).result()   # login form skipped, consent shown

The jobs (``complete_login``, ``complete_device``, ``open_page``) also work directly with a page.
CLI for ``BROWSER="python -m devtools.browser %s"``: completes a login and exits 0 once the
redirect target page has loaded.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from playwright.sync_api import Browser, BrowserContext, Dialog, Page, Playwright, Response, sync_playwright
from playwright.sync_api import Error as PlaywrightError

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "BrowserFlowError",
    "BrowserResult",
    "BrowserSession",
    "BrowserThread",
    "complete_device",
    "complete_login",
    "launch",
    "open_page",
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Stay on loopback: every other name fails to resolve, and no proxy could resolve it instead.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
    "--no-proxy-server",
]
DEFAULT_TIMEOUT_MS = 30_000
# How long a caller waits for a browser job (or for Chromium to start or stop) when it names no
# timeout: well under pytest's 90-120 s, so a stuck page fails naming the job, not at the test timeout.
DEFAULT_JOB_TIMEOUT_S = 60.0
DEFAULT_USERNAME = "alice"  # an account of the dev provider (devtools/idp/configuration.js)
DEFAULT_PASSWORD = "alice-pw"
Consent = Literal["allow", "deny"]

# Element ids of the dev provider's pages (devtools/idp/pages.js).
LOGIN_FORM = "#login-form"
CONSENT_FORM = "#consent-form"
DEVICE_CONFIRM = "#confirm"
DEVICE_SUCCESS = "#success"


class BrowserFlowError(RuntimeError):
    """The browser could not complete a flow (wrong password, unexpected page, ...)."""


@dataclass
class BrowserResult:
    url: str
    status: int | None  # HTTP status of the last main-frame navigation (after redirects)
    text: str  # inner text of <body>
    dialogs: list[str] = field(default_factory=list)  # messages of alert/confirm/prompt dialogs
    console_errors: list[str] = field(default_factory=list)  # console.error and uncaught exceptions
    steps: list[str] = field(default_factory=list)  # provider pages answered: "device", "login", "consent"


class _PageWatch:
    """Records navigations, dialogs and console errors of a page while a job runs."""

    def __init__(self, page: Page):
        self.page = page
        self.status: int | None = None
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []

    def _on_response(self, response: Response) -> None:
        main_navigation = response.request.is_navigation_request() and response.frame == self.page.main_frame
        if main_navigation and not 300 <= response.status < 400:  # redirects are hops, not results
            self.status = response.status

    def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()  # a listener must settle the dialog, or the page hangs

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def _on_pageerror(self, error: Any) -> None:
        self.console_errors.append(str(error))

    def __enter__(self) -> _PageWatch:
        self.page.on("response", self._on_response)
        self.page.on("dialog", self._on_dialog)
        self.page.on("console", self._on_console)
        self.page.on("pageerror", self._on_pageerror)
        return self

    def __exit__(self, *exc: object) -> None:
        self.page.remove_listener("response", self._on_response)
        self.page.remove_listener("dialog", self._on_dialog)
        self.page.remove_listener("console", self._on_console)
        self.page.remove_listener("pageerror", self._on_pageerror)

    def result(self, steps: list[str] | None = None) -> BrowserResult:
        return BrowserResult(
            url=self.page.url,
            status=self.status,
            text=self.page.inner_text("body"),
            dialogs=list(self.dialogs),
            console_errors=list(self.console_errors),
            steps=steps or [],
        )


def _click_and_wait(page: Page, selector: str) -> None:
    with page.expect_navigation(wait_until="load"):
        page.click(selector)


def _drive_provider_pages(page: Page, username: str, password: str, consent: Consent) -> list[str]:
    """Answer the provider's device-confirm, login and consent pages until none is shown."""
    steps: list[str] = []
    for _ in range(6):
        if page.locator(DEVICE_CONFIRM).count():
            steps.append("device")
            _click_and_wait(page, DEVICE_CONFIRM)
        elif page.locator(LOGIN_FORM).count():
            steps.append("login")
            page.fill("input[name=login]", username)
            page.fill("input[name=password]", password)
            _click_and_wait(page, "button[type=submit]#submit")
            if page.locator(LOGIN_FORM).count() and page.locator("#error").count():
                raise BrowserFlowError(f"login as {username!r} failed: {page.inner_text('#error')}")
        elif page.locator(CONSENT_FORM).count():
            steps.append("consent")
            _click_and_wait(page, f"#{consent}")
        else:
            return steps
    raise BrowserFlowError(f"still on the provider's pages after 6 steps: {page.url}")


def complete_login(
    page: Page,
    url: str,
    *,
    username: str = DEFAULT_USERNAME,
    password: str = DEFAULT_PASSWORD,
    consent: Consent = "allow",
    expect_url_prefix: str | None = None,
) -> BrowserResult:
    """Open an authorization URL, sign in (unless the session cookie already does), answer consent.

    Returns once the page that the provider redirects to has loaded; with ``expect_url_prefix``,
    once the page URL starts with it.
    """
    with _PageWatch(page) as watch:
        page.goto(url, wait_until="load")
        steps = _drive_provider_pages(page, username, password, consent)
        if expect_url_prefix is not None:
            page.wait_for_url(lambda u: u.startswith(expect_url_prefix), wait_until="load")
        page.wait_for_load_state("load")
        return watch.result(steps)


def complete_device(
    page: Page,
    verification_uri_complete: str,
    *,
    username: str = DEFAULT_USERNAME,
    password: str = DEFAULT_PASSWORD,
    consent: Consent = "allow",
) -> str:
    """Confirm a device flow's user code, sign in, answer consent; return the final page's text."""
    with _PageWatch(page):
        page.goto(verification_uri_complete, wait_until="load")
        if not page.locator(DEVICE_CONFIRM).count():
            raise BrowserFlowError(f"no device confirmation page at {page.url}: {page.inner_text('body')!r}")
        _drive_provider_pages(page, username, password, consent)
        if consent == "allow" and not page.locator(DEVICE_SUCCESS).count():
            raise BrowserFlowError(f"device flow did not succeed: {page.inner_text('body')!r}")
        return page.inner_text("body")


def open_page(page: Page, url: str) -> BrowserResult:
    """Navigate to ``url`` and report what happened (status, text, dialogs, console errors)."""
    with _PageWatch(page) as watch:
        page.goto(url, wait_until="load")
        return watch.result()


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless, with a fresh temporary profile (Playwright makes one per launch)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def _new_context(browser: Browser, timeout_ms: float) -> BrowserContext:
    context = browser.new_context()
    context.set_default_timeout(timeout_ms)
    return context


# concurrent.futures.TimeoutError is the builtin TimeoutError from 3.11 on, its own class on 3.10.
_TIMEOUT_BASES = tuple(dict.fromkeys((concurrent.futures.TimeoutError, TimeoutError)))


class BrowserTimeoutError(*_TIMEOUT_BASES):  # type: ignore[misc]
    """A browser job, or Chromium itself, did not finish in time (a ``TimeoutError`` on every Python)."""


class BrowserJob(Future):  # type: ignore[type-arg]
    """The future of one job; ``result()`` without a timeout still waits at most ``DEFAULT_JOB_TIMEOUT_S``."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def result(self, timeout: float | None = None) -> Any:
        limit = DEFAULT_JOB_TIMEOUT_S if timeout is None else timeout
        try:
            return super().result(limit)
        except concurrent.futures.TimeoutError:
            if self.done():  # the job itself raised a TimeoutError: that is its result
                raise
            raise BrowserTimeoutError(
                f"browser job {self.name} did not finish within {limit:g} s "
                "(a page that never loads, or a job queued behind a stuck one)"
            ) from None


_Job = tuple[Callable[[Browser], Any], Future]


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


class BrowserSession:
    """One browser context (cookies shared) inside a BrowserThread; each job gets a new page."""

    def __init__(self, owner: BrowserThread):
        self._owner = owner
        self._context: BrowserContext | None = None

    def _page(self, browser: Browser) -> Page:
        if self._context is None:
            self._context = _new_context(browser, self._owner.timeout_ms)
        return self._context.new_page()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> BrowserJob:
        def job(browser: Browser) -> Any:
            page = self._page(browser)
            try:
                return fn(page, *args, **kwargs)
            finally:
                page.close()

        return self._owner._enqueue(job, _name(fn))

    def close(self) -> None:
        def job(_browser: Browser) -> None:
            if self._context is not None:
                self._context.close()
                self._context = None

        if self._owner.alive:
            self._owner._enqueue(job, "close the session").result()

    def __enter__(self) -> BrowserSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BrowserThread:
    """Playwright and one Chromium in a dedicated thread; ``submit`` runs ``fn(page, ...)`` there."""

    def __init__(self, *, timeout_ms: float = DEFAULT_TIMEOUT_MS):
        self.timeout_ms = timeout_ms
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._ready: Future = Future()
        self._thread = threading.Thread(target=self._run, name="browser", daemon=True)
        self._thread.start()
        try:
            self._ready.result(
                DEFAULT_JOB_TIMEOUT_S
            )  # re-raises a launch failure here, in the caller's thread
        except concurrent.futures.TimeoutError:
            if self._ready.done():
                raise
            raise BrowserTimeoutError(
                f"Chromium ({CHROMIUM}) did not start within {DEFAULT_JOB_TIMEOUT_S:g} s"
            ) from None

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                self._ready.set_result(None)
                try:
                    self._serve(browser)
                finally:
                    browser.close()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            else:
                raise

    def _serve(self, browser: Browser) -> None:
        while (item := self._jobs.get()) is not None:
            job, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job(browser))
            # Every outcome goes back to the caller, even BaseExceptions such as pytest.fail()'s.
            except BaseException as exc:  # noqa: BLE001
                future.set_exception(exc)

    def _enqueue(self, job: Callable[[Browser], Any], name: str) -> BrowserJob:
        if not self.alive:
            raise RuntimeError("BrowserThread is closed")
        future = BrowserJob(name)
        self._jobs.put((job, future))
        return future

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> BrowserJob:
        """Run ``fn(page, *args, **kwargs)`` in a fresh context (no cookies), closed afterwards."""

        def job(browser: Browser) -> Any:
            context = _new_context(browser, self.timeout_ms)
            try:
                return fn(context.new_page(), *args, **kwargs)
            finally:
                context.close()

        return self._enqueue(job, _name(fn))

    def session(self) -> BrowserSession:
        """A context whose cookies persist across jobs, e.g. to test an existing IdP session."""
        return BrowserSession(self)

    def close(self) -> None:
        if self.alive:
            self._jobs.put(None)
            self._thread.join(DEFAULT_JOB_TIMEOUT_S)
            if self._thread.is_alive():
                raise BrowserTimeoutError(
                    f"the browser thread did not stop within {DEFAULT_JOB_TIMEOUT_S:g} s (a job still runs)"
                )

    def __enter__(self) -> BrowserThread:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@contextmanager
def _page(timeout_ms: float) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield _new_context(browser, timeout_ms).new_page()
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.browser",
        description="Complete a login at URL in headless Chromium; exit 0 once the final page loaded.",
    )
    parser.add_argument("url")
    parser.add_argument("--username", default=DEFAULT_USERNAME)
    parser.add_argument("--password", default=DEFAULT_PASSWORD)
    parser.add_argument("--consent", choices=["allow", "deny"], default="allow")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_MS / 1000, help="seconds")
    args = parser.parse_args(argv)
    try:
        with _page(args.timeout * 1000) as page:
            result = complete_login(
                page, args.url, username=args.username, password=args.password, consent=args.consent
            )
    except (PlaywrightError, BrowserFlowError) as exc:
        print(f"devtools.browser: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    if result.status is not None and result.status >= 400:
        print(f"devtools.browser: {result.url} answered HTTP {result.status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
