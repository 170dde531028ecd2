//! The OpenAPI document. Each operation comes from its handler's `#[utoipa::path]` and
//! each schema is the Rust type the handler takes or answers (`ToSchema`); the route
//! table (`api_routes!`) hands every handler's operation to [`document`], which adds what
//! no one handler says: the info, tags and security schemes, the shared `Error` response,
//! and the statuses the shared layers answer on any operation of a kind.

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, PathItem, Ref, RefOr, Required};
use utoipa::OpenApi as _;

use crate::edges::http::error::{ApiError, ErrorBody};

/// The document's frame: everything but the operations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "latchkey",
        description = "Zero-trust access broker. Every error is {\"error\": {\"code\", \"message\", \"request_id\"}} with a stable code; every response carries x-request-id."
    ),
    tags(
        (name = "operations", description = "Liveness, readiness, metrics and this document"),
        (name = "keys", description = "The broker's public signing keys"),
        (name = "auth", description = "Logins, sessions and logout"),
        (name = "admin", description = "Locks and key rotation (administrators)"),
        (name = "access", description = "Resources, access requests, reviews and grants"),
        (name = "policy", description = "The policy's decisions, explained"),
        (name = "credentials", description = "Credentials inside the caller's active grants"),
        (name = "audit", description = "The audit log: its key, events, checkpoints, verification and evidence"),
        (name = "slack", description = "Slack's signed webhooks and Slack account linking"),
        (name = "gate", description = "Forward-auth and the live events service's callback"),
        (name = "ssh", description = "The SSH user CA keys hosts trust and the revocation list they fetch"),
    ),
    components(schemas(ErrorBody), responses(ApiError)),
    modifiers(&SecuritySchemes)
)]
struct Frame;

/// The three ways a caller proves who it is.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |format: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format(format)
                    .build(),
            )
        };
        components.add_security_scheme("session", bearer("JWT (EdDSA, aud latchkey:session)"));
        components.add_security_scheme(
            "slack_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Slack-Signature",
                "v0= hex HMAC-SHA256 of v0:TIMESTAMP:RAW_BODY with the Slack app's signing secret",
            ))),
        );
        components.add_security_scheme("livestream", bearer("JWT (HS256, aud posthog:livestream)"));
    }
}

/// The whole document: the frame with `operations` (every route's, from its handler).
pub fn document(operations: OpenApi) -> OpenApi {
    let mut doc = Frame::openapi();
    doc.merge(operations);
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations_of(item) {
            answered_by_every(path, method, op);
            optional_body_is_not_null(op);
        }
        distinct_operation_ids(item);
    }
    doc
}

/// What the framework and the shared layers answer on any operation of a kind, whatever
/// its handler does: a body that does not parse (400), over the limit (413) or of the
/// wrong type (415); under `/v1/`, the database failing (500) and, on a write, the audit
/// log failing (503).
fn answered_by_every(path: &str, method: &str, op: &mut Operation) {
    let mut statuses = vec![];
    if let Some(body) = &op.request_body {
        statuses.extend(["400", "413"]);
        if body.content.contains_key("application/json") {
            statuses.push("415");
        }
    }
    if path.starts_with("/v1/") {
        statuses.push("500");
        if matches!(method, "post" | "put" | "patch" | "delete") {
            statuses.push("503");
        }
    }
    for status in statuses {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Error")));
    }
}

/// A body that may be left out is the type or nothing, not `null`: utoipa writes an
/// `Option<T>` body as "T or null", and no handler takes a JSON `null`.
fn optional_body_is_not_null(op: &mut Operation) {
    let Some(body) = &mut op.request_body else {
        return;
    };
    if matches!(body.required, Some(Required::True)) {
        return;
    }
    for content in body.content.values_mut() {
        let Some(RefOr::T(Schema::OneOf(one))) = &content.schema else {
            continue;
        };
        let mut not_null = one.items.iter().filter(|s| !is_null(s));
        if let (Some(only), None) = (not_null.next(), not_null.next()) {
            content.schema = Some(only.clone());
        }
    }
}

fn is_null(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))
}

/// One handler serving several methods is one operation per method, each with its own id.
fn distinct_operation_ids(item: &mut PathItem) {
    let ops = operations_of(item);
    if ops.len() < 2 {
        return;
    }
    for (method, op) in ops {
        if let Some(id) = &mut op.operation_id {
            *id = format!("{id}_{method}");
        }
    }
}

/// A path's operations with their methods.
fn operations_of(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, op)| Some((method, op.as_mut()?)))
    .collect()
}
