//! The auditor Lambda function as a library: read-only questions over the ledger, behind a
//! Function URL with IAM auth.
//!
//! - `GET /records?conversation=&matter=&key=&key_prefix=&recording=&event=[&limit=&next=]`:
//!   matching records in ledger order, a page at a time ([`pages`]):
//!   `{"count", "records", "next", "index"}`, answered from the query index beside the ledger
//!   (every cited record re-checked against its block; `index` says how far it covered and
//!   names any posting that did not hold)
//! - `GET /verify`: `{"verdict": "intact" | "tampered" | "could_not_run" | "empty" (the ledger report's own), "intact", ...the
//!   verification report}` against the configured trusted keys ([`trust`]) and, when one is
//!   configured, the pinned checkpoint; 200 only when intact (409 with evidence of tampering,
//!   503 when verification could not run)
//! - `GET /receipt?id=<record id>`: an offline receipt for one record (`custody verify-receipt`)
//! - `GET /checkpoint`: the newest signed checkpoint, to pin for later consistency checks

pub mod env;
pub mod pages;
pub mod request;
pub mod trust;

use std::collections::{BTreeMap, HashMap};

use custody_core::ledger::{BlockView, Checkpoint, Ledger, VerifyReport};
use custody_core::query::{RecordFilter, find_indexed, parse_event};
use serde::Serialize;
use serde_json::{Value, json};

use request::Request;

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

/// The verdict of a verification, as `/verify` states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Intact,
    NotIntact,
    CouldNotVerify,
    /// No block at all (and no pinned checkpoint to say one is missing).
    Empty,
}

impl Verdict {
    pub fn of(report: &VerifyReport) -> Verdict {
        match report.verdict() {
            custody_core::ledger::Verdict::Intact => Verdict::Intact,
            custody_core::ledger::Verdict::Tampered => Verdict::NotIntact,
            custody_core::ledger::Verdict::CouldNotRun => Verdict::CouldNotVerify,
            custody_core::ledger::Verdict::Empty => Verdict::Empty,
        }
    }

    /// 200 intact (or empty), 409 evidence of tampering or a fork, 503 could not verify.
    pub fn status(self) -> u16 {
        match self {
            Verdict::Intact | Verdict::Empty => 200,
            Verdict::NotIntact => 409,
            Verdict::CouldNotVerify => 503,
        }
    }
}

/// The auditor over a ledger opened with the configured trusted keys.
pub struct Auditor<'a> {
    pub ledger: &'a Ledger,
    pub pinned: Option<Checkpoint>,
}

/// Answer one Function URL request with no pinned checkpoint.
pub async fn handle(ledger: &Ledger, payload: &Value) -> Response {
    Auditor {
        ledger,
        pinned: None,
    }
    .handle(payload)
    .await
}

