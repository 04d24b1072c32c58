//! The tamper matrix: each tampering makes exactly one verifier check fail, and the report names
//! it with the block; the untampered ledger passes. Ledgers live in a temporary folder (the
//! filesystem adapter); tampering edits the block files directly, as someone with write access
//! to the storage would.

mod ledger_common;

use custody_core::ledger::{
    BlockView, Checkpoint, Ledger, LedgerCheck, LedgerConfig, Signer, Tip, Verdict, VerifyReport,
    build_block, tip_of,
};
use custody_core::store::PutRequest;
use ledger_common::*;

const BLOCKS: usize = 5;
const PER_BLOCK: usize = 4;

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    signer: Signer,
    ledger: Ledger,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let signer = Signer::generate(ORIGIN).unwrap();
    let ledger = build(&path, &signer, BLOCKS, PER_BLOCK).await;
    Fixture {
        _dir: dir,
        path,
        signer,
        ledger,
    }
}

/// The signed checkpoint of the newest block, as an auditor would have pinned it.
fn latest_checkpoint(report: &VerifyReport) -> Checkpoint {
    Checkpoint::parse(report.latest_checkpoint.as_ref().unwrap().as_bytes()).unwrap()
}

fn assert_only(report: &VerifyReport, check: LedgerCheck, block: Option<u64>) {
    assert_eq!(
        report.failed_checks(),
        vec![check],
        "expected only {check} to fail:\n{report}"
    );
    if let Some(b) = block {
        assert!(
            report.failures.iter().all(|f| f.block == Some(b)),
            "expected the failure at block {b}:\n{report}"
        );
    }
    assert_eq!(report.verdict(), Verdict::Tampered);
    let text = report.to_string();
    assert!(text.contains(&format!("[{check}]")), "{text}");
}

#[tokio::test]
async fn the_untampered_ledger_passes() {
    let f = fixture().await;
    let report = f.ledger.verify(None).await;
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.verdict(), Verdict::Intact);
    assert_eq!(report.records, (BLOCKS * PER_BLOCK) as u64);
    assert_eq!(report.tree_size, (BLOCKS * PER_BLOCK) as u64);
    let pinned = latest_checkpoint(&report);
    let again = f.ledger.verify(Some(&pinned)).await;
    assert!(again.is_intact(), "{again}");
}

#[tokio::test]
async fn editing_one_record_byte_fails_the_root() {
    let f = fixture().await;
    let mut p = split(&read_block(&f.path, 2));
    let line = String::from_utf8(p.records[1].clone()).unwrap();
    p.records[1] = line
        .replacen("2024-05-01T10:00:00", "2024-05-01T11:00:00", 1)
        .into_bytes();
    assert_ne!(p.records[1], line.as_bytes());
    write_block(&f.path, 2, &join(&p));
    let report = f.ledger.verify(None).await;
    assert_only(&report, LedgerCheck::Root, Some(2));
    // The tiles, authenticated against block 2's signed root, name the altered record.
    let altered = (2 * PER_BLOCK + 1) as u64;
    assert_eq!(report.failures[0].leaf, Some(altered), "{report}");
    assert!(
        report
            .to_string()
            .contains(&format!("leaf {altered} is the first")),
        "{report}"
    );
}

#[tokio::test]
async fn an_altered_tile_cannot_make_the_verifier_name_another_leaf() {
    let f = fixture().await;
    let mut p = split(&read_block(&f.path, 2));
    let line = String::from_utf8(p.records[2].clone()).unwrap();
    p.records[2] = line
        .replacen("2024-05-01T10:00:00", "2024-05-01T11:00:00", 1)
        .into_bytes();
    write_block(&f.path, 2, &join(&p));
    // The attacker also rewrites the leaf hashes the tile of tree size 12 holds for the block, so
    // that they are those of the altered records: the tile no longer hashes to the signed root.
    let size = 3 * PER_BLOCK;
    let tile = f.path.join(format!("tile/0/000.p/{size}"));
    let mut hashes = std::fs::read(&tile).unwrap();
    assert_eq!(hashes.len(), size * 32);
    let leaf = custody_core::ledger::merkle::leaf_hash(&p.records[2]);
    let at = (2 * PER_BLOCK + 2) * 32;
    hashes[at..at + 32].copy_from_slice(&leaf);
    std::fs::write(&tile, &hashes).unwrap();
    let report = f.ledger.verify(None).await;
    assert_only(&report, LedgerCheck::Root, Some(2));
    assert_eq!(report.failures[0].leaf, None, "{report}");
    assert!(
        report
            .to_string()
            .contains("the altered leaf cannot be named from tiles"),
        "{report}"
    );
}

#[tokio::test]
async fn dropping_a_record_fails_the_record_count() {
    let f = fixture().await;
    let mut p = split(&read_block(&f.path, 2));
    p.records.remove(1);
    write_block(&f.path, 2, &join(&p));
    assert_only(
        &f.ledger.verify(None).await,
        LedgerCheck::RecordCount,
        Some(2),
    );
}

