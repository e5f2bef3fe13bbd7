// Every HTML page the dev provider shows.
//
// The stock oidc-provider pages import Google web fonts; a headless browser confined to loopback
// would stall or log errors on them, so all pages here are self-contained, with stable element ids
// for the browser helpers in devtools/browser.py. The empty icon link stops favicon requests, whose
// 404s would show up as console errors in XSS checks.

export function escape(value) {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function layout(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escape(title)}</title>
<style>body{font-family:sans-serif;max-width:28em;margin:2em auto;padding:0 1em}
input,button{display:block;margin:.5em 0;font-size:1em}.error{color:#b00}</style>
</head>
<body>
<h1>${escape(title)}</h1>
${body}
</body>
</html>`;
}

export function login({ uid, clientId, error, login: value }) {
  const message = error ? `<p id="error" class="error">${escape(error)}</p>` : '';
  return layout('Sign in', `<p>to continue to <strong id="client">${escape(clientId)}</strong></p>
${message}
<form id="login-form" method="post" action="/interaction/${escape(uid)}/login" autocomplete="off">
<input id="login" name="login" placeholder="Username" value="${escape(value)}" required autofocus>
<input id="password" name="password" type="password" placeholder="Password" required>
<button id="submit" type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escape(uid)}/abort">
<button id="cancel" type="submit">Cancel</button>
</form>`);
}

export function consent({ uid, clientId, scopes, claims }) {
  const items = scopes.map((s) => `<li class="scope">${escape(s)}</li>`).join('');
  const claimItems = claims.map((c) => `<li class="claim">${escape(c)}</li>`).join('');
  return layout('Authorize', `<p><strong id="client">${escape(clientId)}</strong> asks for:</p>
<ul id="scopes">${items}</ul>
${claimItems ? `<ul id="claims">${claimItems}</ul>` : ''}
<form id="consent-form" method="post" action="/interaction/${escape(uid)}/consent">
<button id="allow" type="submit" name="decision" value="allow">Allow</button>
<button id="deny" type="submit" name="decision" value="deny">Deny</button>
</form>`);
}

// `form` strings below come from oidc-provider and carry its xsrf token: inserted as-is.

export function deviceInput(form, err) {
  let message = 'Enter the code displayed on your device.';
  if (err && (err.userCode || err.name === 'NoCodeError')) message = 'The code you entered is incorrect.';
  else if (err?.name === 'AbortedError') message = 'The sign-in request was aborted.';
  else if (err) message = 'There was an error processing your request.';
  return layout('Device sign-in', `<p id="${err ? 'error' : 'message'}"${err ? ' class="error"' : ''}>${escape(message)}</p>
${form}
<button id="submit" type="submit" form="op.deviceInputForm">Continue</button>`);
}

export function deviceConfirm(form, clientId, userCode) {
  return layout('Confirm device', `<p><strong id="client">${escape(clientId)}</strong> shows this code:</p>
<p><code id="user-code">${escape(userCode)}</code></p>
${form}
<button id="confirm" type="submit" form="op.deviceConfirmForm">Continue</button>
<button id="abort" type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>`);
}

export function deviceSuccess(clientId) {
  return layout('Device sign-in complete', `<p id="success">Sign-in to <strong>${escape(clientId)}</strong> succeeded.
You can close this page.</p>`);
}

export function logout(form, host) {
  return layout('Sign out', `<p>Sign out from ${escape(host)}?</p>
${form}
<button id="logout" type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
<button id="stay" type="submit" form="op.logoutForm">Stay signed in</button>`);
}

export function postLogout(clientId) {
  return layout('Signed out', `<p id="signed-out">You are signed out${clientId ? ` of ${escape(clientId)}` : ''}.</p>`);
}

export function error(out) {
  const rows = Object.entries(out)
    .map(([key, value]) => `<p><strong>${escape(key)}</strong>: <span id="${escape(key)}">${escape(value)}</span></p>`)
    .join('\n');
  return layout('Error', rows);
}
