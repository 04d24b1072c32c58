//! The indexed query against the scan, on a folder ledger: the same answers for every indexed
//! field, blocks after the index scanned, forged postings rejected, a deleted posting hiding a
//! record until a scan or a rebuild, hints not believed, conflicts refused.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{TimeZone, Utc};

use super::index::field::Field;
use super::index::posting::{Entry, Postings};
use super::index::{IndexKeys, QueryIndexError, catch_up, coverage, index_block, rebuild};
use super::*;
use crate::ledger::{
    CustodyRecord, EventKind, How, Ledger, LedgerConfig, Outcome, Signer, What, Where, Who, Why,
};
use crate::store::fs::FsStore;
use crate::store::{PutRequest, StoreWrite};

const ORIGIN: &str = "custody.test/ledger";

struct World {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    ledger: Ledger,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let store: Arc<dyn StoreWrite> = Arc::new(FsStore::open(&root).unwrap());
    let signer = Signer::generate(ORIGIN).unwrap();
    // The index is built by the calls under test, not by the integrator.
    let mut config = LedgerConfig::new(ORIGIN);
    config.publish_derived = false;
    let ledger = Ledger::open(store, "ledger", config, Some(signer))
        .await
        .unwrap();
    World {
        _dir: dir,
        root,
        ledger,
    }
}

/// Record `i` of conversation `c`: events, matters and days vary with `i` and `c`.
fn record(c: usize, i: usize) -> CustodyRecord {
    let events = [
        EventKind::Observed,
        EventKind::HoldApplied,
        EventKind::Hashed,
        EventKind::Missing,
    ];
    let day = 1 + (c % 3) as u32;
    CustodyRecord::new(
        events[i % events.len()],
        Utc.with_ymd_and_hms(2024, 5, day, 10, i as u32, 0).unwrap(),
        Who::default(),
        What {
            bucket: "exports".into(),
            key: format!("org/year=2024/conversation_id=c-{c}/r-{c}-{i}.opus"),
            version_id: Some(format!("v{i}")),
            sha256: Some(format!("{:064x}", c * 100 + i)),
            ..Default::default()
        },
        Where::default(),
        Why {
            conversation_id: Some(format!("c-{c}")),
            recording_id: Some(format!("r-{c}-{}", i / 2)),
            matter: Some(
                if c.is_multiple_of(2) {
                    "M-1+M-2"
                } else {
                    "M-2"
                }
                .to_string(),
            ),
            source: format!("s3://exports/org/c-{c}_metadata.json#v1"),
            ..Default::default()
        },
        How::default(),
        Outcome::default(),
    )
}

/// `blocks` appends of `per` conversations of 4 records each.
async fn fill(ledger: &Ledger, from: usize, blocks: usize, per: usize) {
    for b in 0..blocks {
        let records = (0..per)
            .flat_map(|k| (0..4).map(move |i| record(from + b * per + k, i)))
            .collect();
        ledger.append(records).await.unwrap();
    }
}

fn filters() -> Vec<RecordFilter> {
    let f = RecordFilter::default;
    vec![
        RecordFilter {
            conversation: Some("c-3".into()),
            ..f()
        },
        RecordFilter {
            recording: Some("r-4-1".into()),
            ..f()
        },
        RecordFilter {
            key: Some("org/year=2024/conversation_id=c-5/r-5-2.opus".into()),
            ..f()
        },
        RecordFilter {
            key_prefix: Some("org/year=2024/conversation_id=c-1".into()),
            ..f()
        },
        RecordFilter {
            matter: Some("M-1".into()),
            event: Some(EventKind::HoldApplied),
            ..f()
        },
        RecordFilter {
            event: Some(EventKind::Missing),
            ..f()
        },
        RecordFilter {
            since: Some(Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap()),
            until: Some(Utc.with_ymd_and_hms(2024, 5, 3, 0, 0, 0).unwrap()),
            ..f()
        },
        RecordFilter {
            conversation: Some("c-404".into()),
            ..f()
        },
    ]
}

fn places(found: &[Match]) -> Vec<(u64, u64, String)> {
    found
        .iter()
        .map(|m| (m.block, m.leaf_index, m.record.id.clone()))
        .collect()
}

