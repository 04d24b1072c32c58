//! Submissions and the integrator on the memory and fault-injecting stores: each record once,
//! submissions retired only once integrated, refused lines kept, crashes and a second
//! integrator harmless, and the identity set's exact fallback on a prefix collision.

use std::sync::Arc;

use chrono::TimeZone;

use super::super::identities::prefix_of;
use super::*;
use crate::ledger::LedgerConfig;
use crate::ledger::keys::Signer;
use crate::ledger::record::{EventKind, How, Outcome, What, Where, Who, Why};
use crate::store::faulty::{Fault, FaultyStore, Rule};
use crate::store::memory::MemoryStore;
use crate::store::{BucketSpec, ObjectStore};

const ORIGIN: &str = "custody.test/ledger";

fn record(i: usize) -> CustodyRecord {
    CustodyRecord::new(
        EventKind::Hashed,
        Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap(),
        Who::default(),
        What {
            bucket: "exports".into(),
            key: format!("org/conversation_id=c/{i}.opus"),
            version_id: Some(format!("v{i}")),
            sha256: Some(format!("{i:064x}")),
            ..Default::default()
        },
        Where::default(),
        Why {
            source: format!("s3://exports/org/{i}.opus_metadata.json#v1"),
            ..Default::default()
        },
        How::default(),
        Outcome::default(),
    )
}

fn records(range: std::ops::Range<usize>) -> Vec<CustodyRecord> {
    range.map(record).collect()
}

fn memory() -> Arc<dyn ObjectStore> {
    Arc::new(MemoryStore::new("ledger", BucketSpec::default()))
}

async fn open(store: Arc<dyn ObjectStore>, signer: &Signer) -> Ledger {
    Ledger::open(store, "l", LedgerConfig::new(ORIGIN), Some(signer.clone()))
        .await
        .unwrap()
}

async fn pending(ledger: &Ledger) -> usize {
    ledger.list_pending().await.unwrap().len()
}

#[tokio::test]
async fn submissions_are_integrated_each_record_once_and_then_deleted() {
    let signer = Signer::generate(ORIGIN).unwrap();
    let ledger = open(memory(), &signer).await;
    let a = ledger.submit(&records(0..6)).await.unwrap();
    // The same records again: the same object.
    let again = ledger.submit(&records(0..6)).await.unwrap();
    assert_eq!(a.key, again.key);
    // Overlapping records in another submission.
    let b = ledger.submit(&records(4..10)).await.unwrap();
    assert_ne!(a.key, b.key);
    assert_eq!(pending(&ledger).await, 2);

    let round = ledger.integrate().await.unwrap();
    assert_eq!(round.appended, 10, "{round:?}");
    assert_eq!(round.integrated.len(), 2);
    assert_eq!(pending(&ledger).await, 0);
    assert!(
        ledger
            .wait_integrated(&[a.key.clone(), b.key], Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );

    // A late redelivery of the first submission: found present, deleted, nothing appended.
    ledger.submit(&records(0..6)).await.unwrap();
    let round = ledger.integrate().await.unwrap();
    assert_eq!((round.appended, round.already_present), (0, 6));
    assert_eq!(pending(&ledger).await, 0);
    let report = ledger.verify(None).await;
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, 10);
}

#[tokio::test]
async fn a_submission_whose_delete_fails_stays_pending_and_is_found_present_next_round() {
    let signer = Signer::generate(ORIGIN).unwrap();
    let faulty = Arc::new(FaultyStore::new(memory()));
    // The delete is made, then the answer lost; and a second delete refused outright.
    faulty.inject(Rule::on(
        "DeleteObject",
        1,
        Fault::Refuse(StoreErrorKind::AccessDenied, "AccessDenied"),
    ));
    let ledger = open(faulty.clone(), &signer).await;
    ledger.submit(&records(0..4)).await.unwrap();
    let round = ledger.integrate().await.unwrap();
    assert_eq!(round.appended, 4);
    assert!(round.integrated.is_empty());
    assert_eq!(round.left_pending.len(), 1, "{round:?}");
    // A new integrator (a new process): the records are present, the submission retired.
    let next = open(faulty.clone(), &signer).await;
    let round = next.integrate().await.unwrap();
    assert_eq!((round.appended, round.already_present), (0, 4), "{round:?}");
    assert_eq!(round.integrated.len(), 1);
    assert_eq!(next.verify(None).await.records, 4);
}

