// The tests' OAuth2 authorization server: npm's oauth2-mock-server (pinned in
// package-lock.json, installed by scripts/install-test-deps.sh), set up the way an
// administrator registers apps. Its own token endpoint issues the RS256 JWTs; this file
// only configures it through its documented hooks:
//   - CLIENTS (a JSON file, read at every request so a test can revoke a client):
//     { "<client_id>": { "secret": "...", "mailbox": "soc-...@mass.gov",
//                        "expires_in": 3600, "revoked": false, "refresh_token": "..." } }
//     An unknown client, a wrong secret or a revoked client gets 401 invalid_client;
//     a refresh token neither registered nor issued here 400 invalid_grant. The token names the mailbox in `email`
//     (what Dovecot's oauth2 passdb compares with the SASL user) and the client in `sub`.
//   - KEYDIR: the public key as PEM at KEYDIR/default/RS256/<kid>, where Dovecot's local
//     JWT validation (local_validation_key_dict = fs:posix:prefix=KEYDIR/) looks it up.
// Every token request is logged on stdout: "token client=<id> grant=<type> status=<n>".
// Usage: node server.js CLIENTS KEYDIR [TLS_KEY TLS_CERT]  (HTTPS with both; prints
// "listening <issuer url>" when ready)
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { OAuth2Server } = require('oauth2-mock-server');

function clientOf(req) {
  const header = req.headers.authorization || '';
  if (header.startsWith('Basic ')) {
    const [id, secret] = Buffer.from(header.slice(6), 'base64').toString().split(':');
    return { id: decodeURIComponent(id), secret: decodeURIComponent(secret || '') };
  }
  return { id: req.body.client_id, secret: req.body.client_secret };
}

function registered(file, id) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'))[id];
  } catch (e) {
    return undefined;
  }
}

async function main() {
  const [clients, keyDir, tlsKey, tlsCert] = process.argv.slice(2);
  const server = new OAuth2Server(tlsKey, tlsCert);
  const jwk = await server.issuer.keys.generate('RS256');
  const pem = crypto.createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
  fs.mkdirSync(path.join(keyDir, 'default', 'RS256'), { recursive: true });
  fs.writeFileSync(path.join(keyDir, 'default', 'RS256', jwk.kid), pem);

  server.service.on('beforeTokenSigning', (token, req) => {
    const { id } = clientOf(req);
    const c = registered(clients, id) || {};
    const now = Math.floor(Date.now() / 1000);
    token.payload.sub = id;
    token.payload.email = c.mailbox;
    token.payload.exp = now + (c.expires_in || 3600);
    // Dovecot refuses a token whose nbf lies before its iat ("conflicting" times).
    token.payload.iat = now;
    token.payload.nbf = now;
  });
  // Refresh tokens this server handed out (it rotates them at every refresh grant).
  const issued = new Set();
  server.service.on('beforeResponse', (response, req) => {
    const { id, secret } = clientOf(req);
    const c = registered(clients, id);
    if (!c || c.revoked || c.secret !== secret) {
      response.statusCode = 401;
      response.body = {
        error: 'invalid_client',
        error_description: c && c.revoked ? 'The client has been revoked.' : 'Client authentication failed.',
      };
    } else if (req.body.grant_type === 'refresh_token' && req.body.refresh_token !== c.refresh_token && !issued.has(req.body.refresh_token)) {
      response.statusCode = 400;
      response.body = { error: 'invalid_grant', error_description: 'The refresh token is invalid.' };
    } else {
      response.body.expires_in = c.expires_in || 3600;
      if (response.body.refresh_token) issued.add(response.body.refresh_token);
    }
    console.log(`token client=${id} grant=${req.body.grant_type} status=${response.statusCode}`);
  });
  await server.start(0, '127.0.0.1');
  console.log(`listening ${server.issuer.url}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
