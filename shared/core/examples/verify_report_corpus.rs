//! The verification reports of a fixed corpus of honest and tampered ledgers, one JSON line each,
//! for comparing two builds of the verifier: `verify_report_corpus KEYFILE > reports.txt` with
//! each build, then `diff`. The signing key is read from KEYFILE (written there first if absent)
//! so that both builds sign the same blocks.
//!
//! Uses only what verification offered before it streamed (`verify_blocks`, `Ledger::verify`) so
//! that it builds against both.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use custody_core::ledger::{
    BlockView, Checkpoint, CustodyRecord, EventKind, Failure, How, Layout, Ledger, LedgerCheck,
    LedgerConfig, Outcome, Signer, Tip, Trust, TrustedKeys, VerifyInput, VerifyReport, What, Where,
    Who, Why, build_block, encode_block, verify_blocks,
};
use custody_core::store::fs::FsStore;

const ORIGIN: &str = "custody.corpus/ledger";
const T: &str = "2024-05-01T10:00:00.000Z";

type Error = Box<dyn std::error::Error + Send + Sync>;

fn line(i: usize) -> Vec<u8> {
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
    .to_line()
}

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

fn honest(signer: &Signer, n: usize) -> Vec<(u64, Bytes)> {
    build(
        signer,
        (0..n)
            .map(|i| (0..3).map(|k| line(3 * i + k)).collect())
            .collect(),
    )
}

fn edit_header(
    blocks: &mut [(u64, Bytes)],
    i: usize,
    edit: impl FnOnce(&mut custody_core::ledger::BlockHeader),
) {
    let view = BlockView::parse(&blocks[i].1).unwrap();
    let mut header = view.header.clone();
    edit(&mut header);
    let records: Vec<Vec<u8>> = view.records.iter().map(|r| r.to_vec()).collect();
    blocks[i].1 = Bytes::from(encode_block(&header.to_line(), &records, view.note));
}

fn edit_records(blocks: &mut [(u64, Bytes)], i: usize, edit: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let view = BlockView::parse(&blocks[i].1).unwrap();
    let mut records: Vec<Vec<u8>> = view.records.iter().map(|r| r.to_vec()).collect();
    edit(&mut records);
    blocks[i].1 = Bytes::from(encode_block(view.header_line, &records, view.note));
}

fn checkpoint(blocks: &[(u64, Bytes)], i: usize) -> Checkpoint {
    BlockView::parse(&blocks[i].1)
        .unwrap()
        .checkpoint()
        .unwrap()
}

fn show(name: &str, report: &VerifyReport) {
    println!(
        "{name}: {}",
        serde_json::to_string(&serde_json::to_value(report).unwrap()).unwrap()
    );
}

