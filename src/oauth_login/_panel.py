"""``LoginButton``: the notebook login panel (an anywidget) and what keeps it in step with the sign-in.

The kernel runs no comm message while a cell runs, but sends widget updates from threads at once.
So the panel keeps a *prepared* sign-in ready: a loopback receiver in a thread with a single-use
start link. The **Sign in** click opens that link from JavaScript and never needs the kernel, so it
works while another cell blocks in ``oauth_login.get_token()``.

The link is no trait: traits are the widget's state, which JupyterLab can save into the .ipynb
("Save Widget State Automatically"), and a saved live link could start a sign-in into this kernel.
It goes to the front end in a custom message (``{"type": "link", "url": ...}``, ``""`` when there is
none), sent from the thread that changed it, repeated a few times, and again when the front end says
``hello`` (see ``_LinkSender``). The ``link_ready`` trait only says whether there is one. Traits hold
status only; the code, ``state`` and verifier stay in the attempt's thread.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from . import _api
from . import _status as st
from ._client import OAuthClient
from ._errors import DeviceCodeExpiredError, OAuthLoginError, SignInLinkExpiredError
from ._login import describe_error
from ._urls import may_show_link

__all__ = ["LoginButton"]

logger = logging.getLogger("oauth_login")

_HERE = Path(__file__).resolve().parent
# Installed: the wheel carries js/ as oauth_login/_static/. A source checkout (editable install) reads js/.
_STATIC = _HERE / "_static" if (_HERE / "_static" / "widget.js").is_file() else _HERE.parents[1] / "js"

# A prepared link expires unopened after IDLE_SECONDS and is replaced, up to MAX_PREPARED times
# (an hour); then Sign in asks the kernel for a new one.
IDLE_SECONDS = 600.0
MAX_PREPARED = 6
# Each link message is sent again after these delays (seconds from the change), then no more.
# anywidget 0.11 holds comm messages until the module's ``initialize`` ran, but a front end can miss
# one: it had no model for the widget yet (a page opened or reloaded, a second tab, until its
# request_state came back), or the kernel changed the link meanwhile. Its ``hello`` is answered only
# once no cell runs; the repeats cover the common case of a busy kernel right after the panel showed.
RESEND_AFTER: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0)


class _LinkSender:
    """Keeps the front end's copy of the live link: sends each change at once, repeats it after
    ``RESEND_AFTER``, and stops when the link changes again or the panel closes.

    ``send`` is called under a lock, so messages leave in the order of the changes even when several
    threads (the attempt's, the kernel's) change the link; a repeat of an old link cannot follow a
    newer one.
    """

    def __init__(self, send: Callable[[dict[str, str]], None]) -> None:
        self._send = send
        self._lock = threading.Condition()
        self._link = ""
        self._due: list[float] = []  # time.monotonic() of the repeats still to send
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def link(self) -> str:
        return self._link

    def publish(self, link: str) -> None:
        """The link changed (``""``: withdrawn): tell the front end now and repeat it a few times."""
        with self._lock:
            if self._closed or link == self._link:
                return
            self._link = link
            self._send_now()
            now = time.monotonic()
            self._due = [now + delay for delay in RESEND_AFTER]
            self._lock.notify_all()
            if self._due and self._thread is None:
                self._thread = threading.Thread(
                    target=self._repeat, name="oauth-login-panel-link", daemon=True
                )
                self._thread.start()

    def answer(self) -> None:
        """The front end asked (``hello``): send the current link once; it is listening by now."""
        with self._lock:
            if not self._closed:
                self._send_now()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._due = []
            self._lock.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait (bounded) until no repeat is pending any more; True if none is."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _send_now(self) -> None:
        self._send({"type": "link", "url": self._link})

    def _repeat(self) -> None:
        with self._lock:
            while self._due and not self._closed:
                wait = self._due[0] - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)  # a change or close() wakes it up early
                    continue
                self._due.pop(0)
                self._send_now()
            self._thread = None


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
    link_ready = traitlets.Bool(False).tag(sync=True)  # the link itself is sent in messages only
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
        self._closed = False
        self._preparer_lock = threading.Lock()
        self._preparer: threading.Thread | None = None
        self._want_link = False
        self._ready = threading.Event()  # a link, a login or an error is there to show
        self._links = _LinkSender(self.send)
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
        # Waiting: the prepared link, or once it was opened the next one (for a closed pop-up).
        link = status.link or "" if status.state == st.WAITING else ""
        self._links.publish(link if may_show_link(link) else "")  # never a javascript: or smb: link
        with self.hold_sync():
            self.state = _panel_state(status)
            self.account = status.account or ""
            self.expires_at = status.expires_at.timestamp() if status.expires_at else 0.0
            self.mode = status.mode or ""
            self.mode_reason = status.mode_reason or ""
            self.link_ready = bool(self._links.link)
            self.user_code = status.user_code or "" if status.state == st.WAITING else ""
            self.message = status.message if status.state == st.ERROR else ""
            self.hint = status.hint if status.state == st.ERROR else ""
        if self._links.link or self.state in (st.SIGNED_IN, st.ERROR):
            self._ready.set()

    def wait_ready(self, timeout: float) -> bool:
        """Wait (bounded) until the panel has something to show: a link, a login or an error."""
        return self._ready.wait(timeout)

    def _show_error(self, exc: BaseException) -> None:
        message, hint = describe_error(exc)
        self._links.publish("")
        with self.hold_sync():
            self.state, self.message, self.hint, self.link_ready = st.ERROR, message, hint, False
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
            if self._closed:
                attempt.cancel()  # the panel closed while this link was made: nobody can click it
            try:
                attempt.wait()
            except (SignInLinkExpiredError, DeviceCodeExpiredError):
                unused += 1  # nobody used the link: replace it, for an hour at most
                if unused < MAX_PREPARED:
                    with self._preparer_lock:
                        self._want_link = True
            except OAuthLoginError:
                pass  # cancelled, or failed: the client's status (with its hint) is on show

    def _read_paste(self, prompt: str) -> None:
        """Paste mode: nothing to read here; ``_on_message`` hands the panel's input to the attempt,
        which Cancel and the timeouts can end (a reader blocked on a queue could not be)."""
        return None

    # --- panel → kernel (processed when the kernel is idle) -------------------------------------
    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "hello":  # a front end (re)loaded the panel's module: it needs the current link
            self._links.answer()
        elif kind in {"sign_in", "cancel"}:
            self._client.cancel()
            self.prepare()
        elif kind == "sign_out":
            self._client.logout()
            self.prepare()
        elif kind == "paste" and isinstance(content.get("url"), str):
            attempt = self._client.attempt
            if attempt is not None:
                attempt.paste(content["url"])
        else:
            logger.debug("login panel: ignored a message of type %r", kind)

    def close(self) -> None:
        self._closed = True
        if not hasattr(self, "_unsubscribe"):  # __init__ failed early (a bad setting): nothing to undo
            super().close()
            return
        self._unsubscribe()
        self._links.close()
        attempt = self._client.attempt
        if attempt is not None and self._links.link:
            attempt.cancel()  # a prepared, unopened link of a closed panel has nobody to click it
        super().close()

    def join(self, timeout: float | None = None) -> bool:
        """Wait (bounded) until the panel's background threads have ended; True if they have."""
        with self._preparer_lock:
            preparer = self._preparer
        if preparer is not None:
            preparer.join(timeout)
            if preparer.is_alive():
                return False
        return self.join_resends(timeout)

    def join_resends(self, timeout: float | None = None) -> bool:
        """Wait (bounded) until the link's repeats (``RESEND_AFTER``) are over; True if they are."""
        return self._links.join(timeout)

    # --- where no widget manager runs (nbconvert, terminals, some hosts) ------------------------
    def _fallback(self) -> tuple[str, str]:
        """Text and HTML for front-ends without the widget. They are saved into the notebook, so they
        carry no live sign-in link (a copy of the .ipynb must not start a sign-in into this kernel)."""
        status = self._client.status()
        text = f"oauth-login ({self.profile}, {self.issuer}): {status}"
        body = html.escape(str(status))
        if status.state == st.WAITING and status.user_code and status.device_page:
            page = html.escape(status.device_page, quote=True)  # checked at the source: https only
            body = body.replace(
                page, f'<a href="{page}" target="_blank" rel="noopener noreferrer">{page}</a>', 1
            )
        elif status.state != st.SIGNED_IN:
            body += (
                " · Where the login panel does not show, sign in with a code: <code>%oauth_login --mode"
                " device</code>, or in a terminal: <code>oauth-login login</code>."
            )
        return text, f'<div class="oauth-login-fallback">oauth-login: {body}</div>'

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle or {}, {})
        text, html_text = self._fallback()
        return {**data, "text/plain": text, "text/html": html_text}, metadata

    def __repr__(self) -> str:
        return f"LoginButton(profile={self.profile!r}, state={self.state!r})"
