//! The auditor Lambda function as a library: read-only questions over the ledger, behind a
//! Function URL with IAM auth.
//!
//! - `GET /records?conversation=&matter=&key=&recording=&event=`: matching records, ledger order
//! - `GET /verify`: the full verification report (`intact`, failures by block, index and check)
//! - `GET /receipt?id=<record id>`: an offline receipt for one record (`custody verify-receipt`)
//! - `GET /checkpoint`: the newest signed checkpoint, to pin for later consistency checks

use std::collections::HashMap;

use custody_core::ledger::{BlockView, Ledger};
use custody_core::query::{RecordFilter, find, parse_event};
use serde::Serialize;
use serde_json::{Value, json};

/// A Function URL response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub status_code: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Response {
    fn json(status_code: u16, body: &impl Serialize) -> Response {
        Response {
            status_code,
            headers: HashMap::from([("content-type".to_string(), "application/json".to_string())]),
            body: serde_json::to_string_pretty(body).expect("responses serialize"),
        }
    }

    fn text(status_code: u16, body: String) -> Response {
        Response {
            status_code,
            headers: HashMap::from([(
                "content-type".to_string(),
                "text/plain; charset=utf-8".to_string(),
            )]),
            body,
        }
    }

    fn error(status_code: u16, message: impl Into<String>) -> Response {
        Response::json(status_code, &json!({ "error": message.into() }))
    }
}

/// Answer one Function URL request (the raw event, version 2.0 payload).
pub async fn handle(ledger: &Ledger, request: &Value) -> Response {
    let method = request
        .pointer("/requestContext/http/method")
        .and_then(Value::as_str)
        .unwrap_or("GET");
    let path = request
        .get("rawPath")
        .and_then(Value::as_str)
        .unwrap_or("/");
    let query: HashMap<String, String> = request
        .get("queryStringParameters")
        .and_then(Value::as_object)
        .map(|q| {
            q.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let caller = request
        .pointer("/requestContext/authorizer/iam/userArn")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    tracing::info!(%caller, %method, %path, ?query, "auditor request");
    if method != "GET" {
        return Response::error(405, "the auditor answers GET requests only");
    }
    match path.trim_end_matches('/') {
        "/records" => records(ledger, &query).await,
        "/verify" => {
            let report = ledger.verify(None).await;
            let status = if report.verdict() == custody_core::ledger::Verdict::CouldNotRun {
                500
            } else {
                200
            };
            Response::json(status, &report)
        }
        "/receipt" => match query.get("id") {
            None => Response::error(400, "query parameter id (the record id) is required"),
            Some(id) => match ledger.receipt(id.trim_start_matches("sha256:")).await {
                Ok(receipt) => Response::json(200, &receipt),
                Err(e) => Response::error(404, e.to_string()),
            },
        },
        "/checkpoint" => match ledger.head().await {
            Ok(Some(head)) => match BlockView::parse(&head.bytes) {
                Ok(view) => Response::text(200, String::from_utf8_lossy(view.note).into_owned()),
                Err(e) => Response::error(500, format!("block {}: {e}", head.index)),
            },
            Ok(None) => Response::error(404, "the ledger is empty"),
            Err(e) => Response::error(500, e.to_string()),
        },
        _ => Response::error(
            404,
            format!("no route {path}; use /records, /verify, /receipt or /checkpoint"),
        ),
    }
}

async fn records(ledger: &Ledger, query: &HashMap<String, String>) -> Response {
    let event = match query.get("event").map(|e| parse_event(e)).transpose() {
        Ok(event) => event,
        Err(e) => return Response::error(400, format!("query parameter event: {e}")),
    };
    let filter = RecordFilter {
        conversation: query.get("conversation").cloned(),
        matter: query.get("matter").cloned(),
        key: query.get("key").cloned(),
        recording: query.get("recording").cloned(),
        event,
    };
    if filter == RecordFilter::default() {
        return Response::error(
            400,
            "give at least one of conversation, matter, key, recording, event",
        );
    }
    match find(ledger, &filter).await {
        Ok(found) => Response::json(200, &json!({ "count": found.len(), "records": found })),
        Err(e) => Response::error(500, e.to_string()),
    }
}
