// Front-end of the oauth-login panel: shows the sign-in status kept in the model and opens the sign-in page.
//
// The kernel owns every trait and updates them from threads; this view only reads them and sends
// messages. The Sign in click never waits for the kernel (it may be busy running a cell): it opens
// the live link, a single-use link served outside the kernel's main loop. That link is in no trait
// (traits are the widget state, which can be saved into the notebook file): the kernel sends it in a
// custom message, which `initialize` keeps for all views of the widget. Trait values are shown with
// textContent only, because issuer, message and hint can carry text chosen by an attacker.

/**
 * Traits synced from the kernel. Status only: never a token, code, state, verifier or live link.
 * @typedef {object} Traits
 * @property {"signed_out" | "waiting" | "signed_in" | "error"} state
 * @property {string} account
 * @property {number} expires_at POSIX seconds of access-token expiry; 0 = unknown
 * @property {string} profile
 * @property {string} issuer
 * @property {"loopback" | "device" | "paste" | "server" | ""} mode
 * @property {string} mode_reason
 * @property {boolean} link_ready the kernel has a link for Sign in (sent in a `link` message)
 * @property {string} user_code
 * @property {string} message
 * @property {string} hint
 * @property {string} notice
 * @property {boolean} open_popup false: never open windows, show the link only
 */

/**
 * Messages to the kernel; it handles them only while no cell runs.
 * @typedef {{type: "hello"} | {type: "sign_in"} | {type: "cancel"} | {type: "sign_out"} | {type: "paste", url: string}} Message
 */

/**
 * Message from the kernel: the live link (a single-use start link; in device mode the verification
 * page with the code), "" when there is none. Sent when it changes, repeated a few times, and in
 * answer to `hello`.
 * @typedef {{type: "link", url: string}} LinkMessage
 */

/**
 * The part of anywidget's model this view uses.
 * @typedef {object} Model
 * @property {<K extends keyof Traits>(key: K) => Traits[K]} get
 * @property {(event: string, callback: (...args: any[]) => void) => void} on
 * @property {(event?: string | null, callback?: ((...args: any[]) => void) | null) => void} off
 * @property {(message: Message) => void} send
 */

/** @type {(keyof Traits)[]} */
const TRAITS = ["state", "account", "expires_at", "profile", "issuer", "mode", "mode_reason",
  "link_ready", "user_code", "message", "hint", "notice", "open_popup"];
const POPUP_FEATURES = "popup,width=520,height=720";
const LINK_TEXT = "Open the sign-in page";

/**
 * The URL itself if it may be opened, else "": https, http only on this computer (the loopback
 * receiver, a development provider) or on this page's own origin (a start path on the Jupyter server).
 * A `javascript:`, `file:` or `smb:` link must never become an href. Same rule as the kernel's.
 * @param {string} url
 * @param {{origin: string}} loc
 */
function safeUrl(url, loc) {
  try {
    const { protocol, hostname, origin } = new URL(url);
    if (protocol !== "https:" && protocol !== "http:") return ""; // also when both origins are "null"
    if (protocol === "https:" || origin === loc.origin) return url;
    const loopback = hostname === "localhost" || hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
    return protocol === "http:" && loopback ? url : "";
  } catch {
    return "";
  }
}

/**
 * A start link as the browser must open it. The server relay gives a path on the Jupyter server:
 * it is opened on this page's origin, which is passed along (the server checks it against Host)
 * so the redirect URI names the public address the browser uses, not an internal one.
 * @param {string} raw
 * @param {{origin: string}} loc
 */
export function resolveStart(raw, loc) {
  if (!raw.startsWith("/") || raw.startsWith("//")) return raw;
  const url = new URL(raw, loc.origin);
  // "/\\host" and "/<tab>/host" are read as another host: a path must stay on this origin.
  if (url.origin !== loc.origin) return "";
  url.searchParams.set("origin", loc.origin);
  return url.href;
}

/** @param {string} url */
function hostOf(url) {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}

/**
 * " · expires in N min" (N s under 2 minutes), or a word that it has expired; "" when unknown.
 * @param {number} expiresAt POSIX seconds
 * @param {number} nowMs
 */
function expiryText(expiresAt, nowMs) {
  if (!expiresAt) return "";
  const left = expiresAt - nowMs / 1000;
  if (left <= 0) return " · expired, refreshing on next use";
  if (left < 120) return ` · expires in ${Math.ceil(left)} s`;
  return ` · expires in ${Math.floor(left / 60)} min`;
}

/**
 * @template {keyof HTMLElementTagNameMap} T
 * @param {Document} doc
 * @param {T} tag
 * @param {Record<string, string>} [attrs]
 * @param {string} [text]
 * @returns {HTMLElementTagNameMap[T]}
 */
function h(doc, tag, attrs = {}, text = "") {
  const node = doc.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.textContent = text;
  return node;
}

