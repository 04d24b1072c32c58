//! Streaming verification: the exact duplicate check behind the prefix set, duplicates far apart,
//! tampering in the middle of a long ledger and across window boundaries, pinned consistency
//! from the frontier, and `Ledger::verify` over a store.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::*;
use crate::ledger::block::{BlockHeader, Tip, build_block, encode_block};
use crate::ledger::keys::Signer;
use crate::ledger::record::{CustodyRecord, EventKind, How, Outcome, What, Where, Who, Why};
use crate::ledger::{BlockView, Ledger, LedgerConfig};
use crate::store::BucketSpec;
use crate::store::memory::MemoryStore;
use crate::store::{PutRequest, StoreWrite};

const ORIGIN: &str = "custody.test/ledger";
const T: &str = "2024-05-01T10:00:00.000Z";

fn record(i: usize) -> CustodyRecord {
    use chrono::TimeZone;
    CustodyRecord::new(
        EventKind::Hashed,
        chrono::Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap(),
        Who::default(),
        What {
            bucket: "exports".into(),
            key: format!("org/conversation_id=c/{i}.opus"),
            version_id: Some(format!("v{i}")),
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

fn line(i: usize) -> Vec<u8> {
    record(i).to_line()
}

/// Blocks of the given record lines, chained and signed.
fn build(signer: &Signer, blocks: Vec<Vec<Vec<u8>>>) -> Vec<(u64, Bytes)> {
    let mut tip = Tip::genesis();
    blocks
        .into_iter()
        .map(|lines| {
            let block = build_block(&tip, &lines, ORIGIN, signer, T).unwrap();
            tip = block.tip_after;
            (block.header.index, Bytes::from(block.bytes))
        })
        .collect()
}

/// `n` blocks of two distinct custody records each.
fn ledger(signer: &Signer, n: usize) -> Vec<(u64, Bytes)> {
    build(
        signer,
        (0..n).map(|i| vec![line(2 * i), line(2 * i + 1)]).collect(),
    )
}

fn input<'a>(
    trusted: &'a TrustedKeys,
    pinned: Option<&'a Checkpoint>,
    blocks: Vec<(u64, Bytes)>,
) -> VerifyInput<'a> {
    VerifyInput {
        location: "memory".into(),
        origin: ORIGIN,
        trusted,
        trust: Trust::PinnedKeys,
        pinned,
        found: Vec::new(),
        blocks,
    }
}

fn verify_with(
    signer: &Signer,
    blocks: Vec<(u64, Bytes)>,
    prefix_bytes: u32,
) -> (VerifyReport, stream::DuplicateStats) {
    let trusted = TrustedKeys::new(vec![signer.verifier_key()]);
    let (report, _, stats) = verify_in_memory(input(&trusted, None, blocks), prefix_bytes);
    (report, stats)
}

/// The failures as `(check, block, leaf, message)`, in report order.
fn failures(report: &VerifyReport) -> Vec<(LedgerCheck, Option<u64>, Option<u64>, String)> {
    report
        .failures
        .iter()
        .map(|f| (f.check, f.block, f.leaf, f.message.clone()))
        .collect()
}

fn assert_same(a: &VerifyReport, b: &VerifyReport) {
    assert_eq!(
        serde_json::to_value(a).unwrap(),
        serde_json::to_value(b).unwrap()
    );
}

#[test]
fn prefixes_that_collide_without_a_duplicate_are_not_reported() {
    let signer = Signer::generate(ORIGIN).unwrap();
    let blocks = ledger(&signer, 300);
    let (full, stats) = verify_with(&signer, blocks.clone(), 8);
    assert!(full.is_intact(), "{full}");
    assert_eq!(stats.colliding_prefixes, 0);
    assert_eq!(stats.blocks_reread, 0);
    assert_eq!(stats.prefixes, 600);
    assert_eq!(stats.prefix_bytes, 600 * 8);

    // One byte of prefix: 600 identities in 256 values collide all over; the exact comparison
    // of the full identities finds no duplicate.
    let (tiny, stats) = verify_with(&signer, blocks, 1);
    assert!(tiny.is_intact(), "{tiny}");
    assert!(stats.colliding_prefixes > 100, "{stats:?}");
    assert!(stats.blocks_reread > 250, "{stats:?}");
    assert_same(&full, &tiny);
}

/// Block 500 holds again the record at leaf 2 (block 1).
fn ledger_with_a_duplicate(signer: &Signer) -> Vec<(u64, Bytes)> {
    let lines = (0..600)
        .map(|i| match i {
            500 => vec![line(2), line(1001)],
            _ => vec![line(2 * i), line(2 * i + 1)],
        })
        .collect();
    build(signer, lines)
}

#[test]
fn a_duplicate_500_blocks_apart_is_reported_with_both_leaves() {
    let signer = Signer::generate(ORIGIN).unwrap();
    let blocks = ledger_with_a_duplicate(&signer);
    let id = record(2).id;
    let expected = vec![(
        LedgerCheck::Duplicate,
        Some(500),
        Some(1000),
        format!("identity {id} is already at leaf 2"),
    )];
    for width in [8, 1] {
        let (report, stats) = verify_with(&signer, blocks.clone(), width);
        assert_eq!(failures(&report), expected, "width {width}: {report}");
        assert_eq!(report.verdict(), Verdict::Tampered);
        assert_eq!(report.records, 1200);
        if width == 8 {
            // Only the two blocks holding the identity are read again.
            assert_eq!(stats.colliding_prefixes, 1);
            assert_eq!(stats.blocks_reread, 2);
        }
    }
}

/// Rewrite block `i`'s header, keeping its records and re-signing nothing.
fn with_header(blocks: &mut [(u64, Bytes)], i: usize, edit: impl FnOnce(&mut BlockHeader)) {
    let view = BlockView::parse(&blocks[i].1).unwrap();
    let mut header = view.header.clone();
    edit(&mut header);
    let records: Vec<Vec<u8>> = view.records.iter().map(|r| r.to_vec()).collect();
    let bytes = encode_block(&header.to_line(), &records, view.note);
    blocks[i].1 = Bytes::from(bytes);
}

/// 1,000 blocks: four windows of [`stream::WINDOW_BLOCKS`].
const LONG: usize = 1000;

#[test]
fn tampering_in_the_middle_of_a_long_ledger_is_reported_where_it_happened() {
    let signer = Signer::generate(ORIGIN).unwrap();
    let honest = ledger(&signer, LONG);
    const { assert!(LONG > 3 * stream::WINDOW_BLOCKS) };
    let (report, _) = verify_with(&signer, honest.clone(), 8);
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.blocks, LONG as u64);
    assert_eq!(report.records, 2 * LONG as u64);
    assert_eq!(report.tree_size, 2 * LONG as u64);
    assert!(report.latest_checkpoint.is_some());

    // A record of block 600 edited: its identity and the block's root fail, nothing else.
    let mut edited = honest.clone();
    let text = String::from_utf8(edited[600].1.to_vec()).unwrap();
    let changed = text.replacen("1200.opus", "1200.wav", 1);
    assert_ne!(changed, text);
    edited[600].1 = Bytes::from(changed);
    let (report, _) = verify_with(&signer, edited, 8);
    let f = failures(&report);
    assert_eq!(
        f.iter().map(|f| (f.0, f.1, f.2)).collect::<Vec<_>>(),
        vec![
            (LedgerCheck::Root, Some(600), None),
            (LedgerCheck::Identity, Some(600), Some(1200)),
        ],
        "{report}"
    );
    assert!(report.latest_checkpoint.is_none());

    // Block 255 (the last of the first window) with a wrong frontier but its own root: the
    // frontier fails there, block 256 (next window) fails its chain, and its root is judged
    // again from the recomputed frontier, so the wrong frontier is reported once.
    let mut frontier = honest.clone();
    with_header(&mut frontier, 255, |h| {
        h.frontier[0] = BASE64.encode([7u8; 32]);
    });
    let (report, _) = verify_with(&signer, frontier, 8);
    let f = failures(&report);
    assert_eq!(
        f.iter().map(|f| (f.0, f.1)).collect::<Vec<_>>(),
        vec![
            (LedgerCheck::Frontier, Some(255)),
            (LedgerCheck::Chain, Some(256)),
        ],
        "{report}"
    );

    // Block 3 replayed at position 700 (a later window): a copy of block 3 in the wrong place;
    // block 701 is not checked against it; no duplicate is reported for block 3's records.
    let mut replayed = honest.clone();
    replayed[700].1 = honest[3].1.clone();
    let (report, _) = verify_with(&signer, replayed, 8);
    assert_eq!(
        failures(&report),
        vec![(
            LedgerCheck::Position,
            Some(700),
            None,
            "the block stored as block 700 says it is block 3: a copy of block 3".to_string()
        )],
        "{report}"
    );
    assert_eq!(
        report.notices,
        vec![
            "block 701: chain, leaf range and root not checked: block 700 is missing or unreadable"
                .to_string(),
            "block 701: root not checked: block 700 has no usable frontier".to_string(),
        ]
    );
    assert_eq!(report.records, 2 * LONG as u64 - 2);
    // The same block edited so it is no copy: named without "a copy".
    let mut misplaced = honest.clone();
    with_header(&mut misplaced, 700, |h| h.index = 3);
    let (report, _) = verify_with(&signer, misplaced, 8);
    assert_eq!(
        failures(&report)[0].3,
        "the block stored as block 700 says it is block 3"
    );

    // Block 400 missing: one gap, and block 401 noted as not checked against it.
    let mut gap = honest.clone();
    gap.remove(400);
    let (report, _) = verify_with(&signer, gap, 8);
    assert_eq!(
        failures(&report),
        vec![(
            LedgerCheck::Gap,
            Some(400),
            None,
            "block 400 is missing".to_string()
        )]
    );
    assert_eq!(report.notices.len(), 1, "{report}");
}

