// Tests of the panel's front-end against a fake anywidget model, a happy-dom page and a fake clock.
// The live link is no trait: the fake kernel sends it in a message (`model.kernel({ link })`).
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import { Window } from "happy-dom";
import widget, { resolveStart } from "./widget.js";

const START = "http://127.0.0.1:41234/start/3f9a";
const NEXT = "http://127.0.0.1:41234/start/77c1";
const NOW_MS = 1_700_000_000_000;
const XSS = '<img src=x onerror="globalThis.pwned=1">';

/** @type {Record<string, unknown>} */
const DEFAULTS = {
  state: "signed_out", account: "", expires_at: 0, profile: "work", issuer: "https://idp.example.com/realms/a",
  mode: "loopback", mode_reason: "the browser runs on this machine", link_ready: false, user_code: "",
  message: "", hint: "", notice: "", open_popup: true,
};

/**
 * A model like anywidget's: records what the view does; `kernel()` changes traits as the kernel would.
 * @param {Record<string, unknown>} [traits]
 */
function fakeModel(traits = {}) {
  /** @type {Record<string, unknown>} */
  const values = { ...DEFAULTS, ...traits };
  /** @type {Map<string, Set<Function>>} */
  const handlers = new Map();
  /** @type {unknown[]} */
  const sent = [];
  /** @type {unknown[][]} */
  const writes = [];
  return {
    sent,
    writes,
    handlers,
    get: (/** @type {string} */ key) => values[key],
    set: (/** @type {unknown[]} */ ...args) => void writes.push(["set", ...args]),
    save_changes: () => void writes.push(["save_changes"]),
    send: (/** @type {unknown} */ message) => void sent.push(message),
    on(/** @type {string} */ event, /** @type {Function} */ callback) {
      if (!handlers.has(event)) handlers.set(event, new Set());
      handlers.get(event)?.add(callback);
    },
    off(/** @type {string} */ event, /** @type {Function} */ callback) {
      handlers.get(event)?.delete(callback);
    },
    /** Listeners of trait changes (the views'; initialize listens to messages only). */
    listenerCount: () => [...handlers].reduce((n, [event, set]) => n + (event.startsWith("change:") ? set.size : 0), 0),
    /** A custom message from the kernel, as anywidget delivers it: (content, buffers). */
    message(/** @type {unknown} */ content) {
      for (const cb of [...(handlers.get("msg:custom") ?? [])]) cb(content, []);
    },
    /**
     * Changes traits as the kernel does. `link` is no trait: it comes as a message, then the
     * `link_ready` trait follows (the kernel's order).
     * @param {Record<string, unknown>} changes
     */
    kernel(changes) {
      const { link, ...traits } = changes;
      if (typeof link === "string") {
        this.message({ type: "link", url: link });
        traits.link_ready = link !== "";
      }
      Object.assign(values, traits);
      for (const key of Object.keys(traits)) for (const cb of handlers.get(`change:${key}`) ?? []) cb();
    },
  };
}

/** A clock whose setInterval/clearInterval/Date.now only move when told, and which counts live timers. */
function fakeClock(/** @type {import("node:test").TestContext} */ t) {
  /** @type {Map<number, {fn: Function, ms: number, due: number}>} */
  const timers = new Map();
  let id = 0;
  const clock = {
    now: NOW_MS,
    timers,
    /** @param {number} ms */
    advance(ms) {
      const end = clock.now + ms;
      for (;;) {
        const next = [...timers.values()].sort((a, b) => a.due - b.due)[0];
        if (!next || next.due > end) break;
        clock.now = next.due;
        next.due += next.ms;
        next.fn();
      }
      clock.now = end;
    },
  };
  t.mock.method(Date, "now", () => clock.now);
  t.mock.method(globalThis, "setInterval", (/** @type {Function} */ fn, /** @type {number} */ ms) => {
    timers.set(++id, { fn, ms, due: clock.now + ms });
    return id;
  });
  t.mock.method(globalThis, "clearInterval", (/** @type {number} */ handle) => void timers.delete(handle));
  return clock;
}

/** @type {Window} */
let page;
/** @type {{args: unknown[], steps: string[]}[]} */
let opened;
/** @type {"ok" | "blocked"} */
let popupMode;
/** @type {(() => void)[]} */
let mounted;

