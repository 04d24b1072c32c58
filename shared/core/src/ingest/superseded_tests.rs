use super::*;

fn fact(event: EventKind, version: Option<&str>, sha: Option<&str>, leaf: u64) -> RecordedFact {
    RecordedFact {
        key: "k".to_string(),
        event,
        version_id: version.map(str::to_string),
        sha256: sha.map(str::to_string),
        new_version_id: None,
        block: 0,
        leaf,
    }
}

#[test]
fn a_recorded_version_and_digest_is_nothing_new() {
    let facts = [fact(EventKind::Hashed, Some("v1"), Some("aa"), 3)];
    assert_eq!(succession(&facts, Some("v1"), "aa"), None);
    let unversioned = [fact(EventKind::Hashed, None, Some("aa"), 3)];
    assert_eq!(succession(&unversioned, None, "aa"), None);
}

#[test]
fn no_record_of_the_key_is_nothing() {
    assert_eq!(succession(&[], Some("v2"), "bb"), None);
    // A hold_applied record alone (hashing not recorded) names no digest to supersede.
    let held = [fact(EventKind::HoldApplied, Some("v1"), None, 1)];
    assert_eq!(succession(&held, Some("v2"), "bb"), None);
}

#[test]
fn a_new_version_supersedes_the_newest_recorded_one() {
    let facts = [
        fact(EventKind::Hashed, Some("v1"), Some("aa"), 3),
        fact(EventKind::Hashed, Some("v2"), Some("bb"), 9),
    ];
    match succession(&facts, Some("v3"), "cc") {
        Some(Finding::Superseded {
            recorded_version,
            recorded_sha256,
            recorded_at,
            sha256,
        }) => {
            assert_eq!(recorded_version.as_deref(), Some("v2"));
            assert_eq!(recorded_sha256, "bb");
            assert_eq!(recorded_at, "block 0 leaf 9");
            assert_eq!(sha256, "cc");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn new_bytes_under_an_unversioned_key_supersede() {
    let facts = [fact(EventKind::Hashed, None, Some("aa"), 3)];
    assert!(matches!(
        succession(&facts, None, "bb"),
        Some(Finding::Superseded {
            recorded_version: None,
            ..
        })
    ));
    // "null" is the version id of an object written before versioning was enabled: as mutable.
    let facts = [fact(EventKind::Hashed, Some("null"), Some("aa"), 3)];
    assert!(matches!(
        succession(&facts, Some("null"), "bb"),
        Some(Finding::Superseded { .. })
    ));
}

#[test]
fn custodys_own_copy_is_not_a_successor() {
    let mut copy = fact(EventKind::HoldApplied, Some("v1"), None, 4);
    copy.new_version_id = Some("c1".to_string());
    let facts = [fact(EventKind::Hashed, Some("v1"), Some("aa"), 3), copy];
    assert_eq!(succession(&facts, Some("c1"), "aa"), None);
}

#[test]
fn other_content_under_a_recorded_version_id_is_a_mismatch() {
    let facts = [fact(EventKind::Hashed, Some("v1"), Some("aa"), 3)];
    match succession(&facts, Some("v1"), "bb") {
        Some(Finding::Mismatch {
            expected, actual, ..
        }) => {
            assert_eq!((expected.as_str(), actual.as_str()), ("aa", "bb"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tail_lengths() {
    assert_eq!(tail_len(5, Some(5)), 0);
    assert_eq!(tail_len(5, Some(3)), 2);
    assert_eq!(tail_len(5, None), 6);
    assert_eq!(tail_len(u64::MAX, None), u64::MAX);
}

#[tokio::test]
async fn a_unit_that_hashed_nothing_never_opens_the_recorded_versions() {
    use crate::ledger::LedgerConfig;
    use crate::store::counting::CountingStore;
    use crate::store::memory::MemoryStore;
    use std::sync::Arc;

    let store = Arc::new(CountingStore::new(Arc::new(MemoryStore::new(
        "ledger",
        crate::store::BucketSpec::default(),
    ))));
    let ledger = Ledger::open(
        store.clone(),
        "ledger",
        LedgerConfig::new("custody.test/ledger"),
        None,
    )
    .await
    .unwrap();
    store.reset();
    let lazy = LazyRecordedVersions::new(&ledger, "exports");
    find_successors(&lazy, &ledger, "exports", &mut [], &[]).await;
    assert_eq!(store.usage().requests(), 0, "{:?}", store.usage());
    assert!(lazy.opened.get().is_none());
    assert_eq!(lazy.unavailable(), None);

    // Asked for, they are opened once, however often they are asked for.
    assert!(matches!(lazy.get().await, RecordedVersions::Empty));
    let opened = store.usage().requests();
    assert!(opened > 0);
    lazy.get().await;
    assert_eq!(store.usage().requests(), opened);
}