async fn same_as_scan(ledger: &Ledger, filter: &RecordFilter) -> IndexedQuery {
    let indexed = find_indexed(ledger, filter).await.unwrap();
    let scanned = find(ledger, filter).await.unwrap();
    assert_eq!(
        places(&indexed.matches),
        places(&scanned),
        "filter {filter:?}, plan {:?}",
        indexed.plan
    );
    indexed
}

#[tokio::test]
async fn indexed_answers_equal_the_scan_for_every_field_and_blocks_after_the_index_are_scanned() {
    let w = world().await;
    fill(&w.ledger, 0, 4, 3).await;
    let report = catch_up(&w.ledger).await.unwrap();
    assert_eq!(report.covered, Some(3), "{report:?}");
    assert_eq!(report.indexed.len(), 4);
    assert!(report.failed.is_empty());
    for filter in filters() {
        let answer = same_as_scan(&w.ledger, &filter).await;
        assert!(answer.rejected.is_empty(), "{:?}", answer.rejected);
        assert_eq!(answer.plan.blocks_scanned, 0, "{:?}", answer.plan);
        assert!(answer.plan.index.is_some(), "{:?}", answer.plan);
    }
    let one = find_indexed(&w.ledger, &filters()[0]).await.unwrap();
    assert_eq!(one.matches.len(), 4);

    // Two more blocks, not indexed: scanned, same answers.
    fill(&w.ledger, 12, 2, 3).await;
    for filter in filters() {
        let answer = same_as_scan(&w.ledger, &filter).await;
        assert_eq!(answer.plan.covered, Some(3));
        assert_eq!(answer.plan.blocks_scanned, 2);
    }
    // catch_up indexes only those two.
    let report = catch_up(&w.ledger).await.unwrap();
    assert_eq!(report.covered_before, Some(3));
    assert_eq!(report.covered, Some(5));
    assert_eq!(report.indexed.len(), 2);
    assert_eq!(report.already, 0);
    let again = catch_up(&w.ledger).await.unwrap();
    assert!(again.indexed.is_empty());
    assert_eq!(again.covered, Some(5));
}

#[tokio::test]
async fn a_filter_the_index_cannot_answer_scans_every_block() {
    let w = world().await;
    fill(&w.ledger, 0, 2, 2).await;
    catch_up(&w.ledger).await.unwrap();
    let filter = RecordFilter {
        key_prefix: Some("org".into()),
        ..RecordFilter::default()
    };
    let answer = same_as_scan(&w.ledger, &filter).await;
    assert_eq!(answer.plan.index, None);
    assert_eq!(answer.plan.blocks_scanned, 2);
    assert!(
        answer
            .plan
            .notes
            .iter()
            .any(|n| n.contains("names no folder"))
    );
    assert_eq!(answer.matches.len(), 16);
}

fn overwrite(root: &std::path::Path, key: &str, body: &[u8]) {
    // Bypass the create-only write, as someone with access to the folder could.
    std::fs::write(root.join(key), body).unwrap();
}