beforeEach(() => {
  page = new Window({ url: "http://localhost:8888/lab" });
  opened = [];
  popupMode = "ok";
  mounted = [];
  // @ts-ignore: a fake window.open that records the order of what the view does with the popup
  page.open = (...args) => {
    const call = { args, steps: /** @type {string[]} */ (["open"]) };
    opened.push(call);
    if (popupMode === "blocked") return null;
    return {
      set opener(/** @type {unknown} */ value) { call.steps.push(`opener=${value}`); },
      location: { set href(/** @type {string} */ value) { call.steps.push(`href=${value}`); } },
    };
  };
});

afterEach(async () => {
  for (const cleanup of mounted) cleanup();
  await page.happyDOM.close();
});

/**
 * A widget as anywidget sets it up: the module's factory, `initialize` once, then a view rendered
 * into a fresh element on the page. `link` (no trait) comes from the kernel in a message; `view()`
 * renders another view of the same widget.
 * @param {Record<string, unknown>} [traits]
 */
function mount({ link, ...traits } = {}, /** @type {AbortSignal | undefined} */ signal = undefined) {
  const model = fakeModel(traits);
  const def = widget();
  mounted.push(def.initialize({ model: /** @type {any} */ (model) }));
  model.sent.splice(0); // initialize's hello: see "the link comes in messages"
  if (typeof link === "string") model.kernel({ link });
  const view = (/** @type {AbortSignal | undefined} */ viewSignal = undefined) => {
    const el = page.document.createElement("div");
    page.document.body.append(el);
    const cleanup = def.render({ model: /** @type {any} */ (model), el: /** @type {any} */ (el), signal: viewSignal });
    mounted.push(cleanup);
    /** @param {string} id */
    const $ = (id) => /** @type {HTMLElement} */ (/** @type {unknown} */ (el.querySelector(`[data-testid="${id}"]`)));
    const visible = (/** @type {string} */ id) => !$(id).closest("[hidden]");
    const click = (/** @type {string} */ id) => $(id).click();
    return { el, cleanup, $, visible, click, status: () => $("status").textContent };
  };
  return { model, view, ...view(signal) };
}

describe("states", () => {
  test("signed out: status, header and the Sign in button only", () => {
    const { $, visible, status } = mount();
    assert.equal(status(), "Signed out");
    assert.equal($("oauth-login-panel").dataset.state, "signed_out");
    assert.equal($("oauth-login-panel").querySelector(".oauth-login-header")?.textContent, "work · idp.example.com");
    assert.equal($("status").getAttribute("aria-live"), "polite");
    assert.deepEqual([visible("sign-in"), visible("cancel"), visible("sign-out")], [true, false, false]);
    assert.ok(!visible("link") && !visible("user-code") && !visible("paste-input"));
  });

  test("waiting: Cancel, the unopened link offered as a small fallback", () => {
    const { $, visible, status } = mount({ state: "waiting", link: START });
    assert.equal(status(), "Waiting for the browser…");
    assert.deepEqual([visible("sign-in"), visible("cancel"), visible("sign-out")], [true, true, false]);
    assert.ok(visible("link"));
    assert.equal($("link").getAttribute("href"), START);
    assert.equal($("link").getAttribute("target"), "_blank");
    assert.equal($("link").getAttribute("rel"), "noopener noreferrer");
  });

  test("signed in: account, expiry and Sign out only", (t) => {
    fakeClock(t);
    const { visible, status } = mount({ state: "signed_in", account: "alice@example.com", expires_at: NOW_MS / 1000 + 54 * 60 + 30 });
    assert.equal(status(), "Signed in as alice@example.com · expires in 54 min");
    assert.deepEqual([visible("sign-in"), visible("cancel"), visible("sign-out")], [false, false, true]);
  });

  test("signed in with an unknown expiry shows no countdown and starts no timer", (t) => {
    const clock = fakeClock(t);
    const { status } = mount({ state: "signed_in", account: "alice@example.com" });
    assert.equal(status(), "Signed in as alice@example.com");
    assert.equal(clock.timers.size, 0);
  });

  test("error: message and hint, Sign in offered again", () => {
    const { $, visible, status } = mount({ state: "error", message: "The session expired.", hint: "Sign in again." });
    assert.match(status(), /The session expired\..*Sign in again\./);
    assert.equal($("oauth-login-panel").dataset.state, "error");
    assert.deepEqual([visible("sign-in"), visible("cancel"), visible("sign-out")], [true, false, false]);
  });

  test("trait changes re-render the panel", () => {
    const { model, $, visible, status } = mount();
    model.kernel({ state: "waiting", link: START });
    assert.equal(status(), "Waiting for the browser…");
    assert.equal($("oauth-login-panel").dataset.state, "waiting");
    model.kernel({ state: "signed_in", account: "bob@example.com" });
    assert.equal(status(), "Signed in as bob@example.com");
    assert.ok(visible("sign-out") && !visible("cancel") && !visible("link"));
    model.kernel({ profile: "home", issuer: "https://login.example.org" });
    assert.equal($("oauth-login-panel").querySelector(".oauth-login-header")?.textContent, "home · login.example.org");
    model.kernel({ notice: "Tokens are kept in a file: no keyring found." });
    assert.ok(visible("notice"));
    assert.equal($("notice").textContent, "Tokens are kept in a file: no keyring found.");
  });

  test("the view never writes traits: the kernel owns them", () => {
    const { model, click } = mount({ link: START });
    click("sign-in");
    model.kernel({ state: "waiting" });
    click("cancel");
    assert.deepEqual(model.writes, []);
  });
});

