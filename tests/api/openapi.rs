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