#[tokio::test]
async fn a_forged_posting_is_rejected_and_named_and_the_answer_stays_right() {
    let w = world().await;
    fill(&w.ledger, 0, 2, 3).await;
    catch_up(&w.ledger).await.unwrap();
    let keys = IndexKeys::new(w.ledger.layout());
    let filter = RecordFilter {
        conversation: Some("c-1".into()),
        ..RecordFilter::default()
    };
    let honest = find_indexed(&w.ledger, &filter).await.unwrap();
    assert_eq!(honest.matches.len(), 4);
    let key = keys.posting(Field::Conversation, "c-1", 0);
    let stored = std::fs::read(w.root.join(&key)).unwrap();
    let mut postings: Postings = serde_json::from_slice(&stored).unwrap();
    // Cite a record of conversation c-2 (a real line, the wrong conversation), a range that
    // is not a whole line, and a leaf outside the block.
    let other = Postings::parse(
        "k",
        &std::fs::read(w.root.join(keys.posting(Field::Conversation, "c-2", 0))).unwrap(),
        Field::Conversation,
        "c-2",
        0,
    )
    .unwrap();
    let wrong = other.entries[0];
    let first = postings.entries[0];
    postings.entries.push(wrong);
    postings.entries.push(Entry {
        offset: first.offset + 3,
        ..first
    });
    postings.entries.push(Entry {
        leaf: 10_000,
        offset: first.offset + 1,
        length: 5,
    });
    postings.entries.push(Entry {
        leaf: first.leaf,
        offset: u64::MAX - 1,
        length: u64::MAX,
    });
    overwrite(&w.root, &key, &postings.to_bytes());
    let answer = same_as_scan(&w.ledger, &filter).await;
    assert_eq!(answer.rejected.len(), 4, "{:?}", answer.rejected);
    let reasons: Vec<&str> = answer.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("does not hold conversation=\"c-1\"")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("not one whole line")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("outside the block's leaves")),
        "{reasons:?}"
    );
    assert!(answer.rejected.iter().all(|r| r.posting == key));

    // A posting that is not one at all.
    overwrite(&w.root, &key, b"{\"format\":\"something else\"}");
    let answer = find_indexed(&w.ledger, &filter).await.unwrap();
    assert_eq!(answer.rejected.len(), 1);
    assert!(
        answer.rejected[0].reason.contains(&key),
        "{:?}",
        answer.rejected
    );
    // ... hides the records of c-1 (all in block 0): the scan still has them.
    assert!(answer.matches.is_empty());
    assert_eq!(find(&w.ledger, &filter).await.unwrap().len(), 4);
}

#[tokio::test]
async fn a_deleted_posting_hides_records_until_a_scan_or_a_rebuild() {
    let w = world().await;
    fill(&w.ledger, 0, 2, 3).await;
    catch_up(&w.ledger).await.unwrap();
    let keys = IndexKeys::new(w.ledger.layout());
    let filter = RecordFilter {
        conversation: Some("c-4".into()),
        ..RecordFilter::default()
    };
    let key = keys.posting(Field::Conversation, "c-4", 1);
    std::fs::remove_file(w.root.join(&key)).unwrap();
    let hidden = find_indexed(&w.ledger, &filter).await.unwrap();
    assert!(
        hidden.matches.is_empty(),
        "the limitation docs/query.md states"
    );
    assert!(hidden.rejected.is_empty());
    assert_eq!(find(&w.ledger, &filter).await.unwrap().len(), 4);

    let repaired = rebuild(&w.ledger).await.unwrap();
    assert!(repaired.failed.is_empty(), "{:?}", repaired.failed);
    assert_eq!(repaired.covered, Some(1));
    let created: u64 = repaired.indexed.iter().map(|b| b.created).sum();
    assert_eq!(created, 1, "only the deleted posting is written again");
    same_as_scan(&w.ledger, &filter).await;
}

#[tokio::test]
async fn the_covered_hint_is_checked_against_the_blocks() {
    let w = world().await;
    fill(&w.ledger, 0, 3, 2).await;
    let store = w.ledger.store().as_ref();
    let layout = w.ledger.layout();
    let keys = IndexKeys::new(layout);
    // A hint with no index behind it.
    store
        .put(PutRequest::new(
            keys.covered_hint(),
            Bytes::from_static(b"{\"block\":2}"),
        ))
        .await
        .unwrap();
    let cover = coverage(store, layout, Some(2)).await.unwrap();
    assert_eq!(cover.covered, None);
    assert!(
        cover.notes.iter().any(|n| n.contains("marker is missing")),
        "{cover:?}"
    );
    for filter in filters() {
        let answer = same_as_scan(&w.ledger, &filter).await;
        assert_eq!(answer.plan.blocks_scanned, 3);
    }

    // Blocks 0 and 2 indexed, 1 not (an integrator crashed before indexing block 1): without
    // a hint, the markers are listed and the index covers block 0 only.
    std::fs::remove_file(w.root.join(keys.covered_hint())).unwrap();
    for b in [0, 2] {
        let bytes = w.ledger.read_block(b).await.unwrap();
        index_block(store, layout, &bytes).await.unwrap();
    }
    let cover = coverage(store, layout, Some(2)).await.unwrap();
    assert_eq!(cover.covered, Some(0), "{cover:?}");
    let answer = same_as_scan(&w.ledger, &filters()[0]).await;
    assert_eq!(answer.plan.blocks_scanned, 2);
    // A hint naming block 2, whose marker holds, is believed: like a deleted posting, a forged
    // hint hides the records of the blocks below it that are not indexed (docs/query.md).
    store
        .put(PutRequest::new(
            keys.covered_hint(),
            Bytes::from_static(b"{\"block\":2}"),
        ))
        .await
        .unwrap();
    assert_eq!(
        coverage(store, layout, Some(2)).await.unwrap().covered,
        Some(2)
    );
    std::fs::remove_file(w.root.join(keys.covered_hint())).unwrap();

    // A marker that names another block's header, at the end of the markers.
    std::fs::remove_file(w.root.join(keys.marker(2))).unwrap();
    let marker_0 = std::fs::read(w.root.join(keys.marker(0))).unwrap();
    let forged = String::from_utf8(marker_0)
        .unwrap()
        .replace("\"block\":0", "\"block\":1");
    overwrite(&w.root, &keys.marker(1), forged.as_bytes());
    let cover = coverage(store, layout, Some(2)).await.unwrap();
    assert_eq!(cover.covered, Some(0), "{cover:?}");
    assert!(
        cover
            .notes
            .iter()
            .any(|n| n.contains("does not describe block 1")),
        "{cover:?}"
    );
    let report = catch_up(&w.ledger).await.unwrap();
    assert_eq!(report.covered, Some(0));
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].block, 1);
}

