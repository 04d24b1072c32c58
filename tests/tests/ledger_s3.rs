//! The ledger on a real S3 server (SeaweedFS on 127.0.0.1): create-only blocks under
//! `If-None-Match: *`, 8 concurrent writers, verification and receipts over S3.

mod ledger_common;

use std::sync::Arc;

use custody_core::ledger::{Ledger, LedgerConfig, Signer, TrustedKeys};
use custody_core::store::{BucketSpec, ObjectStore};
use custody_tests::{SeaweedFs, unique_bucket};
use ledger_common::*;

async fn bucket(label: &str, spec: BucketSpec) -> Arc<dyn ObjectStore> {
    let server = SeaweedFs::shared().await;
    let name = unique_bucket(label);
    server
        .create_bucket(&name, spec)
        .await
        .expect("bucket created");
    Arc::new(server.store(&name).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_make_one_chain_of_400_on_s3() {
    let store = bucket("ledger-concurrent", BucketSpec::default()).await;
    let signer = Signer::generate(ORIGIN).unwrap();
    let report = concurrent_writers(store, &signer).await;
    assert!(report.is_intact(), "{report}");
}

#[tokio::test]
async fn a_ledger_under_a_prefix_appends_verifies_and_gives_receipts_on_s3() {
    // As the template sets the ledger bucket up: versioned, with Object Lock.
    let spec = BucketSpec {
        versioned: true,
        object_lock: true,
    };
    let store = bucket("ledger-prefix", spec).await;
    let signer = Signer::generate(ORIGIN).unwrap();
    let ledger = Ledger::open(
        store.clone(),
        "custody/ledger",
        LedgerConfig::new(ORIGIN),
        Some(signer.clone()),
    )
    .await
    .unwrap();
    for b in 0..3 {
        ledger
            .append(records("s3", b * 3..b * 3 + 3))
            .await
            .unwrap();
    }
    let again = ledger.append(records("s3", 0..9)).await.unwrap();
    assert_eq!(again.already_present.len(), 9);
    assert_eq!(again.block, None);
    let listed = store.list("custody/ledger/blocks/").await.unwrap();
    assert_eq!(listed.len(), 3);
    let report = ledger.verify(None).await;
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, 9);
    let receipt = ledger.receipt(&record("s3", 4).id).await.unwrap();
    let trusted = TrustedKeys::new(vec![signer.verifier_key()]);
    assert_eq!(receipt.verify(&trusted).unwrap().leaf_index, 4);
}
