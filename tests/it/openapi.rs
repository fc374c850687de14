//! `docs/openapi.json` against the server: the document lists exactly the
//! routes the server answers (`api::ROUTES`, through which every request is
//! dispatched), and each operation, called on a running pair of hubs with
//! the document's own examples and with a bad request, answers a status the
//! document lists, with the documented media type and, for JSON, the
//! documented required properties (other media types: the content type
//! only); without a credential 401, and with one lacking the role the
//! document names (`x-entrex-role`) 403. The operations with `security: []`
//! are exactly the public routes (`auth::Policy::public`, the dashboard's
//! static files): they answer 200 without a credential.

use std::collections::BTreeSet;

use entrex::client::Client;
use hyper::{Method, StatusCode};
use serde_json::Value;

use crate::support::start_pair;

const DOCUMENT: &str = include_str!("../../docs/openapi.json");

fn document() -> Value {
    serde_json::from_str(DOCUMENT).expect("docs/openapi.json is JSON")
}

/// (METHOD, path, operation) for every operation of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            out.push((method.to_uppercase(), path.clone(), operation.clone()));
        }
    }
    out
}

/// Whether the document says the operation needs no credential
/// (`security: []`); every operation states its security.
fn is_public(method: &str, path: &str, operation: &Value) -> bool {
    let security = operation["security"]
        .as_array()
        .unwrap_or_else(|| panic!("{method} {path}: no `security` array"));
    security.is_empty()
}

/// Follows a `$ref` to `#/components/schemas/NAME`.
fn resolve<'d>(doc: &'d Value, schema: &'d Value) -> &'d Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unsupported $ref {reference}"));
            let target = &doc["components"]["schemas"][name];
            assert!(target.is_object(), "{reference} is not defined");
            target
        }
        None => schema,
    }
}

/// The part of a media type before its parameters, lower-cased.
fn essence(media_type: &str) -> String {
    media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Checks `value` against the top of `schema`: its type, and that each
/// required property is present (for an array: in each item).
fn check_shape(doc: &Value, schema: &Value, value: &Value, what: &str) {
    let schema = resolve(doc, schema);
    match schema["type"].as_str() {
        Some("object") => {
            let object = value
                .as_object()
                .unwrap_or_else(|| panic!("{what}: expected an object, got {value}"));
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap();
                assert!(
                    object.contains_key(name),
                    "{what}: required property {name:?} missing from {value}"
                );
            }
        }
        Some("array") => {
            let items = value
                .as_array()
                .unwrap_or_else(|| panic!("{what}: expected an array, got {value}"));
            for item in items {
                check_shape(doc, &schema["items"], item, what);
            }
        }
        _ => {}
    }
}

/// Checks one answer against the operation's documented responses.
fn check_answer(
    doc: &Value,
    (method, path, operation): (&str, &str, &Value),
    status: StatusCode,
    headers: &http::HeaderMap,
    body: &[u8],
) {
    let what = format!("{method} {path} answered {status}");
    let response = &operation["responses"][status.as_str()];
    assert!(
        response.is_object(),
        "{what}, which the document does not list: {}",
        String::from_utf8_lossy(body)
    );
    let Some(content) = response["content"].as_object() else {
        return;
    };
    let media_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{what} without a content-type"));
    let (_, documented) = content
        .iter()
        .find(|(documented, _)| essence(documented) == essence(media_type))
        .unwrap_or_else(|| {
            panic!(
                "{what} as {media_type}, but the document lists {:?}",
                content.keys().collect::<Vec<_>>()
            )
        });
    if essence(media_type) == "application/json" {
        let value: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
            panic!("{what}: not JSON ({e}): {}", String::from_utf8_lossy(body))
        });
        check_shape(doc, &documented["schema"], &value, &what);
    }
}

/// The request the document shows: the query from its parameters'
/// examples, and the first request body that has an example.
fn example_request(operation: &Value) -> (String, &'static str, Vec<u8>) {
    let query: Vec<String> = operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| {
            let value = match p.get("example")? {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            Some(format!("{}={value}", p["name"].as_str()?))
        })
        .collect();
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    let body = operation["requestBody"]["content"]
        .as_object()
        .into_iter()
        .flatten()
        .find_map(|(media_type, content)| {
            let example = content.get("example")?;
            let bytes = match example {
                Value::String(text) => text.clone().into_bytes(),
                other => serde_json::to_vec(other).unwrap(),
            };
            let media_type: &'static str = if media_type == "text/csv" {
                "text/csv"
            } else {
                "application/json"
            };
            Some((media_type, bytes))
        });
    let (media_type, bytes) = body.unwrap_or(("application/json", Vec::new()));
    (query, media_type, bytes)
}

