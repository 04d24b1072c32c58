//! Appending on the filesystem adapter: idempotency (also after a crash after the block), a
//! lagging or lost head hint, key rotation, receipts, submissions and the integrator, and 8
//! concurrent writers.

mod ledger_common;

use custody_core::ledger::{
    BlockView, Ledger, LedgerCheck, LedgerConfig, Receipt, Signer, TrustedKeys, build_block, tip_of,
};
use custody_core::store::PutRequest;
use ledger_common::*;

#[tokio::test]
async fn appending_the_same_records_again_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::generate(ORIGIN).unwrap();
    let ledger = open(folder_store(dir.path()), &signer).await;
    let first = ledger.append(records("a", 0..5)).await.unwrap();
    assert_eq!(first.appended.len(), 5);
    assert_eq!(first.block, Some(0));
    assert_eq!(first.tree_size, 5);

    // A redelivery of the same batch, plus two new records and an in-batch duplicate.
    let mut again = records("a", 0..7);
    again.push(record("a", 6));
    let second = ledger.append(again).await.unwrap();
    assert_eq!(second.already_present.len(), 5);
    assert_eq!(second.appended.len(), 2);
    assert_eq!(second.appended[0].leaf_index, 5);
    assert_eq!(second.block, Some(1));
    assert_eq!(second.already_present[2].leaf_index, 2);

    let third = ledger.append(records("a", 0..7)).await.unwrap();
    assert!(third.appended.is_empty());
    assert_eq!(third.block, None);
    assert_eq!(third.tree_size, 7);

    let report = ledger.verify(None).await;
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, 7);
}

#[tokio::test]
async fn a_record_whose_id_does_not_match_is_rejected_and_the_rest_appended() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::generate(ORIGIN).unwrap();
    let ledger = open(folder_store(dir.path()), &signer).await;
    let mut bad = record("a", 1);
    bad.what.version_id = Some("other".into());
    let out = ledger
        .append(vec![record("a", 0), bad, record("a", 2)])
        .await
        .unwrap();
    assert_eq!(out.appended.len(), 2);
    assert_eq!(out.rejected.len(), 1);
    assert!(ledger.verify(None).await.is_intact());
}

#[tokio::test]
async fn a_block_written_by_another_writer_is_read_and_not_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::generate(ORIGIN).unwrap();
    let ledger = open(folder_store(dir.path()), &signer).await;
    ledger.append(records("a", 0..3)).await.unwrap();

    // Another writer wrote block 1 and died before the head hint.
    let tip = tip_of(&BlockView::parse(&read_block(dir.path(), 0)).unwrap()).unwrap();
    let lines: Vec<Vec<u8>> = records("a", 3..6).iter().map(|r| r.to_line()).collect();
    let block = build_block(&tip, &lines, ORIGIN, &signer, "2024-05-01T12:00:00.000Z").unwrap();
    write_block(dir.path(), 1, &block.bytes);
    // This writer's identity set did not know it: a lookup reads it and finds the record.
    let (placed, why) = ledger.locate_checked(&record("a", 4).id).await.unwrap();
    assert_eq!(placed.map(|p| (p.block, p.leaf_index)), Some((1, 4)));
    assert_eq!(why, None);

    // The retry of that batch finds every record already there.
    let out = ledger.append(records("a", 2..7)).await.unwrap();
    assert_eq!(out.already_present.len(), 4, "{out:?}");
    assert_eq!(out.appended.len(), 1);
    assert_eq!(out.appended[0].leaf_index, 6);
    assert_eq!(out.block, Some(2));
    let report = ledger.verify(None).await;
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, 7);
}

