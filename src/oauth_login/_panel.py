"""``LoginButton``: the notebook login panel (an anywidget) and what keeps it in step with the sign-in.

The kernel runs no comm message while a cell runs, but sends widget updates from threads at once.
So the panel keeps a *prepared* sign-in ready: a loopback receiver in a thread with a single-use
start link in the ``start_url`` trait. The **Sign in** click opens that link from JavaScript and
never needs the kernel, so it works while another cell blocks in ``oauth_login.get_token()``.
Traits hold status only; the code, ``state`` and verifier stay in the attempt's thread.
"""

from __future__ import annotations

import html
import logging
import queue
import threading
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from . import _api
from . import _status as st
from ._client import OAuthClient
from ._errors import DeviceCodeExpiredError, OAuthLoginError, SignInLinkExpiredError
from ._login import describe_error

__all__ = ["LoginButton"]

logger = logging.getLogger("oauth_login")

_HERE = Path(__file__).resolve().parent
# Installed: the wheel carries js/ as oauth_login/_static/. A source checkout (editable install) reads js/.
_STATIC = _HERE / "_static" if (_HERE / "_static" / "widget.js").is_file() else _HERE.parents[1] / "js"

# A prepared link expires unopened after IDLE_SECONDS and is replaced, up to MAX_PREPARED times
# (an hour); then Sign in asks the kernel for a new one.
IDLE_SECONDS = 600.0
MAX_PREPARED = 6


def _panel_state(status: st.LoginStatus) -> str:
    if status.state == st.WAITING:
        # A prepared link is "signed out, ready"; an opened one means a browser is on its way. A device
        # code is live from the start: the user may enter it on any device, so it is shown as waiting.
        return "waiting" if status.opened or status.mode == "device" else "signed_out"
    return status.state


