//! The tamper matrix, continued: what someone with write access to the ledger's storage but not
//! the signing key can try (issue 11), each attack tried on an honest ledger in a folder and
//! caught and named by exactly the check meant to catch it, the honest ledger intact before.

mod ledger_common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use custody_core::ledger::{
    Checkpoint, Ledger, LedgerCheck, LedgerConfig, LedgerError, MAX_BLOCK_BYTES, Signer, Trust,
    Verdict, VerifyReport, header_hash,
};
use custody_core::store::PutRequest;
use ledger_common::*;

const BLOCKS: usize = 5;
const PER_BLOCK: usize = 4;
const LAST: u64 = BLOCKS as u64 - 1;

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    signer: Signer,
    /// The writer's view: it trusts the published keys.
    ledger: Ledger,
    /// The auditor's view: it trusts the signer's key only.
    pinned: Ledger,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let signer = Signer::generate(ORIGIN).unwrap();
    let ledger = build(&path, &signer, BLOCKS, PER_BLOCK).await;
    let pinned = auditor(&path, &signer, ORIGIN).await;
    let report = pinned.verify(None).await;
    assert!(report.is_intact(), "the honest ledger: {report}");
    Fixture {
        _dir: dir,
        path,
        signer,
        ledger,
        pinned,
    }
}

/// The ledger in `path` as an auditor opens it: origin and keys of their own.
async fn auditor(path: &Path, signer: &Signer, origin: &str) -> Ledger {
    let mut config = LedgerConfig::new(origin);
    config.trusted_keys = vec![signer.verifier_key()];
    Ledger::open(folder_store(path), "", config, None)
        .await
        .unwrap()
}

fn checkpoint_of(report: &VerifyReport) -> Checkpoint {
    Checkpoint::parse(report.latest_checkpoint.as_ref().unwrap().as_bytes()).unwrap()
}

fn assert_only(report: &VerifyReport, check: LedgerCheck, block: Option<u64>) {
    assert_eq!(report.failed_checks(), vec![check], "{report}");
    assert!(
        report.failures.iter().all(|f| f.block == block),
        "expected the failure at block {block:?}:\n{report}"
    );
    assert_eq!(report.verdict(), Verdict::Tampered);
    assert!(report.latest_checkpoint.is_none());
    assert!(report.to_string().contains(&format!("[{check}]")));
}

fn header_line(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.iter().position(|&b| b == b'\n').unwrap()]
}

// Item 1: a block of no records, copying its predecessor's state and note, with extra fields.
#[tokio::test]
async fn an_empty_block_copying_the_newest_state_with_extra_fields_fails_the_parse() {
    let f = fixture().await;
    let pinned_cp = checkpoint_of(&f.pinned.verify(None).await);
    let newest = read_block(&f.path, LAST);
    let p = split(&newest);
    let mut header = p.header.clone();
    header["index"] = serde_json::json!(BLOCKS);
    header["prev"] = serde_json::json!(hex::encode(header_hash(header_line(&newest))));
    header["first_leaf"] = p.header["tree_size"].clone();
    header["count"] = serde_json::json!(0);
    for extra in [false, true] {
        let mut header = header.clone();
        if extra {
            header["legal_hold_released"] = serde_json::json!(true);
        }
        let forged = Parts {
            header,
            records: Vec::new(),
            note: p.note.clone(),
        };
        write_block(&f.path, BLOCKS as u64, &join(&forged));
        let report = f.pinned.verify(Some(&pinned_cp)).await;
        assert_only(&report, LedgerCheck::Parse, Some(BLOCKS as u64));
    }
}

// Item 1: the newest header rewritten in a form that means the same, or with a field added.
#[tokio::test]
async fn rewriting_the_newest_header_in_a_non_canonical_form_fails_the_parse() {
    let f = fixture().await;
    let newest = read_block(&f.path, LAST);
    let line = String::from_utf8(header_line(&newest).to_vec()).unwrap();
    let prev = split(&newest).header["prev"].as_str().unwrap().to_string();
    let variants = [
        line.replace(",\"", ", \""),
        line.replacen("{\"format\":\"custody-block/1\",", "{", 1)
            .replacen('}', ",\"format\":\"custody-block/1\"}", 1),
        line.replacen('}', ",\"legal_hold_released\":true}", 1),
        line.replace(&prev, &prev.to_uppercase()),
    ];
    for variant in variants {
        assert_ne!(variant, line);
        let mut bytes = variant.into_bytes();
        bytes.extend_from_slice(&newest[line.len()..]);
        write_block(&f.path, LAST, &bytes);
        assert_only(&f.pinned.verify(None).await, LedgerCheck::Parse, Some(LAST));
        // The next writer refuses to chain onto it.
        let err = f.ledger.append(records("next", 0..1)).await.unwrap_err();
        assert!(matches!(err, LedgerError::Damaged { .. }), "{err}");
    }
    write_block(&f.path, LAST, &newest);
    assert!(f.pinned.verify(None).await.is_intact());
}