#[test]
fn consistency_with_a_pinned_checkpoint_is_judged_from_the_frontier() {
    let signer = Signer::generate(ORIGIN).unwrap();
    let blocks = ledger(&signer, LONG);
    let trusted = TrustedKeys::new(vec![signer.verifier_key()]);
    let view = BlockView::parse(&blocks[517].1).unwrap();
    let at_517 = view.checkpoint().unwrap();
    assert_eq!(at_517.size, 1036);
    let report = verify_blocks(input(&trusted, Some(&at_517), blocks.clone()));
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.pinned_size, Some(1036));

    // A checkpoint of another ledger of the same size: a fork.
    let other = build(
        &signer,
        (0..518)
            .map(|i| vec![line(2 * i + 1), line(2 * i)])
            .collect(),
    );
    let fork = BlockView::parse(&other[517].1)
        .unwrap()
        .checkpoint()
        .unwrap();
    let report = verify_blocks(input(&trusted, Some(&fork), blocks.clone()));
    let f = failures(&report);
    assert_eq!(f.len(), 1, "{report}");
    assert_eq!(f[0].0, LedgerCheck::Consistency);
    assert_eq!(
        f[0].3,
        format!(
            "forked: the ledger's first 1036 records hash to {}, the pinned checkpoint says {}",
            BASE64.encode(at_517.root),
            BASE64.encode(fork.root)
        )
    );

    // Truncation: the ledger cut after block 300.
    let report = verify_blocks(input(&trusted, Some(&at_517), blocks[..301].to_vec()));
    assert_eq!(
        failures(&report),
        vec![(
            LedgerCheck::Consistency,
            None,
            None,
            "truncated: the pinned checkpoint covers 1036 records, the ledger holds 602"
                .to_string()
        )]
    );

    // Pinned in the middle of a block: the root at 1035 leaves comes from inside block 517.
    let mut frontier = crate::ledger::merkle::Frontier::empty();
    for (_, b) in &blocks[..518] {
        for r in BlockView::parse(b).unwrap().records {
            if frontier.size() < 1035 {
                frontier.push(crate::ledger::merkle::leaf_hash(r));
            }
        }
    }
    let mid = Checkpoint::sign(ORIGIN, 1035, frontier.root(), &signer).unwrap();
    let report = verify_blocks(input(&trusted, Some(&mid), blocks));
    assert!(report.is_intact(), "{report}");
}

