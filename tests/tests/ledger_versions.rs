//! Issue 11 item 12: on a versioned ledger bucket an overwritten block or key leaves its old
//! version behind, and `verify` fails `[overwritten]` naming both versions. Tried on the
//! in-memory and folder adapters and on a real S3 server (SeaweedFS on 127.0.0.1); an honest
//! ledger written by racing writers on a versioned store stays intact (a lost create-only race
//! leaves no version behind).

mod ledger_common;

use std::sync::Arc;

use custody_core::ledger::{Ledger, LedgerCheck, LedgerConfig, Signer, Verdict, VerifyReport};
use custody_core::store::fs::FsStore;
use custody_core::store::memory::MemoryStore;
use custody_core::store::{BucketSpec, ObjectStore, PutRequest};
use custody_tests::{SeaweedFs, unique_bucket};
use ledger_common::*;

const VERSIONED: BucketSpec = BucketSpec {
    versioned: true,
    object_lock: false,
};

async fn ledger_on(store: Arc<dyn ObjectStore>, signer: &Signer) -> Ledger {
    let ledger = Ledger::open(store, "", LedgerConfig::new(ORIGIN), Some(signer.clone()))
        .await
        .unwrap();
    for b in 0..3 {
        ledger.append(records("v", b * 2..b * 2 + 2)).await.unwrap();
    }
    ledger
}

async fn auditor(store: Arc<dyn ObjectStore>, signer: &Signer) -> Ledger {
    let mut config = LedgerConfig::new(ORIGIN);
    config.trusted_keys = vec![signer.verifier_key()];
    Ledger::open(store, "", config, None).await.unwrap()
}

fn assert_overwritten(report: &VerifyReport, block: Option<u64>) {
    assert_eq!(
        report.failed_checks(),
        vec![LedgerCheck::Overwritten],
        "{report}"
    );
    assert_eq!(report.failures.len(), 1, "{report}");
    assert_eq!(report.failures[0].block, block, "{report}");
    assert!(
        report.failures[0].message.contains("2 versions"),
        "{report}"
    );
    assert_eq!(report.verdict(), Verdict::Tampered);
}

/// Overwrite block 1 with its own bytes (nothing else changes) and the published key with its
/// own text: only the versions tell.
async fn overwrite_block_and_key(store: Arc<dyn ObjectStore>) {
    let signer = Signer::generate(ORIGIN).unwrap();
    let writer = ledger_on(store.clone(), &signer).await;
    let audit = auditor(store.clone(), &signer).await;
    let report = audit.verify(None).await;
    assert!(report.is_intact(), "{report}");
    assert!(
        !report.notices.iter().any(|n| n.contains("versions")),
        "versions were not checked: {report}"
    );

    let block = writer.layout().block(1);
    let bytes = store.get_bytes(&block, None).await.unwrap();
    store
        .put(PutRequest::new(block.clone(), bytes.to_vec()))
        .await
        .unwrap();
    assert_overwritten(&audit.verify(None).await, Some(1));

    let key = writer.layout().key(signer.key_id());
    let text = store.get_bytes(&key, None).await.unwrap();
    let fresh_store = store.clone();
    fresh_store
        .put(PutRequest::new(key, text.to_vec()))
        .await
        .unwrap();
    let report = audit.verify(None).await;
    assert_eq!(report.failures.len(), 2, "{report}");
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.block.is_none() && f.message.contains("keys/")),
        "{report}"
    );
}

#[tokio::test]
async fn an_overwritten_block_or_key_fails_overwritten_in_memory() {
    overwrite_block_and_key(Arc::new(MemoryStore::new("ledger", VERSIONED))).await;
}

#[tokio::test]
async fn an_overwritten_block_or_key_fails_overwritten_in_a_versioned_folder() {
    let dir = tempfile::tempdir().unwrap();
    overwrite_block_and_key(Arc::new(FsStore::create(dir.path(), VERSIONED).unwrap())).await;
}

#[tokio::test]
async fn an_overwritten_block_or_key_fails_overwritten_on_s3() {
    let server = SeaweedFs::shared().await;
    let name = unique_bucket("ledger-versions");
    server.create_bucket(&name, VERSIONED).await.unwrap();
    overwrite_block_and_key(Arc::new(server.store(&name).await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_on_a_versioned_folder_leave_no_second_version() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(FsStore::create(dir.path(), VERSIONED).unwrap());
    let signer = Signer::generate(ORIGIN).unwrap();
    let report = concurrent_writers(store, &signer).await;
    assert!(report.is_intact(), "{report}");
}

#[tokio::test]
async fn an_unversioned_store_says_versions_were_not_checked() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(FsStore::open(dir.path()).unwrap());
    let signer = Signer::generate(ORIGIN).unwrap();
    ledger_on(store.clone(), &signer).await;
    let report = auditor(store, &signer).await.verify(None).await;
    assert!(report.is_intact(), "{report}");
    assert!(
        report
            .notices
            .iter()
            .any(|n| n.contains("not checked: the store keeps no versions")),
        "{report}"
    );
}