/**
 * What all views of one widget share (the default export is called once per widget): the live link
 * and whether one of them opened it.
 * @typedef {object} Shared
 * @property {string} url the last link the kernel sent; "" when none
 * @property {string} spent a start link one of the views already sent a window to: it is single use
 * @property {Set<() => void>} views each rendered view's update
 */

/**
 * Runs once per widget, before any view and before the widget's comm messages are handled (anywidget
 * 0.11 holds them until then). Keeps the link the kernel sends, and says hello so that the kernel
 * sends it again: a page opened or reloaded after the link was sent has missed it.
 * @param {Model} model
 * @param {Shared} shared
 * @returns {() => void} cleanup
 */
function initialize(model, shared) {
  /** @param {unknown} message */
  function onMessage(message) {
    const { type, url } = /** @type {Partial<LinkMessage>} */ (message ?? {});
    if (type !== "link" || typeof url !== "string" || url === shared.url) return; // a repeat: nothing new
    shared.url = url;
    for (const update of shared.views) update();
  }
  model.on("msg:custom", onMessage);
  model.send({ type: "hello" });
  return () => model.off("msg:custom", onMessage);
}

/**
 * @param {{model: Model, el: HTMLElement, signal?: AbortSignal}} props
 * @param {Shared} shared
 * @returns {() => void} cleanup: removes the panel, its timer and its model listeners
 */