fn main() -> Result<(), Error> {
    let path = std::env::args().nth(1).ok_or("KEYFILE")?;
    if !Path::new(&path).exists() {
        std::fs::write(&path, Signer::generate(ORIGIN)?.to_text())?;
    }
    let signer = Signer::from_file(Path::new(&path))?;
    let trusted = TrustedKeys::new(vec![signer.verifier_key()]);
    let run = |name: &str,
               blocks: Vec<(u64, Bytes)>,
               pinned: Option<&Checkpoint>,
               found: Vec<Failure>,
               origin: &str| {
        let report = verify_blocks(VerifyInput {
            location: "corpus".into(),
            origin,
            trusted: &trusted,
            trust: Trust::PinnedKeys,
            pinned,
            found,
            blocks,
        });
        show(name, &report);
    };
    let base = honest(&signer, 700);
    let other = build(
        &signer,
        (0..700)
            .map(|i| (0..3).rev().map(|k| line(3 * i + k)).collect())
            .collect(),
    );

    run("honest", base.clone(), None, vec![], ORIGIN);
    run("empty", vec![], None, vec![], ORIGIN);
    run(
        "other origin",
        base.clone(),
        None,
        vec![],
        "custody.other/ledger",
    );

    let mut b = base.clone();
    edit_records(&mut b, 350, |r| {
        r[1] = String::from_utf8(r[1].clone())
            .unwrap()
            .replacen(".opus", ".wav", 1)
            .into_bytes()
    });
    run("record edited", b, None, vec![], ORIGIN);

    let mut b = base.clone();
    edit_records(&mut b, 351, |r| {
        r.remove(2);
    });
    run("record dropped", b, None, vec![], ORIGIN);

    let mut b = base.clone();
    edit_records(&mut b, 10, |r| r[0] = b"not a record".to_vec());
    run("record not json", b, None, vec![], ORIGIN);

    for at in [255usize, 256, 511, 699] {
        let mut b = base.clone();
        edit_header(&mut b, at, |h| h.frontier[0] = BASE64.encode([7u8; 32]));
        run(&format!("frontier {at}"), b, None, vec![], ORIGIN);
    }
    let mut b = base.clone();
    edit_header(&mut b, 255, |h| h.frontier[0] = BASE64.encode([7u8; 32]));
    edit_header(&mut b, 256, |h| {
        let last = h.frontier.len() - 1;
        h.frontier[last] = BASE64.encode([8u8; 32])
    });
    run("frontier 255 and 256", b, None, vec![], ORIGIN);

    let mut b = base.clone();
    b[600].1 = base[3].1.clone();
    run("replay 3 at 600", b, None, vec![], ORIGIN);
    let mut b = base.clone();
    b[0].1 = base[1].1.clone();
    run("replay 1 at 0", b, None, vec![], ORIGIN);
    let mut b = base.clone();
    edit_header(&mut b, 600, |h| h.index = 3);
    run("misplaced 600 as 3", b, None, vec![], ORIGIN);
    let mut b = base.clone();
    let hundred = b[100].1.clone();
    b[100].1 = b[101].1.clone();
    b[101].1 = hundred;
    run("blocks 100 and 101 swapped", b, None, vec![], ORIGIN);

    let mut b = base.clone();
    b.remove(400);
    run("gap 400", b.clone(), None, vec![], ORIGIN);
    run(
        "gap 400 pinned",
        b,
        Some(&checkpoint(&base, 300)),
        vec![],
        ORIGIN,
    );
    let mut b = base.clone();
    b.drain(400..450);
    run("gap 400-449", b, None, vec![], ORIGIN);
    let mut b = base.clone();
    b.remove(400);
    run(
        "block 400 too large",
        b,
        None,
        vec![Failure::at(LedgerCheck::BlockSize, Some(400), "too large")],
        ORIGIN,
    );

    let dup = |at: &[usize]| {
        let lines = (0..700)
            .map(|i| {
                let mut l: Vec<Vec<u8>> = (0..3).map(|k| line(3 * i + k)).collect();
                if at.contains(&i) {
                    l[1] = line(4);
                }
                l
            })
            .collect();
        build(&signer, lines)
    };
    run("duplicate 1 and 500", dup(&[500]), None, vec![], ORIGIN);
    run(
        "duplicate 1, 200, 650",
        dup(&[200, 650]),
        None,
        vec![],
        ORIGIN,
    );
    let mut b = dup(&[500]);
    b[500].1 = base[500].1.clone();
    run("duplicate in a replaced block", b, None, vec![], ORIGIN);

    let mut b = base.clone();
    let mut bytes = b[100].1.to_vec();
    let at = bytes.len() - 20;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    b[100].1 = Bytes::from(bytes);
    run("signature 100", b, None, vec![], ORIGIN);

    let mut b = base.clone();
    edit_header(&mut b, 300, |h| h.prev = "ab".repeat(32));
    run("prev 300", b, None, vec![], ORIGIN);
    let mut b = base.clone();
    edit_header(&mut b, 300, |h| h.first_leaf += 1);
    run("first leaf 300", b, None, vec![], ORIGIN);
    let mut b = base.clone();
    edit_header(&mut b, 300, |h| h.tree_size += 1);
    run("tree size 300", b, None, vec![], ORIGIN);
    let mut b = base.clone();
    edit_header(&mut b, 300, |h| h.root = BASE64.encode([9u8; 32]));
    run("root 300", b, None, vec![], ORIGIN);
    let mut b = base.clone();
    let mut bytes = b[300].1.to_vec();
    bytes[3] = b'X';
    b[300].1 = Bytes::from(bytes);
    run("header unparsable 300", b, None, vec![], ORIGIN);

    run(
        "pinned 300",
        base.clone(),
        Some(&checkpoint(&base, 300)),
        vec![],
        ORIGIN,
    );
    run(
        "pinned 699",
        base.clone(),
        Some(&checkpoint(&base, 699)),
        vec![],
        ORIGIN,
    );
    run(
        "pinned fork",
        base.clone(),
        Some(&checkpoint(&other, 300)),
        vec![],
        ORIGIN,
    );
    run(
        "pinned truncated",
        base[..200].to_vec(),
        Some(&checkpoint(&base, 300)),
        vec![],
        ORIGIN,
    );
    run(
        "pinned empty",
        vec![],
        Some(&checkpoint(&base, 300)),
        vec![],
        ORIGIN,
    );
    let foreign = Checkpoint::sign(
        "custody.other/ledger",
        3,
        [1; 32],
        &Signer::generate("custody.other/ledger")?,
    )?;
    run(
        "pinned foreign",
        base.clone(),
        Some(&foreign),
        vec![],
        ORIGIN,
    );
    let mut b = base.clone();
    edit_records(&mut b, 100, |r| r[0] = line(99_999));
    run(
        "pinned 300, record 100 edited",
        b,
        Some(&checkpoint(&base, 300)),
        vec![],
        ORIGIN,
    );

    // From a folder: listing, reads, probes.
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let dir = tempfile::tempdir()?;
        let layout = Layout::new("");
        std::fs::create_dir_all(dir.path().join("blocks"))?;
        let mut b = dup(&[500]);
        edit_header(&mut b, 250, |h| h.frontier[0] = BASE64.encode([7u8; 32]));
        b.remove(600);
        for (i, bytes) in &b {
            std::fs::write(dir.path().join(layout.block(*i)), bytes)?;
        }
        std::fs::write(dir.path().join("blocks/stray"), b"x")?;
        let mut config = LedgerConfig::new(ORIGIN);
        config.trusted_keys = vec![signer.verifier_key()];
        let ledger = Ledger::open(Arc::new(FsStore::open(dir.path())?), "", config, None).await?;
        let mut report = ledger.verify(Some(&checkpoint(&base, 100))).await;
        report.location = "folder".into();
        show("folder", &report);
        Ok::<_, Error>(())
    })?;
    Ok(())
}
