// Real OpenID Connect provider (npm `oidc-provider`, pinned in package.json)
// used by latchkey's integration tests. NOT for production use.
//
// Env:
//   OIDC_PORT        port to listen on (default 0 = pick a free port)
//   OIDC_HOST        address to bind (default 127.0.0.1)
//   OIDC_READY_FILE  if set, "OIDC_ISSUER=<issuer>\n" is written here once listening
//
// On listen, prints exactly one line to stdout: OIDC_ISSUER=http://127.0.0.1:PORT
// (everything else oidc-provider says goes to stderr).

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

// oidc-provider prints development-mode warnings via console.warn/info/log;
// keep stdout reserved for the single OIDC_ISSUER= line.
const toStderr = (...args) => process.stderr.write(`${args.map(String).join(' ')}\n`);
console.log = toStderr;
console.info = toStderr;
console.warn = toStderr;

const { default: Provider } = await import('oidc-provider');

const HOST = process.env.OIDC_HOST || '127.0.0.1';
const PORT = Number.parseInt(process.env.OIDC_PORT || '0', 10);
const READY_FILE = process.env.OIDC_READY_FILE;

const ACCOUNTS = {
  alice: { email: 'alice@example.com', name: 'Alice', groups: ['eng', 'sre'] },
  bob: { email: 'bob@example.com', name: 'Bob', groups: ['eng'] },
  carol: { email: 'carol@example.com', name: 'Carol', groups: ['security'] },
};

function accountFor(id) {
  const known = ACCOUNTS[id];
  return {
    sub: id,
    email: known ? known.email : `${id}@example.com`,
    email_verified: true,
    name: known ? known.name : id,
    groups: known ? [...known.groups] : [],
  };
}

// Fresh RS256 signing key per process (kid is stable so tests can assert on it).
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = {
  ...privateKey.export({ format: 'jwk' }),
  kid: 'latchkey-test-rs256',
  alg: 'RS256',
  use: 'sig',
};

// Bind first so that OIDC_PORT=0 resolves to a concrete port before we build
// the issuer string (the issuer must contain the real port).
const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(PORT, HOST, resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const configuration = {
  clients: [
    {
      client_id: 'latchkey-cli',
      client_name: 'latchkey CLI',
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      grant_types: [
        'urn:ietf:params:oauth:grant-type:device_code',
        'authorization_code',
        'refresh_token',
      ],
      response_types: ['code'],
      // oidc-provider 9 (lib/models/client.js #redirectAllowed) matches
      // http loopback redirect URIs of native clients ignoring the port
      // (RFC 8252 section 7.3), so http://127.0.0.1:<any>/callback is accepted.
      // The second is the broker's own, for Slack reviews that need a fresh login.
      redirect_uris: ['http://127.0.0.1/callback', 'http://127.0.0.1/v1/slack/callback'],
      // Always put auth_time in ID tokens (otherwise only with max_age/prompt=login).
      require_auth_time: true,
    },
  ],
  jwks: { keys: [signingJwk] },
  cookies: {
    // Fixed cookie signing key. Cookies are only marked Secure when the
    // request is https (ctx.secure), so plain http on 127.0.0.1 works.
    keys: ['latchkey-test-cookie-key-not-secret-0123456789'],
  },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: false },
  },
  responseTypes: ['code'],
  pkce: {
    // Always require PKCE for the code flow; only S256 is supported by v9.
    required: () => true,
  },
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 120,
    DeviceCode: 600,
    IdToken: 900,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
    RefreshToken: 3600,
  },
  async findAccount(_ctx, id) {
    if (!id) return undefined;
    const claims = accountFor(id);
    return {
      accountId: id,
      async claims() {
        return { ...claims };
      },
    };
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html><body><h1>oops</h1><pre id="error">${
      Object.entries(out).map(([k, v]) => `${k}: ${String(v).replace(/[<>&]/g, '')}`).join('\n')
    }</pre></body></html>`;
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, err) => toStderr('server_error', err && err.stack));

server.on('request', provider.callback());

const line = `OIDC_ISSUER=${issuer}`;
if (READY_FILE) {
  // write-then-rename so a poller never sees a partial line
  fs.writeFileSync(`${READY_FILE}.tmp`, `${line}\n`);
  fs.renameSync(`${READY_FILE}.tmp`, READY_FILE);
}
process.stdout.write(`${line}\n`);

const shutdown = () => server.close(() => process.exit(0));
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
