// Development OpenID provider for oauth-login's tests and demo. Never expose it beyond loopback.
//
//   node devtools/idp/server.js [--port N] [--host 127.0.0.1] [--verbose] [--exit-on-stdin-eof]
//
// When ready it prints exactly one line to stdout, {"issuer": "http://HOST:PORT"}, and nothing else.
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    verbose: { type: 'boolean', default: false },
    'exit-on-stdin-eof': { type: 'boolean', default: false },
  },
});

// oidc-provider prints notices with console.info (stdout) and warnings with console.warn (e.g.
// "Unsupported runtime" on Node 20). Stdout carries only the ready line; the rest is opt-in.
console.log = console.error;
console.info = args.verbose ? console.error : () => {};
console.warn = args.verbose ? console.error : () => {};

// Imported after silencing: the runtime warning is printed at import time.
const { default: Provider, errors } = await import('oidc-provider');
const { accounts, configuration } = await import('./configuration.js');
const pages = await import('./pages.js');

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(args.port), args.host, resolve);
});
const urlHost = args.host.includes(':') ? `[${args.host}]` : args.host;
const issuer = `http://${urlHost}:${server.address().port}`;
const provider = new Provider(issuer, configuration());

// ---- test-only counters (GET /_test/stats, POST /_test/reset) ----
const TOKEN_GRANTS = ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'];
const TOKEN_ERRORS = [
  'invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type',
  'invalid_scope', 'authorization_pending', 'slow_down', 'access_denied', 'expired_token',
];
let stats;
function resetStats() {
  stats = {
    token_requests: Object.fromEntries(TOKEN_GRANTS.map((g) => [g, 0])),
    token_errors: Object.fromEntries(TOKEN_ERRORS.map((e) => [e, 0])),
    revocations: 0,
    // Test-only: the PKCE verifiers received, so leak tests can look for them in saved notebooks.
    code_verifiers: [],
  };
}
resetStats();
const bump = (counts, key) => { counts[key] = (counts[key] ?? 0) + 1; };

// Runs around every provider route, after its error handler has turned errors into responses.
provider.use(async (ctx, next) => {
  await next();
  const route = ctx.oidc?.route;
  if (route === 'token') {
    bump(stats.token_requests, ctx.oidc.params?.grant_type ?? 'unknown');
    if (ctx.oidc.params?.code_verifier) stats.code_verifiers.push(ctx.oidc.params.code_verifier);
  }
  else if (route === 'revocation') stats.revocations += 1;
});
// Every token endpoint error, whatever its cause: bad client, reused refresh token, pending device code.
provider.on('grant.error', (_ctx, err) => bump(stats.token_errors, err.error ?? 'server_error'));
provider.on('server_error', (ctx) => {
  if (ctx.oidc?.route === 'token') bump(stats.token_errors, 'server_error');
});

// ---- interactions: login and consent, served with our own pages ----
function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 64 * 1024) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

// What Allow grants: the scopes the prompt found missing (offline_access only appears there with
// prompt=consent), or, when an earlier grant already covers them, the scopes requested.
function consentItems(details) {
  const { missingOIDCScope, missingOIDCClaims } = details.prompt.details;
  const scopes = missingOIDCScope ?? String(details.params.scope ?? '').split(' ').filter(Boolean);
  return { scopes, claims: missingOIDCClaims ?? [] };
}

async function grantRequested(details) {
  const { prompt, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  // Grant exactly what the consent prompt found missing, nothing more.
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const savedId = await grant.save();
  return grantId ? {} : { grantId: savedId };
}

const DENIED = { error: 'access_denied', error_description: 'End-User aborted interaction' };

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new errors.SessionNotFound('interaction mismatch');
  const clientId = details.params.client_id;
  const prompt = details.prompt.name;

  if (req.method === 'GET' && !action) {
    if (prompt === 'login') return send(res, 200, pages.login({ uid, clientId }));
    if (prompt === 'consent') return send(res, 200, pages.consent({ uid, clientId, ...consentItems(details) }));
    throw new errors.InvalidRequest(`unsupported prompt ${prompt}`);
  }
  if (req.method !== 'POST') return send(res, 405, pages.error({ error: 'method not allowed' }));

  const form = await readForm(req);
  if (action === 'abort') return provider.interactionFinished(req, res, DENIED, { mergeWithLastSubmission: false });
  if (action === 'login' && prompt === 'login') {
    const login = form.get('login') ?? '';
    const account = Object.hasOwn(accounts, login) ? accounts[login] : undefined;
    if (!account || account.password !== form.get('password')) {
      return send(res, 200, pages.login({ uid, clientId, login, error: 'Wrong username or password.' }));
    }
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  if (action === 'consent' && prompt === 'consent') {
    if (form.get('decision') !== 'allow') {
      return provider.interactionFinished(req, res, DENIED, { mergeWithLastSubmission: false });
    }
    const consent = await grantRequested(details);
    return provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }
  throw new errors.InvalidRequest(`cannot ${action} during the ${prompt} prompt`);
}

// ---- routing: our routes first, everything else to oidc-provider ----
const providerCallback = provider.callback();
const INTERACTION = /^\/interaction\/([\w-]+)(?:\/(login|consent|abort))?$/;

server.on('request', async (req, res) => {
  const { pathname } = new URL(req.url, issuer);
  try {
    if (pathname === '/_test/stats' && req.method === 'GET') {
      return send(res, 200, JSON.stringify(stats), 'application/json');
    }
    if (pathname === '/_test/reset' && req.method === 'POST') {
      resetStats();
      return send(res, 204, '');
    }
    const match = INTERACTION.exec(pathname);
    if (match) return await interaction(req, res, match[1], match[2]);
    return providerCallback(req, res);
  } catch (err) {
    const status = err.statusCode ?? 500;
    if (status >= 500 || args.verbose) console.error(err);
    if (!res.headersSent) {
      send(res, status, pages.error({ error: err.error ?? 'server_error', error_description: err.error_description }));
    }
    return undefined;
  }
});

if (args['exit-on-stdin-eof']) {
  // The parent holds our stdin open; when it dies, even by SIGKILL, we follow instead of lingering.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

process.stdout.write(`{"issuer": ${JSON.stringify(issuer)}}\n`);