// Item 2: every block deleted.
#[tokio::test]
async fn a_ledger_whose_blocks_were_all_deleted_is_empty_and_truncated_against_a_pin() {
    let f = fixture().await;
    let pinned_cp = checkpoint_of(&f.pinned.verify(None).await);
    for b in 0..BLOCKS as u64 {
        std::fs::remove_file(block_path(&f.path, b)).unwrap();
    }
    let report = f.pinned.verify(None).await;
    assert_eq!(report.verdict(), Verdict::Empty, "{report}");
    assert!(report.to_string().contains("EMPTY"), "{report}");
    assert!(!report.to_string().contains("INTACT"), "{report}");
    let report = f.pinned.verify(Some(&pinned_cp)).await;
    assert_only(&report, LedgerCheck::Consistency, None);
    assert!(report.failures[0].message.contains("truncated"), "{report}");
}

// Item 3: a truncated ledger offers no checkpoint to save and pin.
#[tokio::test]
async fn a_truncated_ledger_offers_no_checkpoint_to_pin() {
    let f = fixture().await;
    let pinned_cp = checkpoint_of(&f.pinned.verify(None).await);
    std::fs::remove_file(block_path(&f.path, LAST)).unwrap();
    let report = f.pinned.verify(Some(&pinned_cp)).await;
    assert_only(&report, LedgerCheck::Consistency, None);
    assert_eq!(report.latest_checkpoint, None);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["latest_checkpoint"], serde_json::Value::Null);
    assert_eq!(json["verdict"], "tampered");
}

// Item 4: the ledger replaced by one signed under another origin, both keys trusted.
#[tokio::test]
async fn a_ledger_under_another_origin_fails_the_checkpoint_even_with_its_key_trusted() {
    let f = fixture().await;
    let other_origin = "other.test/ledger";
    let other = Signer::generate(other_origin).unwrap();
    let replaced = tempfile::tempdir().unwrap();
    let writer = Ledger::open(
        folder_store(replaced.path()),
        "",
        LedgerConfig::new(other_origin),
        Some(other.clone()),
    )
    .await
    .unwrap();
    for b in 0..2 {
        writer.append(records("x", b * 2..b * 2 + 2)).await.unwrap();
    }
    let mut config = LedgerConfig::new(ORIGIN);
    config.trusted_keys = vec![f.signer.verifier_key(), other.verifier_key()];
    let auditor = Ledger::open(folder_store(replaced.path()), "", config, None)
        .await
        .unwrap();
    let report = auditor.verify(None).await;
    assert_eq!(
        report.failed_checks(),
        vec![LedgerCheck::Checkpoint],
        "{report}"
    );
    assert_eq!(report.failures.len(), 2, "{report}");
    assert!(report.failures[0].message.contains("other.test/ledger"));
}

// Item 5: the whole ledger re-signed with an attacker's key, published beside it.
#[tokio::test]
async fn a_ledger_re_signed_with_a_published_attacker_key_is_loudly_unpinned() {
    let f = fixture().await;
    let attacker = Signer::generate(ORIGIN).unwrap();
    for b in 0..BLOCKS as u64 {
        let mut p = split(&read_block(&f.path, b));
        resign(&mut p, &attacker);
        write_block(&f.path, b, &join(&p));
    }
    f.ledger
        .publish_key(&attacker.verifier_key())
        .await
        .unwrap();
    let unpinned = f.ledger.verify(None).await;
    assert_eq!(unpinned.verdict(), Verdict::Intact);
    assert_eq!(unpinned.trust, Trust::PublishedKeys);
    let text = unpinned.to_string();
    assert!(
        text.contains("INTACT (UNPINNED: trusting keys published in the bucket)"),
        "{text}"
    );
    let json = serde_json::to_value(&unpinned).unwrap();
    assert_eq!(json["trust"], "published-keys");
    let report = f.pinned.verify(None).await;
    assert_eq!(
        report.failed_checks(),
        vec![LedgerCheck::Signature],
        "{report}"
    );
    assert_eq!(report.trust, Trust::PinnedKeys);
}