#[tokio::test]
async fn swapping_two_records_fails_the_root() {
    let f = fixture().await;
    let mut p = split(&read_block(&f.path, 3));
    p.records.swap(0, 2);
    write_block(&f.path, 3, &join(&p));
    assert_only(&f.ledger.verify(None).await, LedgerCheck::Root, Some(3));
}

#[tokio::test]
async fn dropping_a_block_is_a_gap() {
    let f = fixture().await;
    std::fs::remove_file(block_path(&f.path, 2)).unwrap();
    let report = f.ledger.verify(None).await;
    assert_only(&report, LedgerCheck::Gap, Some(2));
    assert!(
        report.failures[0].message.contains("block 2 is missing"),
        "{report}"
    );
}

#[tokio::test]
async fn truncating_the_newest_blocks_fails_consistency_with_the_pinned_checkpoint() {
    let f = fixture().await;
    let pinned = latest_checkpoint(&f.ledger.verify(None).await);
    std::fs::remove_file(block_path(&f.path, 4)).unwrap();
    std::fs::remove_file(block_path(&f.path, 3)).unwrap();
    // Without a pinned checkpoint a truncated ledger looks whole: that is why auditors pin.
    assert!(f.ledger.verify(None).await.is_intact());
    let report = f.ledger.verify(Some(&pinned)).await;
    assert_only(&report, LedgerCheck::Consistency, None);
    assert!(report.failures[0].message.contains("truncated"), "{report}");
}

#[tokio::test]
async fn re_signing_a_block_with_a_foreign_key_fails_the_signature() {
    let f = fixture().await;
    let foreign = Signer::generate(ORIGIN).unwrap();
    let mut p = split(&read_block(&f.path, 1));
    resign(&mut p, &foreign);
    write_block(&f.path, 1, &join(&p));
    let report = f.ledger.verify(None).await;
    assert_only(&report, LedgerCheck::Signature, Some(1));
    assert!(
        report.failures[0].message.contains("not trusted"),
        "{report}"
    );
}

#[tokio::test]
async fn replaying_an_old_block_fails_the_position() {
    let f = fixture().await;
    write_block(&f.path, BLOCKS as u64, &read_block(&f.path, 1));
    let report = f.ledger.verify(None).await;
    assert_only(&report, LedgerCheck::Position, Some(BLOCKS as u64));
    assert!(
        report.failures[0].message.contains("a copy of block 1"),
        "{report}"
    );
}

#[tokio::test]
async fn a_fork_at_one_position_fails_consistency_with_the_pinned_checkpoint() {
    let f = fixture().await;
    let pinned = latest_checkpoint(&f.ledger.verify(None).await);
    // The operator, holding the real key, rewrites history from block 2 on: every block is
    // well formed, chained and signed, so only the pinned checkpoint can tell.
    let forked = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(forked.path().join("blocks")).unwrap();
    for b in 0..2 {
        write_block(forked.path(), b, &read_block(&f.path, b));
    }
    let other = open(folder_store(forked.path()), &f.signer).await;
    for b in 2..BLOCKS {
        let out = other
            .append(records("forger", b * PER_BLOCK..(b + 1) * PER_BLOCK))
            .await
            .unwrap();
        assert_eq!(out.block, Some(b as u64));
    }
    assert!(other.verify(None).await.is_intact());
    let report = other.verify(Some(&pinned)).await;
    assert_only(&report, LedgerCheck::Consistency, None);
    assert!(report.failures[0].message.contains("forked"), "{report}");
}

#[tokio::test]
async fn a_wrong_prev_in_the_newest_block_fails_the_chain() {
    let f = fixture().await;
    let last = BLOCKS as u64 - 1;
    let mut p = split(&read_block(&f.path, last));
    p.header["prev"] = serde_json::json!("ab".repeat(32));
    write_block(&f.path, last, &join(&p));
    assert_only(&f.ledger.verify(None).await, LedgerCheck::Chain, Some(last));
}

#[tokio::test]
async fn a_wrong_frontier_in_the_newest_block_fails_the_frontier() {
    let f = fixture().await;
    let last = BLOCKS as u64 - 1;
    let mut p = split(&read_block(&f.path, last));
    let frontier = p.header["frontier"].as_array_mut().unwrap();
    let end = frontier.len() - 1;
    frontier.swap(0, end);
    write_block(&f.path, last, &join(&p));
    assert_only(
        &f.ledger.verify(None).await,
        LedgerCheck::Frontier,
        Some(last),
    );
}

#[tokio::test]
async fn a_wrong_frontier_mid_ledger_is_reported_once_where_it_is() {
    let f = fixture().await;
    let mut p = split(&read_block(&f.path, 2));
    let frontier = p.header["frontier"].as_array_mut().unwrap();
    let end = frontier.len() - 1;
    frontier.swap(0, end);
    write_block(&f.path, 2, &join(&p));
    let report = f.ledger.verify(None).await;
    // The header changed, so block 3's link to it breaks too; block 3's root is judged from the
    // recomputed frontier and passes.
    assert_eq!(
        report.failed_checks(),
        vec![LedgerCheck::Chain, LedgerCheck::Frontier],
        "{report}"
    );
    assert!(
        report
            .failures
            .iter()
            .any(|x| x.check == LedgerCheck::Frontier && x.block == Some(2))
    );
    assert!(
        report
            .failures
            .iter()
            .any(|x| x.check == LedgerCheck::Chain && x.block == Some(3))
    );
}