class LoginButton(anywidget.AnyWidget):
    """A Sign in / Cancel / Sign out panel with live status, for one profile.

    ``%oauth_login`` shows one; you can also place your own::

        from oauth_login import LoginButton
        LoginButton(issuer="https://idp.example.com", client_id="notebook")

    Keyword arguments are those of ``oauth_login.login`` (``profile``, ``issuer``, ``client_id``,
    ``scopes``, ``mode``, ``timeout``...); ``open_popup=False`` shows a link instead of a pop-up.
    """

    _esm = _STATIC / "widget.js"
    _css = _STATIC / "widget.css" if (_STATIC / "widget.css").is_file() else ""

    state = traitlets.Unicode(st.SIGNED_OUT).tag(sync=True)
    account = traitlets.Unicode("").tag(sync=True)
    expires_at = traitlets.Float(0.0).tag(sync=True)
    profile = traitlets.Unicode("").tag(sync=True)
    issuer = traitlets.Unicode("").tag(sync=True)
    mode = traitlets.Unicode("").tag(sync=True)
    mode_reason = traitlets.Unicode("").tag(sync=True)
    start_url = traitlets.Unicode("").tag(sync=True)
    user_code = traitlets.Unicode("").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    hint = traitlets.Unicode("").tag(sync=True)
    notice = traitlets.Unicode("").tag(sync=True)
    open_popup = traitlets.Bool(True).tag(sync=True)

    def __init__(
        self,
        profile: str | None = None,
        *,
        client: OAuthClient | None = None,
        mode: str | None = None,
        timeout: float | None = None,
        open_popup: bool = True,
        storage: str | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(open_popup=open_popup)
        self._client = client or _api.client(profile, storage=storage, **settings)
        self._mode = mode
        self._timeout = timeout
        self._pasted: queue.Queue[str] = queue.Queue()
        self._closed = False
        self._preparer_lock = threading.Lock()
        self._preparer: threading.Thread | None = None
        self._want_link = False
        self._ready = threading.Event()  # a link, a login or an error is there to show
        self.profile = self._client.profile.name
        self.issuer = self._client.profile.issuer
        self._unsubscribe = self._client.subscribe(self._show)
        self.on_msg(self._on_message)
        status = self._client.status()  # reads the store, never the network: a stored login shows at once
        self.notice = self._client.store.notice or ""
        self._show(status)
        if not status.signed_in and self._client.attempt is None:
            self.prepare()

    # --- kernel → panel -------------------------------------------------------------------------
    def _show(self, status: st.LoginStatus) -> None:
        """Mirror a status into the traits (called from whatever thread changed it)."""
        if self._closed:
            return
        with self.hold_sync():
            self.state = _panel_state(status)
            self.account = status.account or ""
            self.expires_at = status.expires_at.timestamp() if status.expires_at else 0.0
            self.mode = status.mode or ""
            self.mode_reason = status.mode_reason or ""
            # Waiting: the prepared link, or once it was opened the next one (for a closed pop-up).
            self.start_url = status.link or "" if status.state == st.WAITING else ""
            self.user_code = status.user_code or "" if status.state == st.WAITING else ""
            self.message = status.message if status.state == st.ERROR else ""
            self.hint = status.hint if status.state == st.ERROR else ""
        if self.start_url or self.state in (st.SIGNED_IN, st.ERROR):
            self._ready.set()

    def wait_ready(self, timeout: float) -> bool:
        """Wait (bounded) until the panel has something to show: a link, a login or an error."""
        return self._ready.wait(timeout)

    def _show_error(self, exc: BaseException) -> None:
        message, hint = describe_error(exc)
        with self.hold_sync():
            self.state, self.message, self.hint, self.start_url = st.ERROR, message, hint, ""
        self._ready.set()

    # --- preparing sign-in links ----------------------------------------------------------------
    def prepare(self) -> None:
        """Get a fresh sign-in link ready, in a background thread (discovery may take a moment)."""
        with self._preparer_lock:
            self._want_link = True
            if self._preparer is not None:
                return  # the running preparer sees the request when its current attempt ends
            self._preparer = threading.Thread(
                target=self._prepare_loop, name="oauth-login-panel", daemon=True
            )
            self._preparer.start()

    def _prepare_loop(self) -> None:
        unused = 0
        while True:
            with self._preparer_lock:
                if self._closed or not self._want_link:
                    self._preparer = None
                    return
                self._want_link = False
            try:
                attempt = self._client.start_login(
                    mode=self._mode,
                    timeout=self._timeout,
                    idle_timeout=IDLE_SECONDS,
                    open_browser=False,
                    show_link=lambda link, user_code: None,  # the panel shows it
                    read_paste=self._read_paste,
                )
            except OAuthLoginError as exc:
                self._show_error(exc)  # e.g. discovery failed, before any attempt could report it
                continue
            try:
                attempt.wait()
            except (SignInLinkExpiredError, DeviceCodeExpiredError):
                unused += 1  # nobody used the link: replace it, for an hour at most
                if unused < MAX_PREPARED:
                    with self._preparer_lock:
                        self._want_link = True
            except OAuthLoginError:
                pass  # cancelled, or failed: the client's status (with its hint) is on show

    def _read_paste(self, prompt: str) -> str:
        """Paste mode: wait for the address from the panel's input (a comm message, not a trait)."""
        return self._pasted.get()

    # --- panel → kernel (processed when the kernel is idle) -------------------------------------
    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind in {"sign_in", "cancel"}:
            self._client.cancel()
            self.prepare()
        elif kind == "sign_out":
            self._client.logout()
            self.prepare()
        elif kind == "paste" and isinstance(content.get("url"), str):
            self._pasted.put(content["url"])
        else:
            logger.debug("login panel: ignored a message of type %r", kind)

    def close(self) -> None:
        self._closed = True
        self._unsubscribe()
        attempt = self._client.attempt
        if attempt is not None and self.start_url:
            attempt.cancel()  # a prepared, unopened link of a closed panel has nobody to click it
        super().close()

    # --- where no widget manager runs (nbconvert, terminals, some hosts) ------------------------
    def _fallback(self) -> tuple[str, str]:
        status = self._client.status()
        text = f"oauth-login ({self.profile}, {self.issuer}): {status}"
        link = self.start_url
        if link and status.state != st.SIGNED_IN:
            anchor = f'<a href="{html.escape(link)}" target="_blank" rel="noopener noreferrer">Sign in</a>'
            code = f" and enter the code <b>{html.escape(self.user_code)}</b>" if self.user_code else ""
            body = f"{anchor}{code} · {html.escape(str(status))}"
        else:
            body = html.escape(str(status))
        return text, f'<div class="oauth-login-fallback">oauth-login: {body}</div>'

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle or {}, {})
        text, html_text = self._fallback()
        return {**data, "text/plain": text, "text/html": html_text}, metadata

    def __repr__(self) -> str:
        return f"LoginButton(profile={self.profile!r}, state={self.state!r})"
