//! The OpenAPI document matches the routes, both ways, and every route is really served.

use std::collections::BTreeSet;

use latchkey::edges::http::ROUTES;
use serde_json::Value;

use crate::helpers::spawn_dev_app;

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_served_routes() {
    let app = spawn_dev_app().await;
    let resp = app.get("/openapi.json", None).await;
    assert_eq!(resp.headers()["content-type"], "application/json");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, served, "the document and the router disagree");
    // Every listed route is answered by its handler, not the fallback or a 405.
    for (method, path) in ROUTES {
        let url = format!(
            "{}{}",
            app.url,
            path.replace("{id}", "nope").replace("{user}", "nobody")
        );
        let req = match *method {
            "get" => app.http.get(&url),
            "post" => app.http.post(&url).json(&serde_json::json!({})),
            "delete" => app.http.delete(&url),
            other => panic!("method {other}"),
        };
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let body = resp.text().await.unwrap();
        assert_ne!(
            status,
            reqwest::StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert!(
            !body.contains("no such endpoint"),
            "{method} {path} fell through to the fallback"
        );
    }
    // Every documented operation has a summary and error responses with the shared schema.
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            assert!(op["summary"].is_string(), "{method} {path} has no summary");
            // The statuses any such operation can answer, whatever its handler does: the
            // body limit and content type, the database failing, the audit log failing.
            let mut must = vec![];
            if let Some(body) = op.get("requestBody") {
                must.extend(["400", "413"]);
                if body["content"].get("application/json").is_some() {
                    must.push("415");
                }
            }
            if path.starts_with("/v1/") {
                must.push("500");
                if method == "post" || method == "delete" {
                    must.push("503");
                }
            }
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                must.push("401");
            }
            for status in must {
                assert_eq!(
                    op["responses"][status]["$ref"], "#/components/responses/Error",
                    "{method} {path} does not document {status}"
                );
            }
        }
    }
}

/// The served document, parsed.
async fn served_document() -> Value {
    let app = spawn_dev_app().await;
    app.get("/openapi.json", None).await.json().await.unwrap()
}

/// Every `$ref` in `v`, wherever it sits.
fn refs<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r);
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// What a `#/components/...` reference points at, if anything.
fn target<'d>(doc: &'d Value, reference: &str) -> Option<&'d Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer).filter(|v| !v.is_null())
}

/// A schema with its `$ref` followed.
fn resolved<'d>(doc: &'d Value, schema: &'d Value) -> &'d Value {
    match schema["$ref"].as_str() {
        Some(r) => target(doc, r).unwrap_or(&Value::Null),
        None => schema,
    }
}

/// Every operation: (method, path, operation).
fn operations(doc: &Value) -> Vec<(&str, &str, &Value)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .iter()
                .map(move |(m, op)| (m.as_str(), path.as_str(), op))
        })
        .collect()
}

#[tokio::test]
async fn every_reference_in_the_openapi_document_resolves() {
    let doc = served_document().await;
    let mut found = vec![];
    refs(&doc, &mut found);
    assert!(found.len() > 100, "only {} references", found.len());
    for r in found {
        assert!(
            r.starts_with("#/components/") && target(&doc, r).is_some(),
            "{r} points at nothing"
        );
    }
}

#[tokio::test]
async fn every_json_answer_of_the_openapi_document_names_the_type_it_is() {
    // Free-form objects by nature: the readiness answer, the JWK set, this document.
    const FREE_FORM: &[&str] = &["/readyz", "/.well-known/jwks.json", "/openapi.json"];
    let doc = served_document().await;
    let mut json_answers = 0;
    for (method, path, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().unwrap() {
            let Some(schema) = response.pointer("/content/application~1json/schema") else {
                continue;
            };
            if !status.starts_with('2') {
                assert_eq!(
                    response["$ref"], "#/components/responses/Error",
                    "{method} {path} {status}"
                );
                continue;
            }
            json_answers += 1;
            let schema = match schema.get("items") {
                Some(items) if schema["type"] == "array" => items,
                _ => schema,
            };
            let resolved = resolved(&doc, schema);
            let named = resolved["properties"].is_object() || resolved["allOf"].is_array();
            if FREE_FORM.contains(&path) {
                assert_eq!(schema["type"], "object", "{method} {path}");
            } else {
                assert!(
                    named,
                    "{method} {path} {status} answers an unnamed {schema}"
                );
            }
        }
    }
    assert!(json_answers >= 30, "only {json_answers} JSON answers");
}

#[tokio::test]
async fn every_json_request_body_refuses_unknown_fields_in_the_document_as_the_server_does() {
    let doc = served_document().await;
    let app = spawn_dev_app().await;
    let token = app.dev_login("root@example.com", &["admin"]).await;
    let mut bodies = 0;
    for (method, path, op) in operations(&doc) {
        let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") else {
            continue;
        };
        bodies += 1;
        let schema = resolved(&doc, schema);
        assert_eq!(
            schema["additionalProperties"], false,
            "{method} {path} takes unknown fields"
        );
        // And the server agrees: a body with one it does not know is refused.
        if method == "post" && !path.contains('{') {
            let resp = app
                .post(path, serde_json::json!({"surely_unknown": 1}), Some(&token))
                .await;
            assert_eq!(resp.status(), reqwest::StatusCode::BAD_REQUEST, "{path}");
        }
    }
    assert!(bodies >= 14, "only {bodies} JSON bodies");
}

#[tokio::test]
async fn every_operation_of_the_openapi_document_has_its_own_id_and_a_known_tag() {
    let doc = served_document().await;
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap();
        assert!(ids.insert(id), "{method} {path}: {id} is not unique");
        for tag in op["tags"].as_array().unwrap() {
            assert!(
                tags.contains(tag.as_str().unwrap()),
                "{method} {path}: {tag}"
            );
        }
    }
}
