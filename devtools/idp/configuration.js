// oidc-provider configuration for the dev provider: accounts, static clients, features, pages.
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import { errors } from 'oidc-provider';

import MemoryAdapter from './adapter.js';
import * as pages from './pages.js';

export const accounts = {
  alice: { password: 'alice-pw', name: 'Alice Liddell', email: 'alice@example.com' },
  bob: { password: 'bob-pw', name: 'Bob', email: 'bob@example.com' },
};

const LOOPBACK_REDIRECT_URIS = [
  'http://127.0.0.1/callback',
  'http://localhost/callback',
  'http://127.0.0.1/oauth2/callback',
  'http://localhost/oauth2/callback',
  // The jupyter-server relay of a local test server, and a local test JupyterHub's hub-wide URI.
  'http://127.0.0.1/oauth-login/callback',
  'http://localhost/oauth-login/callback',
  'http://127.0.0.1/hub/user-redirect/oauth-login/callback',
  'http://localhost/hub/user-redirect/oauth-login/callback',
];

// Native public clients: loopback redirect URIs match on any port (RFC 8252 section 7.3).
function nativeClient(clientId, extra = {}) {
  return {
    client_id: clientId,
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
    redirect_uris: LOOPBACK_REDIRECT_URIS,
    ...extra,
  };
}

// Fresh signing keys per process: the package's quick-start keys are public.
function signingKeys() {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return { keys: [{ ...rsa, kid: 'rsa', use: 'sig', alg: 'RS256' }, { ...ec, kid: 'ec', use: 'sig', alg: 'ES256' }] };
}

async function findAccount(_ctx, sub) {
  const account = accounts[sub];
  if (!account) return undefined;
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        name: account.name,
        preferred_username: sub,
        email: account.email,
        email_verified: true,
      };
    },
  };
}

export function configuration() {
  return {
    adapter: MemoryAdapter,
    jwks: signingKeys(),
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    clients: [nativeClient('notebook'), nativeClient('short-lived', { access_token_ttl: 2 })],
    findAccount,
    // The default 15 s would hide expiry in tests that wait for a 2 s access token to lapse.
    clockTolerance: 0,
    // Put profile/email claims in the ID token, so clients can show who signed in without userinfo.
    conformIdTokenClaims: false,
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    extraClientMetadata: {
      properties: ['access_token_ttl'],
      validator(_ctx, key, value) {
        if (key === 'access_token_ttl' && value !== undefined && !(Number.isInteger(value) && value > 0)) {
          throw new errors.InvalidClientMetadata('access_token_ttl must be a positive integer (seconds)');
        }
      },
    },
    ttl: {
      AccessToken: (_ctx, _token, client) => client?.access_token_ttl ?? 3600,
      AuthorizationCode: 60,
      DeviceCode: 600,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 3600,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        async userCodeInputSource(ctx, form, _out, err) {
          ctx.type = 'html';
          ctx.body = pages.deviceInput(form, err);
        },
        async userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
          ctx.type = 'html';
          ctx.body = pages.deviceConfirm(form, client.clientId, userCode);
        },
        async successSource(ctx) {
          ctx.type = 'html';
          ctx.body = pages.deviceSuccess(ctx.oidc.client.clientId);
        },
      },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      // Open dynamic registration: tests register clients with their own metadata (e.g. a short TTL).
      registration: { enabled: true, initialAccessToken: false },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = pages.logout(form, ctx.host);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = pages.postLogout(ctx.oidc.client?.clientId);
        },
      },
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = pages.error(out);
    },
  };
}