// Item 7: a block file larger than the writer ever writes.
#[tokio::test]
async fn a_block_above_the_size_cap_fails_the_block_size_without_being_read() {
    let f = fixture().await;
    let file = std::fs::File::create(block_path(&f.path, BLOCKS as u64)).unwrap();
    file.set_len(MAX_BLOCK_BYTES + 1).unwrap(); // sparse: no disk, and never read
    let report = f.pinned.verify(None).await;
    assert_only(&report, LedgerCheck::BlockSize, Some(BLOCKS as u64));
    let err = f.ledger.append(records("next", 0..1)).await.unwrap_err();
    assert!(err.to_string().contains("block cap"), "{err}");
}

// Item 7: a header number at the edge of 64 bits.
#[tokio::test]
async fn a_first_leaf_of_2_to_the_64_minus_1_fails_the_leaf_range() {
    let f = fixture().await;
    let mut p = split(&read_block(&f.path, LAST));
    p.header["first_leaf"] = serde_json::json!(u64::MAX);
    write_block(&f.path, LAST, &join(&p));
    let report = f.pinned.verify(None).await;
    assert_only(&report, LedgerCheck::LeafRange, Some(LAST));
    assert!(report.failures[0].message.contains("2^64"), "{report}");
    assert!(f.ledger.append(records("next", 0..1)).await.is_err());
}

// Item 7: a FIFO named like the next block.
#[tokio::test]
async fn a_fifo_named_like_the_next_block_fails_the_listing_and_stops_the_writer() {
    let f = fixture().await;
    let fifo = block_path(&f.path, BLOCKS as u64);
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let report = tokio::time::timeout(Duration::from_secs(20), f.pinned.verify(None))
        .await
        .expect("verification does not block on a FIFO");
    assert_only(&report, LedgerCheck::Listing, Some(BLOCKS as u64));
    assert!(report.failures[0].message.contains("FIFO"), "{report}");
    let append = tokio::time::timeout(
        Duration::from_secs(20),
        f.ledger.append(records("next", 0..1)),
    )
    .await
    .expect("the writer does not block on a FIFO");
    let err = append.unwrap_err();
    assert!(err.to_string().contains("FIFO"), "{err}");
}

// Item 7: an empty folder named like the next block.
#[tokio::test]
async fn an_empty_folder_named_like_the_next_block_fails_the_listing() {
    let f = fixture().await;
    std::fs::create_dir(block_path(&f.path, BLOCKS as u64)).unwrap();
    let report = f.pinned.verify(None).await;
    assert_only(&report, LedgerCheck::Listing, Some(BLOCKS as u64));
    assert!(f.ledger.append(records("next", 0..1)).await.is_err());
}

fn snapshot_path(dir: &Path) -> PathBuf {
    dir.join("state/identities")
}

/// A fresh writer on the fixture's folder (a new process: no identity set in memory).
async fn new_writer(f: &Fixture) -> Ledger {
    open(folder_store(&f.path), &f.signer).await
}

/// The fixture with an honest identity snapshot saved (covering block 4).
async fn fixture_with_snapshot() -> Fixture {
    let f = fixture().await;
    // Already present: nothing appended, the identity set loaded.
    let out = f.ledger.append(records("w", 0..1)).await.unwrap();
    assert_eq!(out.already_present.len(), 1);
    assert!(f.ledger.save_identity_snapshot(true).await.unwrap());
    assert!(snapshot_path(&f.path).is_file());
    f
}

// Item 8 (now the identity snapshot): one signed by another key, naming the same blocks but
// listing a record that is not in them, is refused by its signature and the record appended.
#[tokio::test]
async fn a_snapshot_signed_by_another_key_is_refused_and_the_record_still_appended() {
    let f = fixture_with_snapshot().await;
    let finding = record("missing", 0);
    // The attacker's own ledger on a copy, holding the finding, and its snapshot.
    let copy = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("cp")
        .args(["-a", &format!("{}/.", f.path.display())])
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(status.success());
    let attacker = Signer::generate(ORIGIN).unwrap();
    let theirs = open(folder_store(copy.path()), &attacker).await;
    theirs.append(vec![finding.clone()]).await.unwrap();
    theirs.save_identity_snapshot(true).await.unwrap();
    std::fs::remove_file(snapshot_path(&f.path)).unwrap();
    std::fs::copy(snapshot_path(copy.path()), snapshot_path(&f.path)).unwrap();

    let writer = new_writer(&f).await;
    let out = writer.append(vec![finding.clone()]).await.unwrap();
    assert_eq!(out.appended.len(), 1, "{out:?}");
    let refused = out.identity_snapshot_refused.unwrap();
    assert!(
        refused.contains("not signed by the ledger's key"),
        "{refused}"
    );
    // Again, by yet another process: present once, never appended twice.
    let again = new_writer(&f).await.append(vec![finding]).await.unwrap();
    assert!(again.appended.is_empty(), "{again:?}");
    assert_eq!(again.already_present.len(), 1);
    let report = f.pinned.verify(None).await;
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, (BLOCKS * PER_BLOCK) as u64 + 1);
}

