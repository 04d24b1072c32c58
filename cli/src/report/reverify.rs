//! The exact commands that re-check a report without trusting it: verify the whole ledger
//! against the auditor's keys (pinning the checkpoint the report shows), list the same records,
//! check one receipt per attestation offline, and recompute an object's SHA-256 from the export
//! bucket with the AWS CLI. Every argument is shell-quoted (keys come from the export).
//!
//! ```text
//! custody verify s3://custody-ledger/ledger --key keys/custody.example.com_ledger-1a2b3c4d.vkey --pinned checkpoint.txt
//! custody receipt s3://custody-ledger/ledger --id 5e0f… --out receipt-c0ffee01-….json
//! custody verify-receipt receipt-c0ffee01-….json --key keys/…vkey
//! aws s3api get-object --bucket genesys-exports --key 'org/…/r1.opus' --version-id 3HL4 /dev/stdout | sha256sum
//! ```

use std::borrow::Cow;

use super::model::{CustodyReport, Reverify};

/// Attestations given a receipt command each (the rest are alike).
const RECEIPTS_SHOWN: usize = 20;

/// Where the ledger is and how the report reached it.
pub struct Reach<'a> {
    pub ledger: &'a str,
    pub origin: &'a str,
    pub keys: Vec<String>,
    pub endpoint: Option<&'a str>,
}

fn quote(word: &str) -> Cow<'_, str> {
    // A NUL byte cannot be passed to a command at all: shown escaped instead.
    shlex::try_quote(word).unwrap_or_else(|_| Cow::Owned(format!("{word:?}")))
}

fn line(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| quote(w).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Reach<'_> {
    /// `--key K …` (or a placeholder the auditor must fill: the report was made unpinned) and
    /// the endpoint.
    fn ledger_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        if self.keys.is_empty() {
            flags.extend(["--key".to_string(), "YOUR-TRUSTED-KEY.vkey".to_string()]);
        }
        for k in &self.keys {
            flags.extend(["--key".to_string(), k.clone()]);
        }
        flags.extend(["--origin".to_string(), self.origin.to_string()]);
        if let Some(e) = self.endpoint {
            flags.extend(["--endpoint-url".to_string(), e.to_string()]);
        }
        flags
    }

    fn custody(&self, command: &str, rest: &[String]) -> String {
        let mut words = vec!["custody", command, self.ledger];
        words.extend(rest.iter().map(String::as_str));
        line(&words)
    }
}

/// The commands for `report`.
pub fn commands(report: &CustodyReport, reach: &Reach<'_>) -> Vec<Reverify> {
    let flags = reach.ledger_flags();
    let mut out = Vec::new();
    let mut verify = flags.clone();
    verify.extend(["--pinned".to_string(), "checkpoint.txt".to_string()]);
    out.push(Reverify {
        purpose: "Verify the whole ledger with your own copy of the public key, and that it \
                  extends the checkpoint shown above (save that note as checkpoint.txt)"
            .to_string(),
        command: reach.custody("verify", &verify),
    });
    let mut again = flags.clone();
    again.extend([
        report.subject.flag(),
        report.subject.value.clone(),
        "--format".to_string(),
        "json".to_string(),
    ]);
    out.push(Reverify {
        purpose: "Make this report again (JSON) and compare".to_string(),
        command: reach.custody("report", &again),
    });
    let mut query = vec![
        report.subject.flag(),
        report.subject.value.clone(),
        "--exhaustive".to_string(),
        "--output".to_string(),
        "csv".to_string(),
    ];
    if let Some(e) = reach.endpoint {
        query.extend(["--endpoint-url".to_string(), e.to_string()]);
    }
    out.push(Reverify {
        purpose: "List every record the report summarises, reading every block".to_string(),
        command: reach.custody("query", &query),
    });
    let key_flags: Vec<String> = flags
        .chunks(2)
        .filter(|pair| pair[0] == "--key")
        .flatten()
        .cloned()
        .collect();
    for a in report.attestations.iter().take(RECEIPTS_SHOWN) {
        let file = format!(
            "receipt-{}.json",
            a.conversation_id.as_deref().unwrap_or(&a.record_id)
        );
        let mut receipt = vec!["--id".to_string(), a.record_id.clone(), "--out".to_string()];
        receipt.push(file.clone());
        receipt.extend(flags.iter().cloned());
        let mut offline = vec!["custody", "verify-receipt", file.as_str()];
        offline.extend(key_flags.iter().map(String::as_str));
        out.push(Reverify {
            purpose: format!(
                "Prove offline that the attestation of {} is in the signed ledger",
                a.scope
            ),
            command: format!("{}\n{}", reach.custody("receipt", &receipt), line(&offline)),
        });
    }
    if report.attestations.len() > RECEIPTS_SHOWN {
        out.push(Reverify {
            purpose: format!(
                "The other {} attestations: the same two commands with their record ids (table above)",
                report.attestations.len() - RECEIPTS_SHOWN
            ),
            command: "custody receipt … --id <record> --out receipt.json && custody verify-receipt receipt.json --key …".to_string(),
        });
    }
    if let Some(object) = report
        .conversations
        .iter()
        .flat_map(|c| &c.objects)
        .find(|o| o.sha256.is_some())
    {
        let mut words = vec!["aws", "s3api", "get-object", "--bucket"];
        let bucket = report
            .summary
            .buckets
            .first()
            .map(String::as_str)
            .unwrap_or("BUCKET");
        words.extend([bucket, "--key", object.key.as_str()]);
        if let Some(v) = &object.version_id {
            words.extend(["--version-id", v.as_str()]);
        }
        if let Some(e) = reach.endpoint {
            words.extend(["--endpoint-url", e]);
        }
        words.push("/dev/stdout");
        out.push(Reverify {
            purpose: format!(
                "Recompute an object's SHA-256 from the export bucket (expect {})",
                object.sha256.as_deref().unwrap_or_default()
            ),
            command: format!("{} | sha256sum", line(&words)),
        });
    }
    out
}