describe("countdown", () => {
  test("minutes, then seconds under 2 minutes, then expired, on the fake clock", (t) => {
    const clock = fakeClock(t);
    const { status } = mount({ state: "signed_in", account: "a@x", expires_at: NOW_MS / 1000 + 3 * 60 + 10 });
    assert.match(status(), /· expires in 3 min$/);
    clock.advance(60_000);
    assert.match(status(), /· expires in 2 min$/);
    clock.advance(60_000);
    assert.match(status(), /· expires in 70 s$/);
    clock.advance(69_000);
    assert.match(status(), /· expires in 1 s$/);
    clock.advance(5_000);
    assert.match(status(), /· expired, refreshing on next use$/);
  });

  test("the countdown is kept out of the live region", (t) => {
    fakeClock(t);
    const { $ } = mount({ state: "signed_in", account: "a@x", expires_at: NOW_MS / 1000 + 600 });
    const timer = $("status").querySelector('[role="timer"]');
    assert.equal(timer?.getAttribute("aria-live"), "off");
    assert.match(timer?.textContent ?? "", /expires in/);
  });

  test("a refreshed token moves the expiry; the timer stops when no longer signed in", (t) => {
    const clock = fakeClock(t);
    const { model, status } = mount({ state: "signed_in", account: "a@x", expires_at: NOW_MS / 1000 - 5 });
    assert.match(status(), /expired/);
    assert.equal(clock.timers.size, 1);
    model.kernel({ expires_at: NOW_MS / 1000 + 3600 });
    assert.match(status(), /expires in 60 min$/);
    assert.equal(clock.timers.size, 1);
    model.kernel({ state: "signed_out" });
    assert.equal(status(), "Signed out");
    assert.equal(clock.timers.size, 0);
  });
});