// The honest snapshot with one byte of its body changed (an entry dropped would be the aim):
// refused by the body hash, rebuilt from the blocks, nothing appended twice.
#[tokio::test]
async fn a_snapshot_with_an_edited_body_is_refused_and_nothing_is_appended_twice() {
    let f = fixture_with_snapshot().await;
    let mut bytes = std::fs::read(snapshot_path(&f.path)).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::remove_file(snapshot_path(&f.path)).unwrap();
    std::fs::write(snapshot_path(&f.path), bytes).unwrap();
    let out = new_writer(&f)
        .await
        .append(records("w", 0..BLOCKS * PER_BLOCK))
        .await
        .unwrap();
    assert!(out.appended.is_empty(), "{out:?}");
    assert_eq!(out.already_present.len(), BLOCKS * PER_BLOCK);
    assert!(
        out.identity_snapshot_refused
            .as_deref()
            .is_some_and(|r| r.contains("does not hash")),
        "{out:?}"
    );
    assert_eq!(out.identity_blocks_read, BLOCKS as u64);
}

// Item 9 (now the snapshot): deleted, or an older honest one put back: the writer reads the
// blocks it does not cover and appends nothing twice.
#[tokio::test]
async fn a_deleted_or_replayed_snapshot_costs_reads_never_a_duplicate() {
    let f = fixture_with_snapshot().await;
    let old = std::fs::read(snapshot_path(&f.path)).unwrap();
    assert_eq!(
        f.ledger.append(records("x", 0..2)).await.unwrap().block,
        Some(BLOCKS as u64)
    );
    assert!(f.ledger.save_identity_snapshot(true).await.unwrap());
    for replace in [None, Some(old)] {
        // (Absent in the second turn: the first writer appended nothing, so saved nothing.)
        let _ = std::fs::remove_file(snapshot_path(&f.path));
        if let Some(old) = &replace {
            std::fs::write(snapshot_path(&f.path), old).unwrap();
        }
        let out = new_writer(&f)
            .await
            .append(records("w", 0..BLOCKS * PER_BLOCK))
            .await
            .unwrap();
        assert!(out.appended.is_empty(), "{out:?}");
        assert_eq!(out.already_present.len(), BLOCKS * PER_BLOCK);
        assert_eq!(out.identity_snapshot_refused, None);
        // Deleted: every block read; replayed: only the block written after it.
        let expected = if replace.is_some() {
            1
        } else {
            BLOCKS as u64 + 1
        };
        assert_eq!(out.identity_blocks_read, expected, "{out:?}");
        let report = f.pinned.verify(None).await;
        assert!(report.is_intact(), "{report}");
    }
}

// Item 10: a receipt asked for while the snapshot is forged: found through the blocks, and says so.
#[tokio::test]
async fn a_receipt_behind_a_refused_snapshot_is_found_by_reading_the_blocks_and_says_so() {
    let f = fixture_with_snapshot().await;
    let mut bytes = std::fs::read(snapshot_path(&f.path)).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::remove_file(snapshot_path(&f.path)).unwrap();
    std::fs::write(snapshot_path(&f.path), bytes).unwrap();
    let target = record("w", 9);
    let (receipt, why) = f.pinned.receipt_checked(&target.id).await.unwrap();
    assert_eq!(receipt.leaf_index, 9);
    assert!(
        why.as_deref()
            .is_some_and(|w| w.contains("identity snapshot was refused")),
        "{why:?}"
    );
    let (trusted, _) = f.pinned.trusted_keys().await.unwrap();
    assert_eq!(receipt.verify(&trusted).unwrap().record.id, target.id);
}

// The stray put of a non-block key still fails the listing, now with the honest ledger pinned.
#[tokio::test]
async fn a_stray_key_under_blocks_fails_the_listing_when_pinned() {
    let f = fixture().await;
    f.ledger
        .store()
        .put(PutRequest::new("blocks/x", b"x".to_vec()))
        .await
        .unwrap();
    assert_only(&f.pinned.verify(None).await, LedgerCheck::Listing, None);
}
