//! Verification throughput of the custody ledger.
//!
//! Builds a ledger of `--records` custody records in blocks of `--per-block` in a folder (written
//! as plain files, the layout `FsStore` reads), then times: verification of the blocks in memory
//! (the CPU work: parse, leaf hashes, record identities, roots, signatures, duplicates), the same
//! against a pinned checkpoint (consistency proof), and `Ledger::verify` from the folder (listing
//! and reading every block as well). Prints records per second.
//!
//! `cargo run --release --workspace --bin bench-ledger -- --records 1000000 --per-block 100 [--keep]`

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use chrono::{TimeZone, Utc};
use custody_core::ledger::{
    Checkpoint, CustodyRecord, EventKind, How, Layout, Ledger, LedgerConfig, Outcome, Signer, Tip,
    TrustedKeys, VerifyInput, What, Where, Who, Why, build_block, verify_blocks,
};
use custody_core::store::fs::FsStore;

const ORIGIN: &str = "custody.bench/ledger";

fn record(i: usize) -> CustodyRecord {
    CustodyRecord::new(
        EventKind::Hashed,
        Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap()
            + chrono::Duration::milliseconds(i as i64),
        Who {
            principal: Some("arn:aws:sts::123456789012:assumed-role/custody-tagger/fn".into()),
            function: Some("custody-tagger".into()),
            request_id: Some(format!("8f1c2d7e-{i:012}")),
        },
        What {
            bucket: "genesys-exports".into(),
            key: format!(
                "org-1/year=2024/month=05/day=01/hour=10/conversation_id=c{:08}/r{i:010}.opus",
                i / 4
            ),
            version_id: Some(format!("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY{i:010}")),
            size: Some(1_000_000 + i as u64),
            sha256: Some(format!("{:064x}", i as u128 * 0x9e37_79b9_7f4a_7c15)),
            etag: Some(format!("{:032x}", i)),
            ..Default::default()
        },
        Where {
            region: Some("eu-west-1".into()),
            account: Some("123456789012".into()),
        },
        Why {
            export_job: Some("job-2024-05".into()),
            conversation_id: Some(format!("c{:08}", i / 4)),
            recording_id: Some(format!("r{i:010}")),
            matter: Some("M-2024-001".into()),
            source: format!("s3://genesys-exports/org-1/r{i:010}.opus_metadata.json#v1"),
        },
        How::default(),
        Outcome::default(),
    )
}

fn arg(name: &str, default: usize) -> Result<usize> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .context("a value after the flag")?
            .parse()
            .with_context(|| format!("{name} takes a number")),
        None => Ok(default),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let total = arg("--records", 1_000_000)?;
    let per_block = arg("--per-block", 100)?.max(1);
    let dir = tempfile::tempdir()?;
    let signer = Signer::generate(ORIGIN)?;
    let layout = Layout::new("");
    std::fs::create_dir_all(dir.path().join("blocks"))?;

    let started = Instant::now();
    let mut tip = Tip::genesis();
    let mut blocks: Vec<(u64, Bytes)> = Vec::new();
    let mut pinned_note = None;
    let mut i = 0;
    while i < total {
        let end = (i + per_block).min(total);
        let lines: Vec<Vec<u8>> = (i..end).map(|n| record(n).to_line()).collect();
        let block = build_block(&tip, &lines, ORIGIN, &signer, "2024-05-01T10:00:00.000Z")
            .map_err(anyhow::Error::msg)?;
        std::fs::write(
            dir.path().join(layout.block(block.header.index)),
            &block.bytes,
        )?;
        blocks.push((block.header.index, Bytes::from(block.bytes)));
        tip = block.tip_after;
        if pinned_note.is_none() && end >= total / 2 {
            pinned_note = Some(tip.clone());
        }
        i = end;
    }
    let pinned_tip = pinned_note.context("an empty ledger")?;
    let pinned = Checkpoint::sign(
        ORIGIN,
        pinned_tip.tree_size(),
        pinned_tip.frontier.root(),
        &signer,
    )
    .map_err(anyhow::Error::msg)?;
    println!(
        "built {total} records in {} blocks of {per_block} in {:.1} s ({})",
        blocks.len(),
        started.elapsed().as_secs_f64(),
        dir.path().display()
    );
    println!(
        "cores: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let trusted = TrustedKeys::new(vec![signer.verifier_key()]);
    for (label, pin) in [
        ("in memory", None),
        ("in memory, pinned at half", Some(&pinned)),
    ] {
        let input = VerifyInput {
            location: "memory".into(),
            origin: ORIGIN,
            trusted: &trusted,
            trust: "bench".into(),
            pinned: pin,
            strays: Vec::new(),
            blocks: blocks.clone(),
        };
        let t = Instant::now();
        let report = verify_blocks(input);
        report_line(
            label,
            total,
            t.elapsed().as_secs_f64(),
            report.is_intact(),
            report.records,
        )?;
    }

    let store = Arc::new(FsStore::open(dir.path())?);
    let mut config = LedgerConfig::new(ORIGIN);
    config.trusted_keys = vec![signer.verifier_key()];
    let ledger = Ledger::open(store, "", config, None).await?;
    let t = Instant::now();
    let report = ledger.verify(None).await;
    report_line(
        "from the folder (list + read + verify)",
        total,
        t.elapsed().as_secs_f64(),
        report.is_intact(),
        report.records,
    )?;
    if std::env::args().any(|a| a == "--keep") {
        let kept = dir.keep();
        let vkey = kept.join("bench.vkey");
        std::fs::write(&vkey, format!("{}\n", signer.verifier_key().to_text()))?;
        println!(
            "kept the ledger in {} and its public key in {}",
            kept.display(),
            vkey.display()
        );
    }
    Ok(())
}

fn report_line(label: &str, total: usize, secs: f64, intact: bool, records: u64) -> Result<()> {
    if !intact || records != total as u64 {
        bail!("{label}: verification did not pass ({records} records)");
    }
    let rate = total as f64 / secs;
    println!(
        "{label:<40} {total} records in {secs:.2} s = {rate:.0} records/s; 1M records in {:.2} s",
        1_000_000.0 / rate
    );
    Ok(())
}