impl Auditor<'_> {
    /// Answer one Function URL request (the raw event, payload format 2.0).
    pub async fn handle(&self, payload: &Value) -> Response {
        let request = match Request::parse(payload) {
            Ok(request) => request,
            Err(e) => return Response::error(400, e.to_string()),
        };
        tracing::info!(
            caller = request.caller.as_deref().unwrap_or("unknown"),
            method = %request.method,
            path = %request.path,
            query = %serde_json::to_string(&request.query).unwrap_or_default(),
            "auditor request"
        );
        if request.method != "GET" {
            return Response::error(405, "the auditor answers GET requests only");
        }
        let query = &request.query;
        match request.path.trim_end_matches('/') {
            "/records" => self.records(query).await,
            "/verify" => self.verify().await,
            "/receipt" => match query.get("id") {
                None => Response::error(400, "query parameter id (the record id) is required"),
                Some(id) => match self.ledger.receipt(id.trim_start_matches("sha256:")).await {
                    Ok(receipt) => Response::json(200, &receipt),
                    Err(e) => Response::error(404, e.to_string()),
                },
            },
            "/checkpoint" => match self.ledger.head().await {
                Ok(Some(head)) => match BlockView::parse(&head.bytes) {
                    Ok(view) => {
                        Response::text(200, String::from_utf8_lossy(view.note).into_owned())
                    }
                    Err(e) => Response::error(500, format!("block {}: {e}", head.index)),
                },
                Ok(None) => Response::error(404, "the ledger is empty"),
                Err(e) => Response::error(500, e.to_string()),
            },
            path => Response::error(
                404,
                format!("no route {path}; use /records, /verify, /receipt or /checkpoint"),
            ),
        }
    }

    async fn verify(&self) -> Response {
        let report = self.ledger.verify(self.pinned.as_ref()).await;
        let verdict = Verdict::of(&report);
        // The report's own `verdict` (intact, tampered, could_not_run, empty) is the one stated;
        // the status code follows it.
        let mut body = json!({ "verdict": verdict, "intact": verdict == Verdict::Intact });
        if let (Value::Object(body), Ok(Value::Object(report))) =
            (&mut body, serde_json::to_value(&report))
        {
            body.extend(report);
        }
        if verdict != Verdict::Intact {
            tracing::error!(
                verdict = ?verdict,
                failures = report.failures.len(),
                error = report.error.as_deref(),
                "the ledger did not verify"
            );
        }
        Response::json(verdict.status(), &body)
    }

    async fn records(&self, query: &BTreeMap<String, String>) -> Response {
        let event = match query.get("event").map(|e| parse_event(e)).transpose() {
            Ok(event) => event,
            Err(e) => return Response::error(400, format!("query parameter event: {e}")),
        };
        let (after, limit) = match (
            query.get("next").map(|t| pages::parse_token(t)).transpose(),
            pages::parse_limit(query.get("limit")),
        ) {
            (Ok(after), Ok(limit)) => (after, limit),
            (Err(e), _) | (_, Err(e)) => return Response::error(400, e.to_string()),
        };
        let filter = RecordFilter {
            conversation: query.get("conversation").cloned(),
            matter: query.get("matter").cloned(),
            key: query.get("key").cloned(),
            key_prefix: query.get("key_prefix").cloned(),
            recording: query.get("recording").cloned(),
            event,
            ..RecordFilter::default()
        };
        if filter == RecordFilter::default() {
            return Response::error(
                400,
                "give at least one of conversation, matter, key, key_prefix, recording, event",
            );
        }
        // From the query index, every cited record re-checked against its block; postings
        // that do not hold are logged and named in the answer (docs/query.md).
        let answer = match find_indexed(self.ledger, &filter).await {
            Ok(answer) => answer,
            Err(e) => return Response::error(500, e.to_string()),
        };
        for rejected in &answer.rejected {
            tracing::warn!(
                posting = %rejected.posting,
                block = rejected.block,
                leaf = rejected.leaf,
                reason = %rejected.reason,
                "a query index posting did not hold against the ledger; ignored"
            );
        }
        let index = json!({
            "covered": answer.plan.covered,
            "used": answer.plan.index,
            "blocks_scanned": answer.plan.blocks_scanned,
            "rejected_postings": answer.rejected,
        });
        let found = answer.matches;
        let mut page = Vec::new();
        let mut bytes = 0;
        let mut rest = found
            .into_iter()
            .filter(|m| after.is_none_or(|a| m.leaf_index > a))
            .peekable();
        while let Some(found) = rest.peek() {
            let value = serde_json::to_value(found).expect("records serialize");
            let size = value.to_string().len();
            if page.len() == limit || (!page.is_empty() && bytes + size > pages::MAX_PAGE_BYTES) {
                break;
            }
            bytes += size;
            page.push((found.leaf_index, value));
            rest.next();
        }
        let next = match (rest.peek(), page.last()) {
            (Some(_), Some((last, _))) => Some(pages::token_after(*last)),
            _ => None,
        };
        let records: Vec<Value> = page.into_iter().map(|(_, v)| v).collect();
        Response::json(
            200,
            &json!({ "count": records.len(), "records": records, "next": next, "index": index }),
        )
    }
}