describe("Sign in", () => {
  test("opens the popup synchronously in the click, then cuts the opener, then navigates", () => {
    const { model, click } = mount({ link: START });
    click("sign-in");
    assert.equal(opened.length, 1);
    assert.deepEqual(opened[0].args, ["", "_blank", "popup,width=520,height=720"]);
    assert.deepEqual(opened[0].steps, ["open", "opener=null", `href=${START}`]);
    assert.deepEqual(model.sent, []);
  });

  test("a blocked popup shows the fallback link to the same start URL", () => {
    popupMode = "blocked";
    const { model, $, visible, click } = mount({ link: START });
    click("sign-in");
    assert.equal(opened.length, 1);
    assert.ok(visible("link"));
    assert.equal($("link").getAttribute("href"), START);
    assert.equal($("link").textContent, "Open the sign-in page");
    assert.equal($("note").textContent, "Your browser blocked the pop-up window");
    assert.deepEqual(model.sent, []);
    // nothing was opened, so the link is unspent: a second click tries the popup again
    popupMode = "ok";
    click("sign-in");
    assert.deepEqual(opened[1].steps, ["open", "opener=null", `href=${START}`]);
  });

  test("a second click on a spent start URL asks for a new one and shows it as a link", () => {
    const { model, $, visible, click, status } = mount({ link: START });
    click("sign-in");
    model.kernel({ state: "waiting" });
    assert.equal($("sign-in").textContent, "Sign in again");
    assert.ok(!visible("link"), "a spent single-use link is not offered");
    click("sign-in");
    assert.deepEqual(model.sent, [{ type: "sign_in" }]);
    assert.equal(opened.length, 1, "no popup for a spent link");
    assert.equal(status(), "Preparing a new sign-in link…");
    model.kernel({ link: NEXT });
    assert.equal(status(), "Waiting for the browser…");
    assert.ok(visible("link"));
    assert.equal($("link").getAttribute("href"), NEXT);
    assert.equal(opened.length, 1, "no popup without a fresh click");
  });

  test("a new link after the kernel cancelled the opened attempt is still offered as a link", () => {
    // The kernel shows a prepared link as signed_out + link, an opened one as waiting + "".
    const { model, $, visible, click, status } = mount({ link: START });
    click("sign-in");
    model.kernel({ state: "waiting", link: "" });
    assert.equal($("sign-in").textContent, "Sign in again");
    click("sign-in");
    assert.deepEqual(model.sent, [{ type: "sign_in" }]);
    model.kernel({ state: "signed_out" });
    assert.equal(status(), "Preparing a new sign-in link…");
    model.kernel({ link: NEXT });
    assert.equal(status(), "Signed out");
    assert.ok(visible("link") && visible("sign-in"));
    assert.equal($("link").getAttribute("href"), NEXT);
    assert.equal(opened.length, 1);
  });

  test("an error while preparing a new link is shown, not hidden behind “Preparing”", () => {
    const { model, click, status } = mount({ state: "waiting", link: START });
    click("sign-in");
    click("sign-in");
    assert.equal(status(), "Preparing a new sign-in link…");
    model.kernel({ state: "error", message: "The provider is unreachable.", hint: "Check the network." });
    assert.match(status(), /The provider is unreachable\..*Check the network\./);
  });

  test("clicking the fallback link spends it", () => {
    const { model, $, visible, click } = mount({ state: "waiting", link: START });
    $("link").addEventListener("click", (event) => event.preventDefault()); // the page itself stays put
    click("link");
    assert.ok(!visible("link"));
    click("sign-in");
    assert.deepEqual(model.sent, [{ type: "sign_in" }]);
    assert.equal(opened.length, 0);
  });

  test("with no start URL yet, Sign in asks the kernel (signed out and error)", () => {
    for (const state of ["signed_out", "error"]) {
      const { model, click } = mount({ state });
      click("sign-in");
      assert.deepEqual(model.sent, [{ type: "sign_in" }]);
    }
    assert.equal(opened.length, 0);
  });

  test("open_popup=false never opens a window: the link is the way in", () => {
    const { model, $, visible, click } = mount({ open_popup: false });
    click("sign-in");
    assert.deepEqual(model.sent, [{ type: "sign_in" }]);
    model.kernel({ state: "waiting", link: START });
    assert.ok(visible("link") && !visible("sign-in"));
    assert.equal($("link").getAttribute("href"), START);
    click("sign-in"); // hidden, but even a scripted click must not open a window
    $("link").addEventListener("click", (event) => event.preventDefault());
    click("link");
    click("sign-in");
    assert.deepEqual(model.sent, [{ type: "sign_in" }, { type: "sign_in" }]);
    assert.equal(opened.length, 0);
  });

  test("a start URL that is not http(s) is neither linked nor opened", () => {
    const { $, visible, click } = mount({ state: "waiting", link: "javascript:alert(1)" });
    assert.ok(!visible("link"));
    assert.equal($("link").getAttribute("href"), null);
    click("sign-in");
    assert.equal(opened.length, 0);
  });
});

