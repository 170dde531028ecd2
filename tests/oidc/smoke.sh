#!/usr/bin/env bash
# End-to-end smoke test of tests/oidc/provider.mjs, driven with curl + a cookie
# jar (no browser). Runs (a) the device flow and (b) authorization code + PKCE
# with a loopback redirect on an arbitrary port, then decodes and checks the ID
# tokens (signature verified against /jwks).
#
# Usage: tests/oidc/smoke.sh http://127.0.0.1:PORT
# Needs: bash, curl, node (already required by provider.mjs), openssl.
set -euo pipefail

ISSUER="${1:?usage: $0 ISSUER (e.g. http://127.0.0.1:PORT)}"
ISSUER="${ISSUER%/}"
CLIENT_ID=latchkey-cli
SCOPE='openid email profile groups offline_access'
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*" >&2; }

# abs URL: Location headers are sometimes relative ("/interaction/UID"), sometimes absolute.
abs() { case "$1" in http://*|https://*) printf '%s' "$1" ;; *) printf '%s%s' "$ISSUER" "$1" ;; esac; }
# location HEADERS_FILE -> value of the Location header (empty if none)
location() { grep -i '^location:' "$1" | head -n1 | sed -E 's/^[Ll]ocation:[[:space:]]*//' | tr -d '\r'; }
# status HEADERS_FILE -> HTTP status code
status() { head -n1 "$1" | awk '{print $2}'; }
# hidden NAME FILE -> value of <input type="hidden" name="NAME" value="...">
hidden() { grep -oE "name=\"$1\" value=\"[^\"]*\"" "$2" | head -n1 | sed -E 's/.*value="([^"]*)"/\1/'; }
# form_action FILE -> action of the first <form ... action="..." method="post">
form_action() { grep -oE '<form[^>]*action="[^"]*"' "$1" | head -n1 | sed -E 's/.*action="([^"]*)".*/\1/'; }
# json FIELD FILE -> top-level JSON string/number field
json() { node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const v=o[process.argv[2]];process.stdout.write(v===undefined?"":String(v))' "$2" "$1"; }

# GET/POST through the cookie jar; headers -> $OUT.h, body -> $OUT.b. Never follows redirects.
req() { # JAR OUT curl-args...
  local jar="$1" out="$2"; shift 2
  curl -sS -b "$jar" -c "$jar" -D "$out.h" -o "$out.b" "$@"
}

# verify_id_token FILE_WITH_TOKEN_JSON EXPECTED_SUB EXPECTED_EMAIL EXPECTED_GROUPS_JSON EXPECTED_NONCE_OR_EMPTY
verify_id_token() {
  curl -sS "$ISSUER/jwks" -o "$WORK/jwks.json"
  node --input-type=module - "$1" "$ISSUER" "$CLIENT_ID" "$2" "$3" "$4" "$5" "$WORK/jwks.json" <<'EOF'
import * as fs from 'node:fs';
import * as crypto from 'node:crypto';
const [tokFile, iss, aud, sub, email, groupsJson, nonce, jwksFile] = process.argv.slice(2);
const tok = JSON.parse(fs.readFileSync(tokFile, 'utf8'));
const bad = (m) => { console.error(`FAIL: ${m}`); process.exit(1); };
if (!tok.id_token) bad('no id_token in token response');
const [h, p, s] = tok.id_token.split('.');
const header = JSON.parse(Buffer.from(h, 'base64url'));
const claims = JSON.parse(Buffer.from(p, 'base64url'));
console.error('header :', JSON.stringify(header));
console.error('payload:', JSON.stringify(claims));
const jwk = JSON.parse(fs.readFileSync(jwksFile, 'utf8')).keys.find((k) => k.kid === header.kid);
if (!jwk) bad(`kid ${header.kid} not in /jwks`);
if (header.alg !== 'RS256') bad(`alg ${header.alg}`);
const ok = crypto.verify('sha256', Buffer.from(`${h}.${p}`), crypto.createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
if (!ok) bad('bad ID token signature');
const now = Math.floor(Date.now() / 1000);
if (claims.iss !== iss) bad(`iss ${claims.iss} != ${iss}`);
if (claims.aud !== aud) bad(`aud ${claims.aud}`);
if (claims.sub !== sub) bad(`sub ${claims.sub}`);
if (claims.email !== email) bad(`email ${claims.email}`);
if (claims.email_verified !== true) bad('email_verified');
if (JSON.stringify(claims.groups) !== groupsJson) bad(`groups ${JSON.stringify(claims.groups)}`);
if (typeof claims.auth_time !== 'number' || claims.auth_time > now + 5) bad('auth_time');
if (claims.exp - claims.iat < 600) bad(`id token lifetime ${claims.exp - claims.iat}s < 600s`);
if (nonce && claims.nonce !== nonce) bad(`nonce ${claims.nonce} != ${nonce}`);
if (!tok.access_token) bad('no access_token');
if (!tok.refresh_token) bad('no refresh_token (offline_access)');
console.error(`nonce in ID token: ${claims.nonce === undefined ? '(absent)' : claims.nonce}`);
EOF
}

# ---------------------------------------------------------------------------
# login_and_consent JAR OUTPREFIX FIRST_URL LOGIN
# Starts at FIRST_URL (an /interaction/UID page), logs in, consents.
# Leaves the final redirect's headers in $OUTPREFIX.done.h
login_and_consent() {
  local jar="$1" o="$2" url="$3" login="$4" action
  step "GET $url (login page)"
  req "$jar" "$o.login" "$url"
  grep -q 'name="prompt" value="login"' "$o.login.b" || fail "no login form at $url"
  action="$(form_action "$o.login.b")"
  step "POST $action prompt=login login=$login"
  req "$jar" "$o.loginpost" -X POST "$action" --data-urlencode prompt=login \
    --data-urlencode "login=$login" --data-urlencode password=whatever
  [ "$(status "$o.loginpost.h")" = 303 ] || fail "login POST: $(status "$o.loginpost.h")"
  url="$(abs "$(location "$o.loginpost.h")")"         # resume URL: /auth/UID or /device/UID
  step "GET $url (resume after login)"
  req "$jar" "$o.resume1" "$url"
  url="$(abs "$(location "$o.resume1.h")")"           # -> /interaction/UID2 (consent)
  step "GET $url (consent page)"
  req "$jar" "$o.consent" "$url"
  grep -q 'name="prompt" value="consent"' "$o.consent.b" || fail "no consent form at $url"
  action="$(form_action "$o.consent.b")"
  step "POST $action prompt=consent"
  req "$jar" "$o.consentpost" -X POST "$action" --data-urlencode prompt=consent
  [ "$(status "$o.consentpost.h")" = 303 ] || fail "consent POST: $(status "$o.consentpost.h")"
  url="$(abs "$(location "$o.consentpost.h")")"
  step "GET $url (resume after consent)"
  req "$jar" "$o.done" "$url"
}

# ===========================================================================
# (a) Device authorization grant (RFC 8628)
# ===========================================================================
echo "== device flow" >&2
JAR="$WORK/jar.device"; D="$WORK/dev"; DNONCE="dn-$RANDOM$RANDOM"
step "POST /device/auth"
curl -sS -X POST "$ISSUER/device/auth" --data-urlencode "client_id=$CLIENT_ID" \
  --data-urlencode "scope=$SCOPE" --data-urlencode "nonce=$DNONCE" -o "$D.da.json"
DEVICE_CODE="$(json device_code "$D.da.json")"; USER_CODE="$(json user_code "$D.da.json")"
VURI="$(json verification_uri "$D.da.json")"
[ -n "$DEVICE_CODE" ] && [ -n "$USER_CODE" ] || fail "device auth: $(cat "$D.da.json")"
echo "device auth response: $(cat "$D.da.json")" >&2

poll() {
  curl -sS -X POST "$ISSUER/token" --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode 'grant_type=urn:ietf:params:oauth:grant-type:device_code' \
    --data-urlencode "device_code=$DEVICE_CODE" -o "$1"
}
poll "$D.pending.json"
[ "$(json error "$D.pending.json")" = authorization_pending ] || fail "expected authorization_pending: $(cat "$D.pending.json")"

step "GET $VURI (user code entry form)"
req "$JAR" "$D.p1" "$VURI"
XSRF="$(hidden xsrf "$D.p1.b")"; [ -n "$XSRF" ] || fail "no xsrf on $VURI"
step "POST $VURI xsrf user_code"
req "$JAR" "$D.p2" -X POST "$VURI" --data-urlencode "xsrf=$XSRF" --data-urlencode "user_code=$USER_CODE"
grep -q 'name="confirm" value="yes"' "$D.p2.b" || fail "no confirm page"
XSRF="$(hidden xsrf "$D.p2.b")"
step "POST $VURI xsrf user_code confirm=yes"
req "$JAR" "$D.p3" -X POST "$VURI" --data-urlencode "xsrf=$XSRF" \
  --data-urlencode "user_code=$USER_CODE" --data-urlencode confirm=yes
[ "$(status "$D.p3.h")" = 303 ] || fail "confirm: $(status "$D.p3.h")"

login_and_consent "$JAR" "$D" "$(abs "$(location "$D.p3.h")")" alice
grep -q 'Sign-in Success' "$D.done.b" || fail "device flow did not end on success page"

step "POST /token grant_type=device_code"
poll "$D.tok.json"
[ -z "$(json error "$D.tok.json")" ] || fail "token: $(cat "$D.tok.json")"
verify_id_token "$D.tok.json" alice alice@example.com '["eng","sre"]' ""

step "POST /token grant_type=refresh_token"
curl -sS -X POST "$ISSUER/token" --data-urlencode "client_id=$CLIENT_ID" \
  --data-urlencode grant_type=refresh_token \
  --data-urlencode "refresh_token=$(json refresh_token "$D.tok.json")" -o "$D.rt.json"
[ -n "$(json id_token "$D.rt.json")" ] || fail "refresh: $(cat "$D.rt.json")"

# ===========================================================================
# (b) Authorization code + PKCE (S256), loopback redirect on an arbitrary port
# ===========================================================================
echo "== authorization code + PKCE" >&2
JAR="$WORK/jar.code"; C="$WORK/code"
REDIRECT_URI="http://127.0.0.1:$((20000 + RANDOM % 40000))/callback"
STATE="st-$RANDOM$RANDOM"; NONCE="n-$RANDOM$RANDOM"
VERIFIER="$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')"
CHALLENGE="$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')"
step "GET /auth (redirect_uri=$REDIRECT_URI)"
req "$JAR" "$C.auth" -G "$ISSUER/auth" --data-urlencode "client_id=$CLIENT_ID" \
  --data-urlencode response_type=code --data-urlencode "redirect_uri=$REDIRECT_URI" \
  --data-urlencode "scope=$SCOPE" --data-urlencode "state=$STATE" --data-urlencode "nonce=$NONCE" \
  --data-urlencode "code_challenge=$CHALLENGE" --data-urlencode code_challenge_method=S256 \
  --data-urlencode prompt=consent
[ "$(status "$C.auth.h")" = 303 ] || fail "/auth: $(status "$C.auth.h") $(cat "$C.auth.b")"

login_and_consent "$JAR" "$C" "$(abs "$(location "$C.auth.h")")" bob
CB="$(location "$C.done.h")"
step "callback: $CB"
case "$CB" in "$REDIRECT_URI?"*) ;; *) fail "unexpected final redirect: $CB" ;; esac
q() { printf '%s' "$CB" | grep -oE "[?&]$1=[^&]*" | head -n1 | cut -d= -f2-; }
CODE="$(q code)"; [ -n "$CODE" ] || fail "no code in $CB"
[ "$(q state)" = "$STATE" ] || fail "state mismatch"

step "POST /token grant_type=authorization_code + code_verifier"
curl -sS -X POST "$ISSUER/token" --data-urlencode "client_id=$CLIENT_ID" \
  --data-urlencode grant_type=authorization_code --data-urlencode "code=$CODE" \
  --data-urlencode "redirect_uri=$REDIRECT_URI" --data-urlencode "code_verifier=$VERIFIER" -o "$C.tok.json"
[ -z "$(json error "$C.tok.json")" ] || fail "token: $(cat "$C.tok.json")"
verify_id_token "$C.tok.json" bob bob@example.com '["eng"]' "$NONCE"

echo "OK: device flow and authorization code + PKCE both succeeded against $ISSUER"