function render({ model, el, signal }, shared) {
  const doc = el.ownerDocument;
  const win = doc.defaultView ?? globalThis;
  const listeners = new AbortController();
  const on = { signal: listeners.signal };

  const root = h(doc, "div", { class: "oauth-login", "data-testid": "oauth-login-panel" });
  const header = h(doc, "div", { class: "oauth-login-header" });
  const status = h(doc, "div", { class: "oauth-login-status", "data-testid": "status", "aria-live": "polite" });
  const statusText = h(doc, "span");
  // A ticking countdown inside a live region would be read out every second: keep it out.
  const expiry = h(doc, "span", { role: "timer", "aria-live": "off" });
  const hint = h(doc, "span", { class: "oauth-login-hint" });
  status.append(statusText, expiry, hint);
  const code = h(doc, "div", { class: "oauth-login-code", "data-testid": "user-code" });
  const note = h(doc, "div", { class: "oauth-login-note", "data-testid": "note" });
  const link = h(doc, "a", { "data-testid": "link", target: "_blank", rel: "noopener noreferrer" }, LINK_TEXT);
  const form = h(doc, "form", { class: "oauth-login-paste" });
  const input = h(doc, "input", {
    type: "password", autocomplete: "off", spellcheck: "false", "data-testid": "paste-input",
    "aria-label": "Address your browser ended on", placeholder: "Paste the address your browser ended on",
  });
  form.append(input, h(doc, "button", { type: "submit", "data-testid": "paste-submit" }, "Submit"));
  const buttons = h(doc, "div", { class: "oauth-login-buttons" });
  const signIn = h(doc, "button", { type: "button", "data-testid": "sign-in" }, "Sign in");
  const cancel = h(doc, "button", { type: "button", "data-testid": "cancel" }, "Cancel");
  const signOut = h(doc, "button", { type: "button", "data-testid": "sign-out" }, "Sign out");
  buttons.append(signIn, cancel, signOut);
  const details = h(doc, "div", { class: "oauth-login-details", "data-testid": "mode" });
  const notice = h(doc, "div", { class: "oauth-login-notice", "data-testid": "notice" });
  root.append(header, status, code, buttons, note, link, form, details, notice);
  el.append(root);

  // What this view knows and the kernel does not (yet). Which link was spent is in `shared`.
  let preparing = false; // asked the kernel for a fresh link; show it as a link when it comes
  let blocked = false; // window.open returned null for the current link
  let pasted = false; // a pasted address is on its way to the kernel
  let lastUrl = "";
  let lastState = "";
  /** @type {ReturnType<typeof setInterval> | undefined} */
  let timer;

  const device = () => model.get("mode") === "device";
  /** The link to open; "" when the kernel has none (a link it withdrew is never opened). */
  const startUrl = () =>
    model.get("link_ready") ? safeUrl(resolveStart(shared.url, win.location), win.location) : "";
  /** A link that can still be opened: device verification pages can be reopened, start links once. */
  const fresh = () => startUrl() !== "" && (device() || startUrl() !== shared.spent);
  /** Marks the current start link as used, in every view of this widget. */
  function spend() {
    if (!device()) shared.spent = startUrl();
    preparing = false;
    for (const view of shared.views) view();
  }

  function stopTimer() {
    clearInterval(timer);
    timer = undefined;
  }

  function tick() {
    const text = expiryText(model.get("expires_at"), Date.now());
    if (expiry.textContent !== text) expiry.textContent = text;
  }

  function update() {
    const state = model.get("state");
    const url = startUrl();
    const signedIn = state === "signed_in";
    if (url !== lastUrl) {
      lastUrl = url;
      blocked = false;
    }
    if (state !== lastState) {
      lastState = state;
      pasted = false;
      // A sign-in or an error ends the wait for a new link; a cancelled attempt on the way does not.
      if (signedIn || state === "error") preparing = false;
    }
    const usable = fresh();
    const popups = model.get("open_popup");

    root.dataset.state = state;
    header.textContent = [model.get("profile"), hostOf(model.get("issuer"))].filter(Boolean).join(" · ");
    header.hidden = !header.textContent;
    let text = "Signed out";
    if (preparing && !usable && !signedIn) text = "Preparing a new sign-in link…";
    else if (signedIn) text = `Signed in as ${model.get("account") || "an unknown account"}`;
    else if (state === "waiting" && device() && url) {
      text = `Open ${hostOf(url)} and enter code ${model.get("user_code")}`;
    } else if (state === "waiting") text = "Waiting for the browser…";
    else if (state === "error") text = model.get("message") || "Sign-in failed";
    statusText.textContent = text;
    hint.textContent = state === "error" ? model.get("hint") : "";
    hint.hidden = !hint.textContent;
    tick();
    if (!signedIn) expiry.textContent = "";

    code.textContent = model.get("user_code");
    code.hidden = !(device() && state === "waiting" && code.textContent);

    signIn.hidden = signedIn || (!popups && usable);
    signIn.textContent = state === "waiting" && !usable ? "Sign in again" : "Sign in";
    signIn.classList.toggle("oauth-login-primary", state !== "waiting" || usable);
    cancel.hidden = state !== "waiting";
    signOut.hidden = !signedIn;

    link.hidden = !(usable && !signedIn && (state === "waiting" || device() || blocked || preparing || !popups));
    if (link.hidden) link.removeAttribute("href");
    else link.href = url;

    if (blocked && usable) note.textContent = "Your browser blocked the pop-up window";
    else if (preparing && !usable) note.textContent = "The kernel answers once no cell is running.";
    else if (pasted) note.textContent = "Sent: the kernel checks it once no cell is running.";
    else note.textContent = "";
    note.hidden = !note.textContent || signedIn;

    form.hidden = !(model.get("mode") === "paste" && !signedIn && (state === "waiting" || shared.spent !== ""));
    details.textContent = [model.get("mode"), model.get("mode_reason")].filter(Boolean).join(": ");
    details.hidden = signedIn || !details.textContent;
    notice.textContent = model.get("notice");
    notice.hidden = !notice.textContent;

    const wantTimer = signedIn && model.get("expires_at") > 0;
    if (wantTimer && timer === undefined) timer = setInterval(tick, 1000);
    if (!wantTimer) stopTimer();
  }

  /** Opens the page in a popup synchronously, inside the click (user activation). */
  function onSignIn() {
    if (!fresh()) {
      // No link, or this one was already opened (window closed without finishing): ask for a new one.
      preparing = true;
      model.send({ type: "sign_in" });
    } else if (model.get("open_popup")) {
      const url = startUrl();
      const popup = win.open("", "_blank", POPUP_FEATURES);
      blocked = !popup;
      if (popup) {
        popup.opener = null;
        popup.location.href = url;
        spend();
      }
    }
    update();
  }

  signIn.addEventListener("click", onSignIn, on);
  cancel.addEventListener("click", () => {
    preparing = false;
    model.send({ type: "cancel" });
    update();
  }, on);
  signOut.addEventListener("click", () => model.send({ type: "sign_out" }), on);
  link.addEventListener("click", spend, on);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const url = input.value.trim();
    input.value = ""; // never kept or echoed: it carries the authorization code
    if (!url) return;
    pasted = true;
    model.send({ type: "paste", url });
    update();
  }, on);

  for (const name of TRAITS) model.on(`change:${name}`, update);
  shared.views.add(update);
  update();

  let cleaned = false;
  function cleanup() {
    if (cleaned) return;
    cleaned = true;
    for (const name of TRAITS) model.off(`change:${name}`, update);
    shared.views.delete(update);
    stopTimer();
    listeners.abort();
    root.remove();
  }
  signal?.addEventListener("abort", cleanup, { once: true });
  return cleanup;
}

/**
 * anywidget calls this once per widget: its views share one link, as the kernel sent it to the widget.
 * @returns {{initialize: (props: {model: Model}) => () => void, render: (props: {model: Model, el: HTMLElement, signal?: AbortSignal}) => () => void}}
 */
export default function widget() {
  /** @type {Shared} */
  const shared = { url: "", spent: "", views: new Set() };
  return {
    initialize: ({ model }) => initialize(model, shared),
    render: (props) => render(props, shared),
  };
}
