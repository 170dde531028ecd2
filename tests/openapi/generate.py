# Writes src/edges/http/openapi.json. Edit here, run `python3 tests/openapi/generate.py`; tests/api/openapi.rs checks the result against the routes.
import json
err = {"$ref": "#/components/responses/Error"}
def op(summary, tag, auth=True, body=None, ok="200", ok_schema=None, params=None, extra=None, ok_type="application/json", body_required=True):
    o = {"summary": summary, "tags": [tag], "responses": {ok: {"description": "OK"}}}
    if ok_schema: o["responses"][ok]["content"] = {ok_type: {"schema": ok_schema}}
    if ok == "204": o["responses"][ok] = {"description": "No content"}
    for code in (["400","401","403","404","409"] if auth else ["400"]):
        o["responses"][code] = err
    if auth: o["security"] = [{"session": []}]
    else: o["security"] = []
    if body: o["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": body}}}
    if params: o["parameters"] = params
    if extra: o.update(extra)
    return o
ref = lambda n: {"$ref": f"#/components/schemas/{n}"}
idp = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
obj = lambda props, req=(): {"type": "object", "additionalProperties": False, "properties": props, "required": list(req)}
S = {"type": "string"}; B = {"type": "boolean"}; I = {"type": "integer"}
dur = {"type": "string", "description": "duration such as 30m, 2h, 1h30m"}
paths = {
 "/healthz": {"get": op("Liveness: the process answers", "operations", auth=False, ok_schema={"type":"string"}, ok_type="text/plain")},
 "/readyz": {"get": op("Readiness: database reachable, audit log not found broken, keys loaded (503 not_ready or audit_chain_broken otherwise)", "operations", auth=False, ok_schema={"type":"object"})},
 "/metrics": {"get": op("Prometheus metrics, text format 0.0.4 (OpenMetrics 1.0.0 when Accept asks for it)", "operations", auth=False, ok_schema={"type":"string"}, ok_type="text/plain")},
 "/openapi.json": {"get": op("This document", "operations", auth=False, ok_schema={"type":"object"})},
 "/.well-known/jwks.json": {"get": op("The broker's public signing keys (JWK set)", "keys", auth=False, ok_schema={"type":"object"})},
 "/v1/keys": {"get": op("Signing keys and their state", "keys", auth=False, ok_schema={"type":"array","items":ref("KeyInfo")})},
 "/v1/auth/config": {"get": op("The identity provider's issuer, client id and scopes; whether the development login is on", "auth", auth=False, ok_schema={"type":"object"})},
 "/v1/auth/browser": {"post": op("Start a browser (authorization code + PKCE) login: a single-use login id and nonce", "auth", auth=False, ok_schema={"type":"object"}, extra={"responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"type":"object"}}}}, "400": err, "404": err, "429": err}})},
 "/v1/auth/login": {"post": op("Exchange a provider's ID token for a session", "auth", auth=False, ok="201", body=obj({"id_token": S, "login_id": S}, ["id_token"]), ok_schema=ref("Session"), extra={"responses": {"201": {"description": "Session created", "content": {"application/json": {"schema": ref("Session")}}}, "400": err, "401": err, "403": err, "404": err, "429": err, "502": err}})},
 "/v1/auth/dev-login": {"post": op("Development login (servers started with --dev on loopback only)", "auth", auth=False, ok="201", body=obj({"email": S, "groups": {"type":"array","items":S}}, ["email"]), ok_schema=ref("Session"), extra={"responses": {"201": {"description": "Session created", "content": {"application/json": {"schema": ref("Session")}}}, "400": err, "403": err, "429": err}})},
 "/v1/auth/logout": {"post": op("End the caller's session; with revoke_grants, revoke every live grant of the caller first (their AWS sessions are denied at AWS)", "auth", ok="204", body=obj({"revoke_grants": B}), body_required=False)},
 "/v1/session": {"get": op("Who the caller is", "auth", ok_schema={"type":"object"})},
 "/v1/admin/locks": {"post": op("Lock a user (administrators): sessions end, logins are refused", "admin", ok="201", body=obj({"user": S, "reason": S}, ["user"]), extra={"responses": {"201": {"description": "Locked"}, "400": err, "401": err, "403": err}})},
 "/v1/admin/locks/{user}": {"delete": op("Lift a lock (administrators)", "admin", ok="204", params=[{"name":"user","in":"path","required":True,"schema":S}])},
 "/v1/admin/keys/rotate": {"post": op("Make a new signing key (administrators)", "admin", ok_schema={"type":"array","items":ref("KeyInfo")})},
 "/v1/resources": {"get": op("What the caller may request, with each role's limits and reviewers", "access", ok_schema={"type":"array","items":{"type":"object"}})},
 "/v1/requests": {
   "get": op("The caller's requests, or those waiting for the caller's review", "access", ok_schema={"type":"array","items":ref("AccessRequest")}, params=[{"name":"view","in":"query","schema":{"type":"string","enum":["mine","to_review"]}}]),
   "post": op("Request access; decided at once by the policy (auto-approved, break-glass, pending or refused with the decision)", "access", ok="201",
      body=obj({"resource": S, "role": S, "duration": dur, "reason": S, "ticket": S, "breakglass": B}, ["resource"]),
      params=[{"name":"Idempotency-Key","in":"header","schema":{"type":"string","minLength":1,"maxLength":128,"pattern":"^[!-~]{1,128}$"},"description":"a retry with the same key returns the first request; 1 to 128 visible ASCII characters, anything else is refused"}],
      extra={"responses": {"201": {"description": "Created", "content": {"application/json": {"schema": obj({"request": ref("AccessRequest"), "decision": ref("Decision")})}}}, "400": err, "401": err, "403": err, "404": err}})},
 "/v1/requests/{id}": {"get": op("One request with its reviews and who may still review it", "access", params=idp, ok_schema={"type":"object"})},
 "/v1/requests/{id}/approve": {"post": op("Approve (eligible reviewers; never the requester)", "access", params=idp, body=obj({"comment": S}), ok_schema={"type":"object"})},
 "/v1/requests/{id}/deny": {"post": op("Deny, with a reason", "access", params=idp, body=obj({"comment": S}, ["comment"]), ok_schema={"type":"object"})},
 "/v1/requests/{id}/activate": {"post": op("Start an approved grant (the requester)", "access", params=idp, ok_schema=ref("AccessRequest"))},
 "/v1/requests/{id}/extend": {"post": op("Extend a live grant within its caps (the requester)", "access", params=idp, body=obj({"duration": dur}, ["duration"]), ok_schema=ref("AccessRequest"))},
 "/v1/requests/{id}/cancel": {"post": op("Withdraw a request that is not yet active (the requester)", "access", params=idp, ok_schema=ref("AccessRequest"))},
 "/v1/requests/{id}/revoke": {"post": op("End a grant now (the requester or an administrator)", "access", params=idp, ok_schema=ref("AccessRequest"))},
 "/v1/credentials/token": {"post": op("A broker token for a resource inside the caller's active grant; lives at most min(ttl, the grant's remaining time, 1h)", "credentials", ok="201", body=obj({"resource": S, "ttl": dur}, ["resource"]), extra={"responses": {"201": {"description": "Issued", "content": {"application/json": {"schema": obj({"token": S, "expires_at": S, "audience": S, "grant_id": S, "role": S, "algorithm": {"type":"string","enum":["EdDSA","ES256"]}})}}}, "400": err, "401": err, "403": err, "404": err}})},
 "/v1/credentials/aws": {"post": op("AWS credentials (STS AssumeRole) for a resource inside the caller's active grant; the session never outlives the grant", "credentials", ok="201", body=obj({"resource": S, "duration": dur}, ["resource"]), extra={"responses": {"201": {"description": "Issued", "content": {"application/json": {"schema": obj({"access_key_id": S, "secret_access_key": S, "session_token": S, "expiration": S, "assumed_role_arn": {"type":["string","null"]}, "grant_id": {"type":"string","description":"The grant the session belongs to (its session tag latchkey:request)"}, "grant_expires_at": {"type":"string","description":"When that grant ends; nothing may serve the session past it"}})}}}, "400": err, "401": err, "403": err, "404": err, "409": err, "502": err, "503": err}})},
 "/v1/slack/interactions": {"post": op("Slack's interaction webhook (Approve and Deny buttons): form body `payload=<block_actions JSON>`, signed by Slack (X-Slack-Signature, X-Slack-Request-Timestamp within 5 minutes); answered 200 at once, the review follows", "slack", auth=False, extra={"security": [{"slack_signature": []}], "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": obj({"payload": S}, ["payload"])}}}, "responses": {"200": {"description": "Accepted"}, "400": err, "401": err, "404": err}})},
 "/v1/slack/commands": {"post": op("Slack's slash-command webhook: `/latchkey request|status|link …`, signed by Slack; answered 200 at once, the answer follows by response_url", "slack", auth=False, extra={"security": [{"slack_signature": []}], "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {"user_id": S, "text": S, "response_url": S, "trigger_id": S}, "required": ["user_id", "response_url"]}}}}, "responses": {"200": {"description": "Accepted"}, "400": err, "401": err, "404": err}})},
 "/v1/slack/link": {"post": op("A one-time code (10 minutes) that links the Slack user who types `/latchkey link CODE` to the caller", "slack", ok="201", extra={"responses": {"201": {"description": "Issued", "content": {"application/json": {"schema": obj({"code": S, "expires_at": S, "command": S}, ["code","expires_at","command"])}}}, "401": err, "404": err}})},
 "/v1/slack/confirm/{id}": {"get": op("A fresh-login confirmation link from Slack (roles with reviewer_fresh_login): redirects to the identity provider (code + PKCE, prompt=login)", "slack", auth=False, params=idp, extra={"responses": {"303": {"description": "To the identity provider"}, "404": err, "429": err, "502": err}})},
 "/v1/slack/callback": {"get": op("The identity provider's redirect after a fresh-login confirmation; the review counts if the login is the Slack user's bound latchkey user", "slack", auth=False, params=[{"name": n, "in": "query", "schema": S} for n in ("state", "code", "error")], extra={"responses": {"200": {"description": "HTML page saying what was recorded", "content": {"text/html": {"schema": S}}}, "401": err, "403": err, "404": err, "409": err, "429": err, "502": err}})},
 "/v1/credentials/livestream": {"post": op("A PostHog live events token (HS256 with the service's own secret, aud posthog:livestream, team_id from the granted role team:N) inside the caller's active grant; lives at most min(ttl, 15m, the grant)", "credentials", ok="201", body=obj({"resource": S, "ttl": dur}, ["resource"]), extra={"responses": {"201": {"description": "Issued", "content": {"application/json": {"schema": obj({"token": S, "expires_at": S, "team_id": I, "grant_id": S})}}}, "400": err, "401": err, "403": err, "404": err}})},
 "/v1/gate/auth/{resource}": {"get": op("Forward-auth (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz): 200 with X-Latchkey-User, -Email, -Groups, -Resource, -Grant, -Role and -Assertion while the bearer (session or broker token) holds an active grant on the resource; 401 or 403 with the code in X-Latchkey-Error. For Envoy, which appends the original path and keeps the original method, /v1/gate/auth/{resource}/{path} answers the same to any method", "gate", params=[{"name":"resource","in":"path","required":True,"schema":S}], extra={"responses": {"200": {"description": "Allowed; identity in the X-Latchkey-* headers"}, "400": err, "401": err, "403": err, "404": err, "503": err}})},
 "/v1/gate/livestream/authz": {
   "get": op("The live events service's authorization callback, with the stream's own livestream token as bearer: 204 while its grant is active, 403 once it is not, 401 for a token this broker did not issue", "gate", ok="204", extra={"security": [{"livestream": []}]}),
   "post": op("The same callback, for services that POST it", "gate", ok="204", extra={"security": [{"livestream": []}]})},
 "/v1/policy/explain": {"post": op("The decision the caller would get, with its explanation, without requesting", "policy", body=obj({"resource": S, "role": S, "duration": dur, "reason": S, "ticket": S, "breakglass": B}, ["resource"]), ok_schema=ref("Decision"))},
 "/v1/audit/key": {"get": op("The audit public key (Ed25519 JWK) that signs checkpoints and evidence manifests; pin it out of band", "audit", auth=False, ok_schema=obj({"kty": S, "crv": S, "x": S, "kid": S}))},
 "/v1/audit/events": {"get": op("Audit events after a sequence number, or the last N; with wait, long-polls for new ones (needs audit_read on audit)", "audit", ok_schema={"type":"array","items":ref("AuditEvent")}, params=[{"name":"after","in":"query","schema":I},{"name":"limit","in":"query","schema":I},{"name":"wait","in":"query","schema":I,"description":"seconds, at most 25"},{"name":"last","in":"query","schema":I}])},
 "/v1/audit/checkpoints": {"post": op("Sign a checkpoint of the chain head now (administrators and auditors)", "audit", ok="201", ok_schema=ref("Checkpoint"))},
 "/v1/audit/verify": {"post": op("Verify the whole live log against its chain and every checkpoint (database, sink, and those given)", "audit", body=obj({"checkpoints": {"type":"array","items":ref("Checkpoint")}}), body_required=False, ok_schema=ref("VerifyReport"))},
 "/v1/audit/export": {"post": op("The evidence bundle of a period as a tar stream (events, CSVs, report.html, signed manifest.json); needs audit_read on audit", "audit", body=obj({"from": S, "to": S}, ["from","to"]), extra={"responses": {"200": {"description": "application/x-tar bundle", "content": {"application/x-tar": {"schema": {"type":"string","format":"binary"}}}}, "400": err, "401": err, "403": err, "500": err, "503": err}})},
}

def answered_by_every(paths):
    """What the framework and the shared layers answer on any operation of a kind,
    whatever its handler does: a body over the limit (413) or of the wrong type (415),
    the database failing (500), the audit log failing on a write (503). Optional string
    fields of a body are serde Options, which also take null."""
    for path, ops in paths.items():
        for method, o in ops.items():
            rs = o["responses"]
            body = o.get("requestBody")
            if body:
                rs.setdefault("413", err)
                if "application/json" in body["content"]:
                    rs.setdefault("415", err)
                sch = body["content"].get("application/json", {}).get("schema", {})
                for name, prop in list(sch.get("properties", {}).items()):
                    if name not in sch.get("required", []) and prop.get("type") == "string":
                        # A copy: the schema objects are shared between operations.
                        sch["properties"][name] = {**prop, "type": ["string", "null"]}
            if path.startswith("/v1/"):
                rs.setdefault("500", err)
                if method in ("post", "delete"):
                    rs.setdefault("503", err)
            o["responses"] = dict(sorted(rs.items()))
answered_by_every(paths)

doc = {
 "openapi": "3.1.0",
 "info": {"title": "latchkey", "version": "0.1.0", "description": "Zero-trust access broker. Every error is {\"error\": {\"code\", \"message\", \"request_id\"}} with a stable code; every response carries x-request-id."},
 "paths": paths,
 "components": {
  "securitySchemes": {"session": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (EdDSA, aud latchkey:session)"}, "slack_signature": {"type": "apiKey", "in": "header", "name": "X-Slack-Signature", "description": "v0= hex HMAC-SHA256 of v0:TIMESTAMP:RAW_BODY with the Slack app's signing secret"}, "livestream": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (HS256, aud posthog:livestream)"}},
  "responses": {"Error": {"description": "Error with a stable code", "content": {"application/json": {"schema": ref("Error")}}}},
  "schemas": {
   "Error": obj({"error": obj({"code": S, "message": S, "request_id": S, "decision": ref("Decision")}, ["code","message","request_id"])}, ["error"]),
   "Session": {"type":"object","properties": {"token": S, "session_id": S, "expires_at": {"type":"string","format":"date-time"}, "user_id": S, "email": {"type":["string","null"]}, "groups": {"type":"array","items":S}, "dev": B}},
   "KeyInfo": {"type":"object","properties": {"kid": S, "created_at": {"type":"string","format":"date-time"}, "retire_at": {"type":["string","null"],"format":"date-time"}, "active": B}},
   "Decision": {"type":"object","properties": {"outcome": {"type":"string","enum":["refused","auto_approved","breakglass","needs_review"]}, "code": {"type":["string","null"]}, "role": {"type":["string","null"]}, "duration_secs": I, "explanation": {"type":"array","items":S}, "hint": {"type":["string","null"]}, "approvals": I, "denials": I, "reviewers": S, "rules": {"type":"array","items":S}}},
   "AuditEvent": {"type":"object","properties": {"seq": I, "id": S, "type": S, "at": S, "actor": S, "subject": {"type":["string","null"]}, "resource": {"type":["string","null"]}, "role": {"type":["string","null"]}, "outcome": S, "reason": {"type":["string","null"]}, "request_id": {"type":["string","null"]}, "client_addr": {"type":["string","null"]}, "user_agent": {"type":["string","null"]}, "details": {"type":"object"}, "prev_hash": S, "hash": S}},
   "Checkpoint": {"type":"object","properties": {"number": I, "events": I, "head_hash": S, "at": S, "prev": {"type":["string","null"]}, "kid": S, "signature": S}},
   "VerifyReport": {"type":"object","properties": {"ok": B, "events": I, "last_seq": I, "checkpoints": I, "first_bad_seq": {"type":["integer","null"]}, "first_bad_exact": B, "problems": {"type":"array","items": obj({"seq": I, "code": S, "message": S, "through": {"type":["integer","null"]}, "exact": B})}, "errors": {"type":"array","items": S}}},
   "AccessRequest": {"type":"object","properties": {"id": S, "requester_id": S, "requester_name": S, "resource": S, "role": S, "reason": {"type":["string","null"]}, "ticket": {"type":["string","null"]}, "duration": {"type":"integer","description":"seconds"}, "state": {"type":"string","enum":["pending","approved","active","denied","expired","cancelled","revoked"]}, "terms": {"type":"object"}, "created_at": S, "pending_until": S, "decided_at": {"type":["string","null"]}, "activation_deadline": {"type":["string","null"]}, "activated_at": {"type":["string","null"]}, "expires_at": {"type":["string","null"]}, "ended_at": {"type":["string","null"]}, "end_reason": {"type":["string","null"]}, "extensions_used": I, "auto_approved": B, "breakglass": B, "version": I}},
  }
 }
}
json.dump(doc, open(__import__('os').path.join(__import__('os').path.dirname(__file__), '..', '..', 'src', 'edges', 'http', 'openapi.json'), 'w'), indent=1)
print(sum(len(v) for v in paths.values()), "operations")