#[tokio::test]
async fn a_block_write_whose_answer_is_lost_is_read_back_not_written_twice() {
    let signer = Signer::generate(ORIGIN).unwrap();
    let faulty = Arc::new(FaultyStore::new(memory()));
    faulty.inject(Rule::on("PutObject", 1, Fault::LoseAnswer).for_keys("l/blocks/"));
    let ledger = open(faulty.clone(), &signer).await;
    let out = ledger.append(records(0..3)).await.unwrap();
    // The block was made; its records are then found in it.
    assert_eq!(out.already_present.len(), 3, "{out:?}");
    assert_eq!(out.attempts, 2);
    let report = ledger.verify(None).await;
    assert!(report.is_intact(), "{report}");
    assert_eq!((report.blocks, report.records), (1, 3));
}

#[tokio::test]
async fn refused_lines_are_kept_under_rejected_with_their_reasons() {
    let signer = Signer::generate(ORIGIN).unwrap();
    let store = memory();
    let ledger = open(store.clone(), &signer).await;
    let mut forged = record(1);
    forged.what.version_id = Some("other".into());
    let mut body = record(0).to_line();
    body.push(b'\n');
    body.extend_from_slice(b"{\"not\":\"a record\"}\n");
    body.extend_from_slice(&forged.to_line());
    body.push(b'\n');
    let key = ledger.layout().submission(&"ab".repeat(32));
    store
        .put(PutRequest::new(key.clone(), body.clone()).create_only())
        .await
        .unwrap();
    let round = ledger.integrate().await.unwrap();
    assert_eq!(round.appended, 1);
    assert_eq!(round.refused.len(), 2, "{round:?}");
    assert_eq!(round.refused[0].line, 2);
    assert!(round.refused[1].reason.contains("identity"));
    let kept = store
        .get_bytes(&ledger.layout().rejected_submission(&key, ""), None)
        .await
        .unwrap();
    assert_eq!(kept.as_ref(), body.as_slice());
    let why = store
        .get_bytes(&ledger.layout().rejected_submission(&key, ".json"), None)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&why).contains("not a custody record"));
    assert_eq!(pending(&ledger).await, 0);
}

#[tokio::test]
async fn a_record_over_the_entry_limit_is_refused_before_it_is_written() {
    let signer = Signer::generate(ORIGIN).unwrap();
    let ledger = open(memory(), &signer).await;
    let mut big = record(0);
    big.outcome.detail = Some("x".repeat(MAX_RECORD_BYTES_FOR_TEST));
    big.id = crate::ledger::fact_identity(&big);
    let s = ledger.submit(&[big, record(1)]).await.unwrap();
    assert_eq!(s.rejected.len(), 1);
    assert!(s.rejected[0].reason.contains("65535"));
    assert_eq!(s.ids.len(), 1);
}

const MAX_RECORD_BYTES_FOR_TEST: usize = super::super::MAX_RECORD_BYTES;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_integrators_at_once_make_one_chain_with_each_record_once() {
    let signer = Signer::generate(ORIGIN).unwrap();
    let store = memory();
    let writer = open(store.clone(), &signer).await;
    for chunk in 0..40 {
        writer
            .submit(&records(chunk * 5..chunk * 5 + 8))
            .await
            .unwrap();
    }
    let one = open(store.clone(), &signer).await;
    let two = open(store.clone(), &signer).await;
    let (a, b) = tokio::join!(one.integrate_all(None), two.integrate_all(None));
    let appended: usize = a
        .unwrap()
        .iter()
        .chain(&b.unwrap())
        .map(|r| r.appended)
        .sum();
    assert_eq!(appended, 40 * 5 + 3);
    assert_eq!(pending(&writer).await, 0);
    let report = writer.verify(None).await;
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, 203);
}

