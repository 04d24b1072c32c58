//! Tests of the fault-injecting store.

use super::*;
use crate::store::BucketSpec;
use crate::store::memory::MemoryStore;

fn store() -> FaultyStore {
    FaultyStore::new(Arc::new(MemoryStore::new("b", BucketSpec::default())))
}

#[tokio::test]
async fn a_refusal_hits_only_its_action_and_only_as_often_as_named() {
    let store = store();
    store.put(PutRequest::new("k", "body")).await.unwrap();
    store.inject(Rule::on(
        "GetObject",
        2,
        Fault::Refuse(StoreErrorKind::Transient, "SlowDown"),
    ));
    assert!(store.head("k", None).await.is_ok());
    for _ in 0..2 {
        let e = store.get("k", None, None).await.unwrap_err();
        assert_eq!(
            (e.kind, e.code.as_deref()),
            (StoreErrorKind::Transient, Some("SlowDown"))
        );
    }
    assert_eq!(&store.get_bytes("k", None).await.unwrap()[..], b"body");
    assert_eq!((store.calls("GetObject"), store.injected()), (3, 2));
}

#[tokio::test]
async fn a_lost_answer_still_makes_the_write() {
    let store = store();
    store.inject(Rule::on("PutObject", 1, Fault::LoseAnswer).for_keys("a/"));
    let e = store.put(PutRequest::new("a/k", "x")).await.unwrap_err();
    assert!(e.is_retryable());
    assert_eq!(&store.get_bytes("a/k", None).await.unwrap()[..], b"x");
}

#[tokio::test]
async fn a_body_cut_mid_way_yields_the_bytes_before_the_cut_then_an_error() {
    let store = store();
    store
        .put(PutRequest::new("k", vec![1u8; 100]))
        .await
        .unwrap();
    store.inject(Rule::on("GetObject", 1, Fault::CutBodyAt(40)));
    let mut body = store.get("k", None, None).await.unwrap();
    let mut got = 0;
    let mut failed = false;
    while let Some(chunk) = body.chunks.next().await {
        match chunk {
            Ok(c) => got += c.len(),
            Err(e) => {
                failed = e.is_retryable();
                break;
            }
        }
    }
    assert_eq!((got, failed), (40, true));
}

#[tokio::test]
async fn random_faults_are_replayable_from_their_seed() {
    let run = |seed| async move {
        let store = store().with_random(RandomFaults { rate: 0.3, seed });
        let mut outcomes = Vec::new();
        for i in 0..50 {
            outcomes.push(
                store
                    .put(PutRequest::new(format!("k{i}"), "x"))
                    .await
                    .is_ok(),
            );
        }
        (outcomes, store.injected())
    };
    let (a, injected) = run(7).await;
    assert_eq!(a, run(7).await.0);
    assert!((5..=25).contains(&injected), "{injected} of 50 at 30%");
}
