//! A record's identity is the fact it states.
//!
//! The ledger stores each fact once: a writer appends a record only when no record with the same
//! identity is in the ledger, so a re-run that learns nothing new appends nothing, and a run that
//! learns something new (a further mechanism, a further matter, a new version, a new digest)
//! always appends. The identity is lower-case hex SHA-256 over length-prefixed fields (8-byte
//! big-endian length, then the UTF-8 bytes), so that no two field lists collide:
//!
//! ```text
//! id = hex(SHA-256( lp("custody-fact/2") || lp(event) || lp(bucket) || lp(key) || lp(version)
//!                   || lp(f1) || lp(f2) ... ))          lp(x) = be64(len(x)) || x
//! ```
//!
//! `version` is `what.version_id` (empty when none). The further fields `f1, f2, ...` per event
//! kind (schema 2; `docs/ledger.md` has the same table):
//!
//! | event | fields after the object version | why |
//! |---|---|---|
//! | `observed` | `what.etag`, `what.size` | unversioned keys: new bytes are a new observation |
//! | `hold_applied` | `how.mechanisms` (sorted, comma-joined), `why.matter`, `what.new_version_id` | a further mechanism, matter or copy is a new fact |
//! | `hashed` | `what.sha256`, `what.etag` | a new digest is a new fact |
//! | `verified` | `what.sha256`, `at` | every check is its own fact |
//! | `missing` | `why.matter` | missing for a further matter is a new fact |
//! | `unreferenced` | `what.etag` | |
//! | `mismatch` | `outcome.detail` | the disagreement itself |
//! | `failed` | `outcome.error.action`, `outcome.error.code` | not the message: it carries request ids |
//! | `superseded` | `what.new_version_id`, `what.sha256` | the successor version and its digest |
//! | `resolved` | `outcome.detail` | names the earlier `missing` record |
//! | `hold_released` | `why.matter` | a version is released for a matter once; predictable, so a writer finds it before re-applying a hold |
//! | `attested` | `what.sha256` | the digest over the attested list |
//!
//! Schema 1 records (the first ledgers) keep their identity rule, bucket, key, version, event and
//! source ([`legacy_identity`]), so old ledgers keep verifying.

use sha2::{Digest, Sha256};

use super::record::{CustodyRecord, EventKind, What};

/// The domain tag of schema-2 identities.
const FACT_TAG: &str = "custody-fact/2";