#[tokio::test]
async fn a_wrong_first_leaf_fails_the_leaf_range() {
    let f = fixture().await;
    let last = BLOCKS as u64 - 1;
    let mut p = split(&read_block(&f.path, last));
    p.header["first_leaf"] = serde_json::json!(p.header["first_leaf"].as_u64().unwrap() + 1);
    write_block(&f.path, last, &join(&p));
    assert_only(
        &f.ledger.verify(None).await,
        LedgerCheck::LeafRange,
        Some(last),
    );
}

#[tokio::test]
async fn a_signed_checkpoint_that_disagrees_with_the_header_fails_the_checkpoint() {
    let f = fixture().await;
    let last = BLOCKS as u64 - 1;
    let mut p = split(&read_block(&f.path, last));
    let size = p.header["tree_size"].as_u64().unwrap();
    let root = custody_core::ledger::decode_hash(p.header["root"].as_str().unwrap()).unwrap();
    p.note = Checkpoint::sign(ORIGIN, size + 1, root, &f.signer)
        .unwrap()
        .note()
        .as_bytes()
        .to_vec();
    write_block(&f.path, last, &join(&p));
    assert_only(
        &f.ledger.verify(None).await,
        LedgerCheck::Checkpoint,
        Some(last),
    );
}

/// Append a block written by `signer` with raw record lines, bypassing the appender's checks,
/// as a buggy or malicious writer holding the key could.
async fn append_raw(f: &Fixture, lines: Vec<Vec<u8>>) -> u64 {
    let head = BLOCKS as u64 - 1;
    let bytes = read_block(&f.path, head);
    let tip: Tip = tip_of(&BlockView::parse(&bytes).unwrap()).unwrap();
    let block = build_block(&tip, &lines, ORIGIN, &f.signer, "2024-05-01T12:00:00.000Z").unwrap();
    write_block(&f.path, head + 1, &block.bytes);
    head + 1
}

#[tokio::test]
async fn a_record_whose_id_is_not_its_identity_fails_the_identity() {
    let f = fixture().await;
    let mut r = record("odd", 1);
    r.what.key.push_str(".changed");
    let b = append_raw(&f, vec![r.to_line()]).await;
    assert_only(&f.ledger.verify(None).await, LedgerCheck::Identity, Some(b));
}

#[tokio::test]
async fn a_record_appended_twice_fails_the_duplicate_check() {
    let f = fixture().await;
    let b = append_raw(&f, vec![record("w", 3).to_line()]).await;
    let report = f.ledger.verify(None).await;
    assert_only(&report, LedgerCheck::Duplicate, Some(b));
    assert!(
        report.failures[0].message.contains("already at leaf 3"),
        "{report}"
    );
}

#[tokio::test]
async fn a_line_that_is_not_a_custody_record_fails_the_record_format() {
    let f = fixture().await;
    let b = append_raw(&f, vec![br#"{"hello":"world"}"#.to_vec()]).await;
    assert_only(
        &f.ledger.verify(None).await,
        LedgerCheck::RecordFormat,
        Some(b),
    );
}

#[tokio::test]
async fn a_block_that_is_not_a_block_fails_the_parse() {
    let f = fixture().await;
    write_block(&f.path, BLOCKS as u64, b"this is not a block\n");
    assert_only(
        &f.ledger.verify(None).await,
        LedgerCheck::Parse,
        Some(BLOCKS as u64),
    );
}

#[tokio::test]
async fn a_stray_object_among_the_blocks_fails_the_listing() {
    let f = fixture().await;
    f.ledger
        .store()
        .put(PutRequest::new("blocks/README", b"hi".to_vec()))
        .await
        .unwrap();
    assert_only(&f.ledger.verify(None).await, LedgerCheck::Listing, None);
}

#[tokio::test]
async fn a_pinned_checkpoint_signed_by_a_foreign_key_fails_the_pinned_check() {
    let f = fixture().await;
    let good = latest_checkpoint(&f.ledger.verify(None).await);
    let foreign = Signer::generate(ORIGIN).unwrap();
    let forged = Checkpoint::sign(ORIGIN, good.size, good.root, &foreign).unwrap();
    assert_only(
        &f.ledger.verify(Some(&forged)).await,
        LedgerCheck::Pinned,
        None,
    );
}

#[tokio::test]
async fn explicit_keys_replace_the_published_ones() {
    let f = fixture().await;
    let foreign = Signer::generate(ORIGIN).unwrap();
    let mut config = LedgerConfig::new(ORIGIN);
    config.trusted_keys = vec![foreign.verifier_key()];
    let strict = Ledger::open(f.ledger.store().clone(), "", config, None)
        .await
        .unwrap();
    let report = strict.verify(None).await;
    assert_eq!(
        report.failed_checks(),
        vec![LedgerCheck::Signature],
        "{report}"
    );
    assert_eq!(report.failures.len(), BLOCKS);
}