describe("the link comes in messages, not traits", () => {
  test("initialize says hello at once, before any view: the kernel answers with the current link", () => {
    const model = fakeModel();
    widget().initialize({ model: /** @type {any} */ (model) });
    assert.deepEqual(model.sent, [{ type: "hello" }]);
  });

  test("the link from a message is what the click opens; a link-like trait is not", () => {
    const { model, click } = mount({ start_url: "http://127.0.0.1:1/start/old-trait" });
    model.kernel({ link: START });
    click("sign-in");
    assert.deepEqual(opened[0].steps, ["open", "opener=null", `href=${START}`]);
    assert.deepEqual(model.sent, []);
  });

  test("a link that came before the view was rendered is kept for it", () => {
    const model = fakeModel();
    const def = widget();
    mounted.push(def.initialize({ model: /** @type {any} */ (model) }));
    model.kernel({ link: START }); // the kernel was quick; the output area shows the panel later
    const el = page.document.createElement("div");
    page.document.body.append(el);
    mounted.push(def.render({ model: /** @type {any} */ (model), el: /** @type {any} */ (el) }));
    /** @type {HTMLElement} */ (el.querySelector('[data-testid="sign-in"]')).click();
    assert.deepEqual(opened[0].steps, ["open", "opener=null", `href=${START}`]);
  });

  test("a repeated message does not make a spent link fresh again", () => {
    const { model, click } = mount({ link: START });
    click("sign-in");
    model.message({ type: "link", url: START }); // the kernel repeats each link a few times
    click("sign-in");
    assert.equal(opened.length, 1);
    assert.deepEqual(model.sent, [{ type: "sign_in" }]);
  });

  test("a withdrawn link disables opening it: neither linked nor opened, Sign in asks for a new one", () => {
    const { model, $, visible, click, status } = mount({ state: "waiting", link: START });
    assert.ok(visible("link"));
    model.kernel({ link: "" });
    assert.ok(!visible("link"));
    assert.equal($("link").getAttribute("href"), null);
    click("sign-in");
    assert.equal(opened.length, 0);
    assert.deepEqual(model.sent, [{ type: "sign_in" }]);
    assert.equal(status(), "Preparing a new sign-in link…");
  });

  test("while link_ready is false a held link is not opened (the trait and the message disagree)", () => {
    const { model, click } = mount({ link: START });
    model.kernel({ link_ready: false });
    click("sign-in");
    assert.equal(opened.length, 0);
    model.kernel({ link_ready: true });
    click("sign-in");
    assert.equal(opened.length, 1);
  });

  test("messages that are not a link are ignored", () => {
    const { model, click } = mount({ link: START });
    for (const junk of [null, "x", { type: "link" }, { type: "link", url: 5 }, { type: "other", url: NEXT }, { id: 1, kind: "anywidget-command" }]) {
      model.message(junk);
    }
    click("sign-in");
    assert.deepEqual(opened[0].steps, ["open", "opener=null", `href=${START}`]);
  });

  test("several views of one widget share the link and what was spent", () => {
    const first = mount({ state: "waiting" });
    const second = first.view();
    first.model.kernel({ link: START });
    for (const v of [first, second]) assert.equal(v.$("link").getAttribute("href"), START);
    first.click("sign-in");
    assert.equal(opened.length, 1);
    assert.ok(!second.visible("link"), "a link spent in one view is spent in all");
    assert.equal(second.$("sign-in").textContent, "Sign in again");
    second.click("sign-in");
    assert.equal(opened.length, 1);
    assert.deepEqual(first.model.sent, [{ type: "sign_in" }]);
    const third = first.view(); // rendered later, e.g. "Create New View for Output"
    assert.ok(!third.visible("link"));
    first.cleanup();
    first.model.kernel({ link: NEXT });
    for (const v of [second, third]) assert.equal(v.$("link").getAttribute("href"), NEXT);
  });

  test("two widgets do not share their links", () => {
    const one = mount({ link: START });
    const two = mount({ link: NEXT });
    one.click("sign-in");
    two.click("sign-in");
    assert.deepEqual(opened.map((o) => o.steps.at(-1)), [`href=${START}`, `href=${NEXT}`]);
  });
});

describe("Cancel and Sign out", () => {
  test("send their messages", () => {
    const waiting = mount({ state: "waiting", link: START });
    waiting.click("cancel");
    assert.deepEqual(waiting.model.sent, [{ type: "cancel" }]);
    const signedIn = mount({ state: "signed_in", account: "a@x" });
    signedIn.click("sign-out");
    assert.deepEqual(signedIn.model.sent, [{ type: "sign_out" }]);
  });
});