#[tokio::test]
async fn the_head_is_found_whatever_the_hint_says() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::generate(ORIGIN).unwrap();
    let ledger = build(dir.path(), &signer, 6, 1).await;
    assert_eq!(ledger.head_index().await.unwrap(), Some(5));
    let store = ledger.store().clone();
    for hint in [
        br#"{"block":0}"#.to_vec(),
        br#"{"block":3}"#.to_vec(),
        br#"{"block":40}"#.to_vec(),
        b"junk".to_vec(),
    ] {
        store.put(PutRequest::new("head.json", hint)).await.unwrap();
        assert_eq!(ledger.head_index().await.unwrap(), Some(5));
    }
    std::fs::remove_file(dir.path().join("head.json")).unwrap();
    assert_eq!(ledger.head_index().await.unwrap(), Some(5));
    let out = ledger.append(records("x", 0..1)).await.unwrap();
    assert_eq!(out.block, Some(6));
}

#[tokio::test]
async fn rotated_keys_keep_old_blocks_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let old = Signer::generate(ORIGIN).unwrap();
    let new = Signer::generate(ORIGIN).unwrap();
    let first = open(folder_store(dir.path()), &old).await;
    first.append(records("a", 0..3)).await.unwrap();
    let second = open(folder_store(dir.path()), &new).await;
    second.append(records("a", 3..6)).await.unwrap();
    second.append(records("a", 6..9)).await.unwrap();

    let report = second.verify(None).await;
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.signed_by.len(), 2, "{report}");

    // An auditor who pins only the new key sees block 0 as not signed by a trusted key.
    let mut config = LedgerConfig::new(ORIGIN);
    config.trusted_keys = vec![new.verifier_key()];
    let pinned_keys = Ledger::open(second.store().clone(), "", config, None)
        .await
        .unwrap();
    let report = pinned_keys.verify(None).await;
    assert_eq!(report.failed_checks(), vec![LedgerCheck::Signature]);
    assert_eq!(report.failures[0].block, Some(0));
}

#[tokio::test]
async fn a_receipt_verifies_offline_and_fails_when_altered() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::generate(ORIGIN).unwrap();
    let ledger = build(dir.path(), &signer, 4, 5).await;
    let target = record("w", 12);
    let receipt = ledger.receipt(&target.id).await.unwrap();
    assert_eq!(receipt.leaf_index, 12);
    assert_eq!(receipt.block, 2);
    let trusted = TrustedKeys::new(vec![signer.verifier_key()]);

    // Through JSON, as the file an auditor receives.
    let json = serde_json::to_string_pretty(&receipt).unwrap();
    let back: Receipt = serde_json::from_str(&json).unwrap();
    let ok = back.verify(&trusted).unwrap();
    assert_eq!(ok.record, target);
    assert_eq!(ok.tree_size, 15);

    let mut edited = back.clone();
    edited.record = edited.record.replace("\"size\":1012", "\"size\":1013");
    assert_ne!(edited.record, back.record);
    assert_eq!(
        edited.verify(&trusted).unwrap_err().check,
        LedgerCheck::Root
    );

    let mut moved = back.clone();
    moved.leaf_index = 13;
    assert_eq!(moved.verify(&trusted).unwrap_err().check, LedgerCheck::Root);

    let mut bad_proof = back.clone();
    bad_proof.inclusion_proof.swap(0, 1);
    assert_eq!(
        bad_proof.verify(&trusted).unwrap_err().check,
        LedgerCheck::Root
    );

    let foreign = TrustedKeys::new(vec![Signer::generate(ORIGIN).unwrap().verifier_key()]);
    assert_eq!(
        back.verify(&foreign).unwrap_err().check,
        LedgerCheck::Signature
    );

    // Another process, without the identity set in memory, finds it too.
    let other = open(folder_store(dir.path()), &signer).await;
    assert_eq!(other.receipt(&target.id).await.unwrap(), receipt);
    assert!(ledger.receipt(&"0".repeat(64)).await.is_err());
}

/// 8 writers x 50 records on one ledger, each also redelivering its neighbour's records: one
/// chain of exactly 400 records that verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_make_one_chain_of_400_on_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::generate(ORIGIN).unwrap();
    let store = folder_store(dir.path());
    let report = concurrent_writers(store, &signer).await;
    assert!(report.is_intact(), "{report}");
}
