//! The report's model from records, and its HTML escaping of what the ledger says.

use chrono::{TimeZone, Utc};
use custody_core::ledger::{
    Attestation, AttestedObject, CustodyRecord, EventKind, How, Outcome, Trust, Verdict, What,
    Where, Who, Why,
};
use custody_core::query::Match;

use super::html;
use super::model::{CustodyReport, Subject, build};
use super::reverify::{Reach, commands};
use super::verification::Verification;

const EVIL: &str = "org/conversation_id=c-1/<img src=x onerror=alert(1)>'\";.opus";

fn record(event: EventKind, key: &str, sha: Option<&str>) -> CustodyRecord {
    CustodyRecord::new(
        event,
        Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap(),
        Who::default(),
        What {
            bucket: "exports".into(),
            key: key.into(),
            version_id: Some("v1".into()),
            size: Some(4),
            sha256: sha.map(str::to_string),
            ..What::default()
        },
        Where::default(),
        Why {
            conversation_id: Some("c-1".into()),
            matter: Some("M-1+M-2".into()),
            source: "test".into(),
            ..Why::default()
        },
        How {
            mechanisms: vec!["tags".into()],
            ..How::default()
        },
        Outcome::default(),
    )
}

fn matches() -> Vec<Match> {
    let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let attestation = Attestation {
        scope: "org/conversation_id=c-1/".into(),
        present: vec![AttestedObject {
            key: EVIL.into(),
            version_id: Some("v1".into()),
            sha256: Some(sha.into()),
        }],
        missing: vec!["org/conversation_id=c-1/gone.opus".into()],
        unreferenced: Vec::new(),
    };
    let records = vec![
        record(EventKind::Observed, EVIL, None),
        record(EventKind::HoldApplied, EVIL, None),
        record(EventKind::Hashed, EVIL, Some(sha)),
        record(
            EventKind::Missing,
            "org/conversation_id=c-1/gone.opus",
            None,
        ),
        record(EventKind::Attested, "org/conversation_id=c-1/", None).attesting(attestation),
    ];
    records
        .into_iter()
        .enumerate()
        .map(|(i, record)| Match {
            block: 0,
            leaf_index: i as u64,
            record,
        })
        .collect()
}

fn verification(verdict: Verdict, trust: Trust) -> Verification {
    Verification {
        verdict,
        headline: "INTACT (UNPINNED: …)".into(),
        trust,
        unpinned: trust == Trust::PublishedKeys,
        trusted_keys: vec!["custody.test+01020304".into()],
        blocks: 1,
        records: 5,
        tree_size: 5,
        root: None,
        failures: Vec::new(),
        error: None,
        checkpoint_block: Some(0),
        checkpoint: Some("custody.test\n5\n<b>root</b>\n".into()),
        checkpoint_signed_by: Some("custody.test+01020304".into()),
        checkpoint_problem: None,
        attestations_checked: 1,
        attestation_failures: Vec::new(),
    }
}

fn report() -> CustodyReport {
    let (summary, conversations, attestations) = build(&matches());
    let mut report = CustodyReport {
        subject: Subject {
            kind: "matter",
            value: "M-1".into(),
        },
        generated_at: "2024-05-02T00:00:00Z".into(),
        tool_version: "0.1.0".into(),
        ledger: "s3://ledger/l".into(),
        origin: "custody.test".into(),
        summary,
        conversations,
        attestations,
        verification: verification(Verdict::Intact, Trust::PublishedKeys),
        reverify: Vec::new(),
    };
    let reach = Reach {
        ledger: "s3://ledger/l",
        origin: "custody.test",
        keys: Vec::new(),
        endpoint: None,
    };
    report.reverify = commands(&report, &reach);
    report
}

#[test]
fn the_model_counts_objects_findings_marks_and_attestations() {
    let report = report();
    let s = &report.summary;
    assert_eq!((s.conversations, s.objects, s.hashed, s.held), (1, 1, 1, 1));
    assert_eq!(s.findings.get("missing"), Some(&1));
    assert_eq!(s.matters, vec!["M-1".to_string(), "M-2".to_string()]);
    let c = &report.conversations[0];
    assert_eq!(c.folder, "org/conversation_id=c-1/");
    assert_eq!(c.marks, vec!["tags".to_string()]);
    assert_eq!(c.objects[0].name, "<img src=x onerror=alert(1)>'\";.opus");
    assert_eq!(report.attestations.len(), 1);
    assert_eq!(report.attestations[0].missing, 1);
    assert_eq!(
        c.attestation.as_deref(),
        Some(report.attestations[0].digest.as_str())
    );
}

#[test]
fn everything_from_the_ledger_is_escaped_in_the_page() {
    let page = html::render(&report());
    assert!(!page.contains("<img"), "a key became markup");
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{page}"
    );
    assert!(
        !page.contains("<b>root</b>"),
        "the checkpoint became markup"
    );
    assert!(page.contains("&lt;b&gt;root&lt;/b&gt;"));
    assert!(page.contains("class=\"banner warn\""), "UNPINNED is amber");
    assert!(page.contains("data-conversation=\"c-1\""));
}

#[test]
fn a_ledger_that_does_not_verify_turns_the_banner_red() {
    let mut report = report();
    report.verification = verification(Verdict::Tampered, Trust::PinnedKeys);
    let page = html::render(&report);
    assert!(page.contains("class=\"banner bad\""));
    report.verification = verification(Verdict::Intact, Trust::PinnedKeys);
    assert!(html::render(&report).contains("class=\"banner ok\""));
    report.verification.checkpoint_signed_by = None;
    assert!(html::render(&report).contains("class=\"banner bad\""));
}

#[test]
fn the_commands_quote_keys_for_the_shell() {
    let report = report();
    let aws = report
        .reverify
        .iter()
        .find(|r| r.command.starts_with("aws s3api"))
        .expect("an AWS CLI command");
    let words = shlex::split(aws.command.trim_end_matches(" | sha256sum")).unwrap();
    assert!(words.contains(&EVIL.to_string()), "{}", aws.command);
    assert!(
        report
            .reverify
            .iter()
            .any(|r| r.command.contains("custody verify-receipt")),
        "a receipt per attestation"
    );
    assert!(
        report.reverify[0]
            .command
            .contains("--key YOUR-TRUSTED-KEY.vkey")
    );
}