describe("device mode", () => {
  const verification = "https://idp.example.com/device?user_code=WDJB-MJHT";

  test("shows the code large and the verification page, which can be opened more than once", () => {
    const { model, $, visible, click, status } = mount({ state: "waiting", mode: "device", link: verification, user_code: "WDJB-MJHT" });
    assert.equal(status(), "Open idp.example.com and enter code WDJB-MJHT");
    assert.ok(visible("user-code"));
    assert.equal($("user-code").textContent, "WDJB-MJHT");
    assert.equal($("link").getAttribute("href"), verification);
    click("sign-in");
    click("sign-in");
    assert.equal(opened.length, 2);
    assert.deepEqual(opened[1].steps, ["open", "opener=null", `href=${verification}`]);
    assert.ok(visible("link"));
    assert.deepEqual(model.sent, []);
  });
});

describe("paste mode", () => {
  const landed = "http://127.0.0.1/callback?code=SECRET-CODE&state=SECRET-STATE";

  test("submits the address, clears the input and never shows it", () => {
    const { model, el, $, visible, click } = mount({ state: "waiting", mode: "paste", link: START });
    assert.ok(visible("paste-input"));
    const input = /** @type {HTMLInputElement} */ ($("paste-input"));
    assert.equal(input.type, "password");
    assert.equal(input.getAttribute("autocomplete"), "off");
    input.value = `  ${landed} `;
    let navigated = true;
    input.form?.addEventListener("submit", (event) => { navigated = !event.defaultPrevented; });
    click("paste-submit");
    assert.equal(navigated, false, "the notebook page must not be submitted away");
    assert.deepEqual(model.sent, [{ type: "paste", url: landed }]);
    assert.equal(input.value, "");
    assert.ok(!el.innerHTML.includes("SECRET") && !el.textContent?.includes("SECRET"));
    assert.match($("note").textContent ?? "", /Sent/);
  });

  test("an empty submit sends nothing; the box is hidden outside paste mode", () => {
    const { model, click } = mount({ state: "waiting", mode: "paste", link: START });
    click("paste-submit");
    assert.deepEqual(model.sent, []);
    assert.ok(!mount({ state: "waiting", link: START }).visible("paste-input"));
  });
});

describe("trait values are text, never markup", () => {
  test("issuer, message, hint, account, notice and mode_reason with HTML create no element", () => {
    const { model, el, $, status } = mount({ state: "error", issuer: XSS, profile: XSS, message: XSS, hint: XSS, notice: XSS, mode_reason: XSS });
    model.kernel({ state: "signed_in", account: XSS });
    model.kernel({ state: "error" });
    assert.equal(el.querySelector("img"), null);
    assert.ok(status().includes(XSS));
    assert.ok($("notice").textContent?.includes(XSS));
    assert.equal(/** @type {any} */ (page).pwned, undefined);
  });
});

describe("cleanup", () => {
  test("removes listeners, the timer and the panel; later trait changes touch nothing", (t) => {
    const clock = fakeClock(t);
    const { model, el, $, cleanup } = mount({ state: "signed_in", account: "a@x", expires_at: NOW_MS / 1000 + 600 });
    const panel = $("oauth-login-panel");
    assert.ok(model.listenerCount() > 0);
    assert.equal(clock.timers.size, 1);
    cleanup();
    assert.equal(model.listenerCount(), 0);
    assert.equal(clock.timers.size, 0);
    assert.equal(el.children.length, 0);
    const before = panel.outerHTML;
    model.kernel({ state: "waiting", link: START });
    clock.advance(120_000);
    assert.equal(panel.outerHTML, before);
    cleanup(); // twice is harmless
  });

  test("anywidget 0.11's abort signal cleans up too", (t) => {
    const clock = fakeClock(t);
    const host = new AbortController();
    const { model, el } = mount({ state: "signed_in", account: "a@x", expires_at: NOW_MS / 1000 + 600 }, host.signal);
    host.abort();
    assert.equal(model.listenerCount(), 0);
    assert.equal(clock.timers.size, 0);
    assert.equal(el.children.length, 0);
  });

  test("the module has anywidget's shape: a factory (called once per widget) of initialize and render", () => {
    assert.equal(typeof widget, "function");
    const def = widget();
    assert.equal(typeof def.initialize, "function");
    assert.equal(typeof def.render, "function");
    assert.equal(typeof mount().cleanup, "function");
  });

  test("initialize's cleanup stops listening to the kernel's messages", () => {
    const model = fakeModel();
    const stop = widget().initialize({ model: /** @type {any} */ (model) });
    assert.equal(model.handlers.get("msg:custom")?.size, 1);
    stop();
    assert.equal(model.handlers.get("msg:custom")?.size, 0);
  });
});