async fn call(
    client: &Client,
    method: &str,
    path: &str,
    media_type: &str,
    body: Vec<u8>,
) -> (StatusCode, http::HeaderMap, bytes::Bytes) {
    let method: Method = method.parse().unwrap();
    client
        .request_with_headers(method, path, media_type, body)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_document_lists_exactly_the_routes_the_server_answers() {
    let doc = document();
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3.1."),
        "an OpenAPI 3.1 document"
    );
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let served: BTreeSet<(String, String)> = entrex::api::ROUTES
        .iter()
        .map(|(method, path, _)| (method.to_string(), path.to_string()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in docs/openapi.json: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "in docs/openapi.json but not served: {unserved:?}"
    );
    // The operations the document makes public (`security: []`) are
    // exactly the routes the server serves without a credential.
    let documented_public: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .filter(|(method, path, operation)| is_public(method, path, operation))
        .map(|(method, path, _)| (method, path))
        .collect();
    let public: BTreeSet<(String, String)> = entrex::api::ROUTES
        .iter()
        .filter(|(method, path, _)| {
            entrex::auth::policy(&method.parse().unwrap(), path).is_some_and(|p| p.public)
        })
        .map(|(method, path, _)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(
        documented_public, public,
        "the operations with `security: []` are the public routes"
    );
    // The role the document names is the one the server requires.
    for (method, path, operation) in operations(&doc) {
        let policy = entrex::auth::policy(&method.parse().unwrap(), &path)
            .unwrap_or_else(|| panic!("{method} {path} has no access policy"));
        let role = if policy.public {
            assert!(policy.role.is_none(), "{method} {path}: public with a role");
            "public".to_owned()
        } else {
            policy.role.map_or("any".to_owned(), |r| r.to_string())
        };
        assert_eq!(
            operation["x-entrex-role"].as_str(),
            Some(role.as_str()),
            "{method} {path}: x-entrex-role"
        );
    }
    // Every operation says what it answers, and every $ref resolves.
    for (method, path, operation) in operations(&doc) {
        let responses = operation["responses"].as_object().unwrap();
        assert!(!responses.is_empty(), "{method} {path}: no responses");
        for response in responses.values() {
            for content in response["content"].as_object().into_iter().flatten() {
                resolve(&doc, &content.1["schema"]);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_as_the_document_says() {
    let doc = document();
    let pair = start_pair().await;
    let client = &pair.ca_client;
    let as_partner = pair.ca.client_as(&pair.us);
    let anonymous = pair.ca.anonymous_client();
    for (method, path, operation) in operations(&doc) {
        let op = (method.as_str(), path.as_str(), &operation);
        // As documented.
        let (query, media_type, body) = example_request(&operation);
        let target = format!("{path}{query}");
        let (status, headers, answer) = call(client, &method, &target, media_type, body).await;
        check_answer(&doc, op, status, &headers, &answer);
        if operation.get("requestBody").is_some() {
            // Not what it takes.
            let (status, headers, answer) = call(
                client,
                &method,
                path.as_str(),
                media_type,
                b"\xff\xfe not it".to_vec(),
            )
            .await;
            assert!(status.is_client_error(), "{method} {path}: {status}");
            check_answer(&doc, op, status, &headers, &answer);
        }
        // Without a credential: 401, or 200 for a public operation. With
        // one lacking the role: 403.
        let public = is_public(&method, &path, &operation);
        let (status, headers, answer) =
            call(&anonymous, &method, &target, media_type, Vec::new()).await;
        let expected = if public {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, expected, "{method} {path} without a credential");
        check_answer(&doc, op, status, &headers, &answer);
        let role = operation["x-entrex-role"].as_str().unwrap();
        if !public && role != "any" && role != "partner" {
            let (status, headers, answer) =
                call(&as_partner, &method, &target, media_type, Vec::new()).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
            check_answer(&doc, op, status, &headers, &answer);
        }
        if path == "/v1/partner/bundles" {
            // From the partner's certificate, garbage is refused as a bundle.
            let (status, headers, answer) = call(
                &as_partner,
                &method,
                path.as_str(),
                "application/cose",
                b"not COSE".to_vec(),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            check_answer(&doc, op, status, &headers, &answer);
        }
        if operation["parameters"].is_array() {
            let target = format!("{path}?from=yesterday");
            let (status, headers, answer) =
                call(client, &method, &target, media_type, Vec::new()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            check_answer(&doc, op, status, &headers, &answer);
        }
    }

    // A method a path does not take: 405, saying which it does.
    for (path, item) in doc["paths"].as_object().unwrap() {
        let taken: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        for other in ["GET", "POST", "PUT", "DELETE"] {
            if taken.iter().any(|m| m == other) {
                continue;
            }
            let (status, headers, answer) =
                call(client, other, path, "application/json", Vec::new()).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{other} {path}");
            assert_eq!(headers["allow"].to_str().unwrap(), taken.join(", "));
            let error: Value = serde_json::from_slice(&answer).unwrap();
            assert!(error["error"].is_string());
        }
    }
    // A path not in the document is not served.
    let (status, _, answer) = call(
        client,
        "GET",
        "/v1/nothing-here",
        "application/json",
        Vec::new(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    check_shape(
        &doc,
        &serde_json::json!({"$ref": "#/components/schemas/Error"}),
        &serde_json::from_slice(&answer).unwrap(),
        "404",
    );
    pair.shutdown().await;
}