/// The schema-2 identity of `record`: its event kind, object version and the fields that make
/// its fact (see the module docs).
pub fn fact_identity(record: &CustodyRecord) -> String {
    let what = &record.what;
    let version = what.version_id.as_deref().unwrap_or("");
    let size = what.size.map(|s| s.to_string()).unwrap_or_default();
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut mechanisms = record.how.mechanisms.clone();
    mechanisms.sort();
    mechanisms.dedup();
    let facts: Vec<String> = match record.event {
        EventKind::Observed => vec![opt(&what.etag), size],
        EventKind::HoldApplied => vec![
            mechanisms.join(","),
            opt(&record.why.matter),
            opt(&what.new_version_id),
        ],
        EventKind::Hashed => vec![opt(&what.sha256), opt(&what.etag)],
        EventKind::Verified => vec![opt(&what.sha256), record.at.clone()],
        EventKind::Missing => vec![opt(&record.why.matter)],
        EventKind::Unreferenced => vec![opt(&what.etag)],
        EventKind::Mismatch | EventKind::Resolved => vec![opt(&record.outcome.detail)],
        EventKind::Failed => {
            let error = record.outcome.error.as_ref();
            vec![
                error.and_then(|e| e.action.clone()).unwrap_or_default(),
                error.and_then(|e| e.code.clone()).unwrap_or_default(),
            ]
        }
        EventKind::Superseded => vec![opt(&what.new_version_id), opt(&what.sha256)],
        EventKind::HoldReleased => vec![opt(&record.why.matter)],
        EventKind::Attested => vec![opt(&what.sha256)],
    };
    let mut h = Sha256::new();
    let fixed = [
        FACT_TAG,
        record.event.as_str(),
        what.bucket.as_str(),
        what.key.as_str(),
        version,
    ];
    for part in fixed
        .iter()
        .copied()
        .chain(facts.iter().map(String::as_str))
    {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The schema-1 identity: bucket, key, version id (empty when none), event kind, source, each
/// length-prefixed.
pub fn legacy_identity(what: &What, event: EventKind, source: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        what.bucket.as_str(),
        what.key.as_str(),
        what.version_id.as_deref().unwrap_or(""),
        event.as_str(),
        source,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::record::{How, Outcome, RecordedError, Where, Who, Why};

    fn record(event: EventKind) -> CustodyRecord {
        CustodyRecord::new(
            event,
            chrono::Utc::now(),
            Who::default(),
            What {
                bucket: "b".into(),
                key: "k".into(),
                version_id: Some("v1".into()),
                size: Some(3),
                etag: Some("e".into()),
                sha256: Some("aa".into()),
                ..Default::default()
            },
            Where::default(),
            Why {
                matter: Some("M-1".into()),
                source: "s3://b/meta.json#1".into(),
                ..Default::default()
            },
            How {
                mechanisms: vec!["tags".into()],
                ..How::default()
            },
            Outcome::default(),
        )
    }

    #[test]
    fn the_same_fact_from_another_source_or_time_is_the_same_record() {
        for event in [
            EventKind::Observed,
            EventKind::HoldApplied,
            EventKind::Hashed,
        ] {
            let a = record(event);
            let mut b = record(event);
            b.why.source = "s3://b/manifest.csv#9".into();
            b.at = "2030-01-01T00:00:00.000Z".into();
            b.who.request_id = Some("other".into());
            assert_eq!(fact_identity(&a), fact_identity(&b), "{event:?}");
        }
    }

    #[test]
    fn a_further_mechanism_matter_copy_or_digest_is_a_new_fact() {
        let base = record(EventKind::HoldApplied);
        let mut more = base.clone();
        more.how.mechanisms.push("object-lock".into());
        let mut matter = base.clone();
        matter.why.matter = Some("M-1+M-2".into());
        let mut copy = base.clone();
        copy.what.new_version_id = Some("v2".into());
        for changed in [&more, &matter, &copy] {
            assert_ne!(fact_identity(&base), fact_identity(changed));
        }
        let mut reordered = more.clone();
        reordered.how.mechanisms.reverse();
        assert_eq!(fact_identity(&more), fact_identity(&reordered));

        let hashed = record(EventKind::Hashed);
        let mut digest = hashed.clone();
        digest.what.sha256 = Some("bb".into());
        assert_ne!(fact_identity(&hashed), fact_identity(&digest));
    }

    #[test]
    fn failures_are_the_same_fact_whatever_the_message_says() {
        let mut a = record(EventKind::Failed);
        a.outcome.error = Some(RecordedError {
            action: Some("PutObjectTagging".into()),
            code: Some("AccessDenied".into()),
            message: "request id 1".into(),
            ..Default::default()
        });
        let mut b = a.clone();
        b.outcome.error.as_mut().unwrap().message = "request id 2".into();
        assert_eq!(fact_identity(&a), fact_identity(&b));
        b.outcome.error.as_mut().unwrap().code = Some("NoSuchKey".into());
        assert_ne!(fact_identity(&a), fact_identity(&b));
    }

    #[test]
    fn every_event_kind_and_field_boundary_separates_identities() {
        let kinds = [
            EventKind::Observed,
            EventKind::HoldApplied,
            EventKind::Hashed,
            EventKind::Verified,
            EventKind::Missing,
            EventKind::Unreferenced,
            EventKind::Mismatch,
            EventKind::HoldReleased,
            EventKind::Failed,
            EventKind::Superseded,
            EventKind::Resolved,
            EventKind::Attested,
        ];
        let ids: std::collections::BTreeSet<String> =
            kinds.iter().map(|k| fact_identity(&record(*k))).collect();
        assert_eq!(ids.len(), kinds.len());
        let mut a = record(EventKind::Observed);
        a.what.bucket = "bk".into();
        a.what.key = "".into();
        let mut b = record(EventKind::Observed);
        b.what.bucket = "b".into();
        b.what.key = "k".into();
        assert_ne!(fact_identity(&a), fact_identity(&b));
    }
}