describe("server relay", () => {
  test("a start path on the Jupyter server opens on this page's origin, which it passes along", () => {
    const { click } = mount({ state: "signed_out", mode: "server", link: "/user/alice/oauth-login/start/abc" });
    click("sign-in");
    assert.equal(opened.length, 1);
    assert.deepEqual(opened[0].steps, [
      "open", "opener=null",
      "href=http://localhost:8888/user/alice/oauth-login/start/abc?origin=http%3A%2F%2Flocalhost%3A8888",
    ]);
  });

  test("absolute links are left alone; protocol-relative ones are not treated as paths", () => {
    const loc = { origin: "https://hub.example.com" };
    assert.equal(resolveStart("http://127.0.0.1:5/start/x", loc), "http://127.0.0.1:5/start/x");
    assert.equal(resolveStart("//evil.example/start", loc), "//evil.example/start");
    assert.equal(resolveStart("/s", loc), "https://hub.example.com/s?origin=https%3A%2F%2Fhub.example.com");
  });
});

describe("links from elsewhere are opened only when safe", () => {
  for (const link of [
    "smb://evil.example/share", "file:///etc/passwd", "data:text/html,hi", "JavaScript:alert(1)",
    "http://idp.example.com/device", // plain http to another computer
  ]) {
    test(`a device verification link ${link} is neither linked, shown nor opened`, () => {
      const { $, visible, click, status } = mount({ state: "waiting", mode: "device", link: link, user_code: "WDJB" });
      assert.ok(!visible("link"));
      assert.equal($("link").getAttribute("href"), null);
      assert.ok(!status().includes("evil.example") && !status().includes("idp.example.com"));
      click("sign-in");
      assert.equal(opened.length, 0);
    });
  }

  test("http is fine on this computer: localhost, 127.0.0.1 and [::1]", () => {
    for (const link of ["http://localhost:3000/device", "http://127.0.0.1:3000/device", "http://[::1]:3000/device"]) {
      const { $ } = mount({ state: "waiting", mode: "device", link: link, user_code: "WDJB" });
      assert.equal($("link").getAttribute("href"), link);
    }
  });

  test("a start path that a browser would read as another host is not opened", () => {
    for (const path of ["/\\evil.example/start/x", "/\t/evil.example/start/x"]) {
      const { click, $ } = mount({ state: "signed_out", mode: "server", link: path });
      click("sign-in");
      assert.equal(opened.length, 0, path);
      assert.equal($("link").getAttribute("href"), null);
    }
  });

  test("a start path on a Jupyter server reached over plain http opens on that same origin", async () => {
    await page.happyDOM.close();
    page = new Window({ url: "http://jupyter.lan:8888/lab" });
    // @ts-ignore: as in beforeEach
    page.open = (...args) => {
      opened.push({ args, steps: ["open"] });
      return { set opener(_) {}, location: { set href(/** @type {string} */ value) { opened.at(-1)?.steps.push(`href=${value}`); } } };
    };
    const { click } = mount({ state: "signed_out", mode: "server", link: "/oauth-login/start/abc" });
    click("sign-in");
    assert.deepEqual(opened[0].steps, [
      "open", "href=http://jupyter.lan:8888/oauth-login/start/abc?origin=http%3A%2F%2Fjupyter.lan%3A8888",
    ]);
  });
});

test("on a page with an opaque origin (a saved HTML file) a javascript: link is still refused", async () => {
  await page.happyDOM.close();
  page = new Window({ url: "file:///home/alice/notebook.html" });
  page.open = () => { opened.push({ args: [], steps: ["open"] }); return null; };
  const { $, click } = mount({ state: "waiting", mode: "device", link: "javascript:alert(1)", user_code: "X" });
  click("sign-in");
  assert.equal(opened.length, 0);
  assert.equal($("link").getAttribute("href"), null);
});