#[tokio::test]
async fn index_block_is_idempotent_and_refuses_an_object_with_other_content() {
    let w = world().await;
    fill(&w.ledger, 0, 1, 3).await;
    let store = w.ledger.store().as_ref();
    let layout = w.ledger.layout();
    let keys = IndexKeys::new(layout);
    let bytes = w.ledger.read_block(0).await.unwrap();
    let first = index_block(store, layout, &bytes).await.unwrap();
    assert!(first.created > 0);
    assert_eq!(first.already, 0);
    let second = index_block(store, layout, &bytes).await.unwrap();
    assert_eq!(second.created, 0);
    assert_eq!(second.already, first.created);

    // Rows: one object for each day, one row per record.
    let rows = store.list(&keys.records_prefix()).await.unwrap();
    let mut lines = 0;
    for object in &rows {
        assert!(
            object.key.contains("/records/day=2024-05-0"),
            "{}",
            object.key
        );
        lines += store
            .get_bytes(&object.key, None)
            .await
            .unwrap()
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
    }
    assert_eq!(lines, 12);

    let key = keys.posting(Field::Matter, "M-2", 0);
    overwrite(&w.root, &key, b"{}");
    std::fs::remove_file(w.root.join(keys.marker(0))).unwrap();
    match index_block(store, layout, &bytes).await {
        Err(QueryIndexError::Conflict { block: 0, keys }) => assert_eq!(keys, vec![key]),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(
        !w.root.join(keys.marker(0)).exists(),
        "no marker over a conflict"
    );
    assert!(matches!(
        index_block(store, layout, b"not a block").await,
        Err(QueryIndexError::Block { .. })
    ));
}

#[test]
fn the_export_job_filter_matches_only_records_naming_that_job() {
    let mut record = record(1, 0);
    let filter = |job: &str| RecordFilter {
        export_job: Some(job.to_string()),
        ..RecordFilter::default()
    };
    assert!(!filter("job-1").matches(&record), "a record naming no job");
    record.why.export_job = Some("job-1".to_string());
    assert!(filter("job-1").matches(&record));
    assert!(!filter("job-2").matches(&record));
    assert!(!filter("job-1").is_empty());
}

#[tokio::test]
async fn an_export_job_query_is_answered_by_scanning() {
    let w = world().await;
    fill(&w.ledger, 0, 2, 2).await;
    catch_up(&w.ledger).await.unwrap();
    let answer = find_indexed(
        &w.ledger,
        &RecordFilter {
            export_job: Some("job-1".into()),
            ..RecordFilter::default()
        },
    )
    .await
    .unwrap();
    assert!(answer.matches.is_empty());
    assert_eq!(answer.plan.blocks_scanned, 2, "{:?}", answer.plan);
}