#[tokio::test]
async fn a_prefix_collision_is_told_apart_by_reading_the_block() {
    let signer = Signer::generate(ORIGIN).unwrap();
    let ledger = open(memory(), &signer).await;
    ledger.append(records(0..3)).await.unwrap();
    let newcomer = record(7);
    // Pretend leaf 1 shares the newcomer's prefix: the set names it as a candidate.
    {
        let mut guard = ledger.identities.lock().await;
        let (set, _) = guard.as_mut().unwrap();
        set.insert(&newcomer.id, 1);
        assert!(prefix_of(&newcomer.id) != prefix_of(&record(1).id));
    }
    let out = ledger
        .append(vec![newcomer.clone(), record(1)])
        .await
        .unwrap();
    assert_eq!(out.appended.len(), 1, "{out:?}");
    assert_eq!(out.appended[0].id, newcomer.id);
    assert_eq!(out.already_present[0].leaf_index, 1);
    assert_eq!(ledger.verify(None).await.records, 4);
}

#[tokio::test]
async fn a_saved_snapshot_spares_the_next_process_reading_the_blocks() {
    let signer = Signer::generate(ORIGIN).unwrap();
    let store = memory();
    let ledger = open(store.clone(), &signer).await;
    for b in 0..5 {
        ledger.append(records(b * 3..b * 3 + 3)).await.unwrap();
    }
    assert!(ledger.save_identity_snapshot(true).await.unwrap());
    let next = open(store.clone(), &signer).await;
    let out = next.append(records(0..16)).await.unwrap();
    assert_eq!((out.appended.len(), out.already_present.len()), (1, 15));
    assert_eq!(out.identity_blocks_read, 0, "{out:?}");
    assert_eq!(out.identity_snapshot_refused, None);
    // A reader without the key trusts it through the published key.
    let reader = Ledger::open(store, "l", LedgerConfig::new(ORIGIN), None)
        .await
        .unwrap();
    let (found, note) = reader.locate_checked(&record(15).id).await.unwrap();
    assert_eq!(found.map(|p| p.leaf_index), Some(15));
    assert_eq!(note, None);
}

#[tokio::test]
async fn a_reading_handle_with_a_signer_writes_the_same_ledger_under_the_same_configuration() {
    let store = memory();
    let signer = Signer::generate(ORIGIN).unwrap();
    let config = LedgerConfig {
        trusted_keys: vec![signer.verifier_key()],
        concurrency: 3,
        ..LedgerConfig::new(ORIGIN)
    };
    let reader = Ledger::open(store.clone(), "l", config, None)
        .await
        .unwrap();
    assert_eq!(reader.head_index().await.unwrap(), None);

    let writer = reader.with_signer(signer).await.unwrap();
    assert_eq!(writer.layout().prefix(), reader.layout().prefix());
    assert_eq!(writer.config().concurrency, 3);
    assert_eq!(writer.config().trusted_keys, reader.config().trusted_keys);
    let appended = writer.append(records(0..3)).await.unwrap();
    assert_eq!(appended.appended.len(), 3);
    // The reader sees the block the writer signed, and verifies it under its trusted key.
    assert_eq!(reader.head_index().await.unwrap(), Some(0));
    let report = reader.verify(None).await;
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 3);

    // A key named after another origin is refused, as by `Ledger::open`.
    let stranger = Signer::generate("custody.test/other").unwrap();
    assert!(matches!(
        reader.with_signer(stranger).await,
        Err(LedgerError::Config(_))
    ));
}