/// The ledger written to a store, verified by `Ledger::verify` (listing, windows read while
/// others are checked, the exact duplicate check reading blocks again).
async fn store_with(blocks: &[(u64, Bytes)], signer: &Signer) -> Ledger {
    let store = Arc::new(MemoryStore::new("ledger", BucketSpec::default()));
    let layout = crate::ledger::Layout::new("");
    for (i, b) in blocks {
        store
            .put(PutRequest::new(layout.block(*i), b.clone()))
            .await
            .unwrap();
    }
    let mut config = LedgerConfig::new(ORIGIN);
    config.trusted_keys = vec![signer.verifier_key()];
    config.concurrency = 4;
    Ledger::open(store, "", config, None).await.unwrap()
}

#[tokio::test]
async fn the_store_verification_streams_and_reports_as_in_memory() {
    let signer = Signer::generate(ORIGIN).unwrap();
    let trusted = TrustedKeys::new(vec![signer.verifier_key()]);
    let honest = ledger(&signer, LONG);
    let ledger_store = store_with(&honest, &signer).await;
    let (report, _, stats) = ledger_store.verify_timed(None).await;
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.blocks, LONG as u64);
    assert_eq!(stats.blocks_reread, 0);

    let duplicated = ledger_with_a_duplicate(&signer);
    let ledger_store = store_with(&duplicated, &signer).await;
    let (report, _, stats) = ledger_store.verify_timed(None).await;
    assert_eq!(stats.blocks_reread, 2);
    let mut in_memory = verify_blocks(input(&trusted, None, duplicated));
    assert_eq!(failures(&report), failures(&in_memory), "{report}");
    assert_eq!(report.failed_checks(), vec![LedgerCheck::Duplicate]);
    // The store adds its own notice (no versions kept) after the checks' notices.
    in_memory.notices.extend(
        report
            .notices
            .iter()
            .filter(|n| n.starts_with("versions of"))
            .cloned(),
    );
    in_memory.location = report.location.clone();
    assert_same(&report, &in_memory);
}
