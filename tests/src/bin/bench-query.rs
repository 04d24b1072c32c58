//! A one-conversation query over a large folder ledger: from the query index vs reading every
//! block (the `--exhaustive` path). Not a test: prints the bytes and requests each read through
//! the store port (what S3 would serve and bill), their ratio, and the time of each.
//!
//! Builds, in a folder under `--dir` (default `/work`; deleted afterwards unless `--keep`), a
//! ledger of `--records` records (default 1,000,000) of `--conversations` conversations (default
//! 100,000: two recordings each, with their metadata files observed, held for a matter, hashed)
//! in blocks of `--per-block` records (default 1,000), with `custody_core::ledger::build_block`.
//! Every block but the last is indexed with `custody_core::query::index::plan_block` (the
//! objects `index_block` writes) written as plain files, the layout `FsStore` reads, because the
//! folder store's create-only puts sync every file twice and would make building the benchmark
//! take an hour; the last block is indexed through the store by `catch_up`, as in production.
//! Then the same query, for a conversation in the middle of the ledger, runs three times: from
//! the index (cold: the folder store computes each file's ETag on first read, as it does for any
//! plain file), from the index again (warm), and by scanning every block. The indexed answer must
//! equal the scan's and read under 1% of the ledger's bytes, else the exit status is 1.
//!
//! `cargo run --release -p custody-tests --bin bench-query -- [--records 1000000]
//! [--conversations 100000] [--per-block 1000] [--dir /work] [--keep]`

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{TimeZone, Utc};
use custody_core::ledger::{
    CustodyRecord, EventKind, How, Layout, Ledger, LedgerConfig, Outcome, Signer, Tip, What, Where,
    Who, Why, build_block,
};
use custody_core::query::index::{IndexKeys, plan_block};
use custody_core::query::{Match, RecordFilter, catch_up, find, find_indexed};
use custody_core::store::StoreWrite;
use custody_core::store::counting::{CountingStore, Usage};
use custody_core::store::fs::FsStore;
use rayon::prelude::*;

const ORIGIN: &str = "custody.bench/ledger";
/// Records of one conversation: two recordings, each with its metadata file.
const PER_CONVERSATION: usize = 10;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    Some(args.get(i + 1).cloned().unwrap_or_default())
}

fn number(name: &str, default: usize) -> Result<usize> {
    arg(name).map_or(Ok(default), |v| {
        v.parse().with_context(|| format!("{name} takes a number"))
    })
}

/// The records of conversation `c`, as an ingest run writes them.
fn conversation(c: usize) -> Vec<Vec<u8>> {
    // 1,000 conversations an hour from 2024-01-01.
    let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
        + chrono::Duration::seconds((c as i64) * 36 / 10);
    let t = start.format("year=%Y/month=%m/day=%d/hour=%H").to_string();
    let folder = format!("3f1c9a52-org/{t}/conversation_id=c{c:08}/");
    let matter = ["M-2024-001", "M-2024-002", "M-2024-001+M-2024-002"][c % 3];
    let mut lines = Vec::with_capacity(PER_CONVERSATION);
    for r in 0..2 {
        let recording = format!("r{c:08}{r}");
        for (file, size) in [
            (format!("{recording}.opus"), 1_500_000 + c as u64),
            (format!("{recording}.opus_metadata.json"), 900 + r as u64),
        ] {
            let what = What {
                bucket: "genesys-exports".into(),
                key: format!("{folder}{file}"),
                version_id: Some(format!("3HL4kqtJlcpXroDTDmJ+rmSp{c:08}{r}")),
                size: Some(size),
                sha256: Some(format!(
                    "{:064x}",
                    (c * 4 + r) as u128 * 0x9e37_79b9_7f4a_7c15
                )),
                etag: Some(format!("{:032x}", c * 4 + r)),
                s3_checksum: Some("CRC64NVME:Fw0NAbZDnCk=".into()),
                ..Default::default()
            };
            let why = |matter: Option<&str>| Why {
                export_job: Some("a5e3c1d2-7b9f-4e8a-9c6d-2f1e0b3a4c5d".into()),
                conversation_id: Some(format!("c{c:08}")),
                recording_id: Some(recording.clone()),
                matter: matter.map(str::to_string),
                source: format!("s3://genesys-exports/{folder}{recording}.opus_metadata.json#m1"),
            };
            let record = |event, offset_ms: i64, what: What, why: Why, detail: &str| {
                CustodyRecord::new(
                    event,
                    start + chrono::Duration::milliseconds(offset_ms),
                    Who {
                        principal: Some(
                            "arn:aws:sts::123456789012:assumed-role/custody-tagger/custody".into(),
                        ),
                        function: Some("custody-tagger".into()),
                        request_id: Some(format!("8f1c2d7e-5b4a-4c3d-9e2f-{c:012}")),
                    },
                    what,
                    Where {
                        region: Some("eu-west-1".into()),
                        account: Some("123456789012".into()),
                    },
                    why,
                    How::default(),
                    Outcome {
                        detail: Some(detail.to_string()),
                        error: None,
                    },
                )
                .to_line()
            };
            lines.push(record(
                EventKind::Observed,
                0,
                what.clone(),
                why(None),
                "recording named by its metadata",
            ));
            if file.ends_with(".opus") {
                let mut held = what.clone();
                held.new_version_id = None;
                let mut line = CustodyRecord::new(
                    EventKind::HoldApplied,
                    start + chrono::Duration::milliseconds(40),
                    Who::default(),
                    held,
                    Where::default(),
                    why(Some(matter)),
                    How {
                        mechanisms: vec!["tags".into(), "object-lock".into()],
                        ..How::default()
                    },
                    Outcome::default(),
                );
                line.id = line.identity();
                lines.push(line.to_line());
            }
            lines.push(record(
                EventKind::Hashed,
                900,
                what,
                why(None),
                "cross-checked with the stored CRC64NVME",
            ));
        }
    }
    lines
}

fn write_file(root: &Path, key: &str, body: &[u8]) -> Result<()> {
    let path = root.join(key);
    std::fs::create_dir_all(path.parent().expect("keys have a folder"))?;
    std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))
}

fn places(found: &[Match]) -> Vec<(u64, u64, String)> {
    found
        .iter()
        .map(|m| (m.block, m.leaf_index, m.record.id.clone()))
        .collect()
}

fn line(name: &str, usage: &Usage, took: Duration, ledger_bytes: u64) -> String {
    format!(
        "{name:<22} {:>12} bytes ({:>8.4}% of the ledger) {:>6} requests ({} list, {} head, {} get, {} ranged) {:>9.3} s",
        usage.bytes_read,
        100.0 * usage.bytes_read as f64 / ledger_bytes as f64,
        usage.requests(),
        usage.lists,
        usage.heads,
        usage.gets,
        usage.ranged_gets,
        took.as_secs_f64()
    )
}

#[tokio::main]
async fn main() -> Result<()> {
    let total = number("--records", 1_000_000)?;
    let conversations = number("--conversations", 100_000)?;
    let per_block = number("--per-block", 1_000)?;
    let parent = arg("--dir").unwrap_or_else(|| "/work".into());
    if conversations == 0 || total < conversations || per_block == 0 {
        bail!("--records must be at least --conversations, both and --per-block above 0");
    }
    let dir = tempfile::Builder::new()
        .prefix("bench-query-")
        .tempdir_in(&parent)
        .with_context(|| format!("a folder under {parent}"))?;
    let root = dir.path().to_path_buf();
    let layout = Layout::new("ledger");
    let keys = IndexKeys::new(&layout);
    let signer = Signer::generate(ORIGIN)?;

    // The records: whole conversations, `total / PER_CONVERSATION` of them at most.
    let started = Instant::now();
    let wanted = conversations.min(total.div_ceil(PER_CONVERSATION));
    let mut records: Vec<Vec<u8>> = (0..wanted).into_par_iter().flat_map(conversation).collect();
    records.truncate(total);
    let generated = started.elapsed();

    // The blocks, then the index of every block but the last.
    let started = Instant::now();
    let mut tip = Tip::genesis();
    let mut blocks = Vec::new();
    for chunk in records.chunks(per_block) {
        let block = build_block(&tip, chunk, ORIGIN, &signer, "2024-06-01T00:00:00.000Z")?;
        tip = block.tip_after.clone();
        blocks.push(block.bytes);
    }
    drop(records);
    let ledger_bytes: u64 = blocks.iter().map(|b| b.len() as u64).sum();
    let last = blocks.len() as u64 - 1;
    blocks
        .par_iter()
        .enumerate()
        .try_for_each(|(i, bytes)| write_file(&root, &layout.block(i as u64), bytes))?;
    let built = started.elapsed();
    let started = Instant::now();
    let objects: u64 = blocks[..last as usize]
        .par_iter()
        .map(|bytes| -> Result<u64> {
            let plan = plan_block(&keys, bytes)?;
            for object in plan
                .postings
                .iter()
                .chain(&plan.records)
                .chain([&plan.marker])
            {
                write_file(&root, &object.key, &object.body)?;
            }
            Ok(plan.postings.len() as u64 + plan.records.len() as u64 + 1)
        })
        .sum::<Result<u64>>()?;
    let hint = serde_json::json!({ "block": last - 1 }).to_string();
    write_file(&root, &keys.covered_hint(), hint.as_bytes())?;
    drop(blocks);
    let indexed = started.elapsed();
    println!(
        "ledger: {total} records of {wanted} conversations in {} blocks of {per_block}, {ledger_bytes} bytes \
         (generated in {:.1} s, blocks built and written in {:.1} s); index: {objects} objects \
         written in {:.1} s",
        last + 1,
        generated.as_secs_f64(),
        built.as_secs_f64(),
        indexed.as_secs_f64()
    );

    let folder: Arc<dyn StoreWrite> = Arc::new(FsStore::open(&root)?);
    let counting = Arc::new(CountingStore::new(folder));
    let ledger = Ledger::open(counting.clone(), "ledger", LedgerConfig::new(ORIGIN), None).await?;
    let started = Instant::now();
    let caught_up = catch_up(&ledger).await?;
    println!(
        "catch_up: covered {:?} -> {:?}, {} block(s) indexed through the store in {:.2} s",
        caught_up.covered_before,
        caught_up.covered,
        caught_up.indexed.len(),
        started.elapsed().as_secs_f64()
    );
    if caught_up.covered != Some(last) {
        bail!("catch_up did not cover the ledger: {caught_up:?}");
    }

    let filter = RecordFilter {
        conversation: Some(format!("c{:08}", wanted / 2)),
        ..RecordFilter::default()
    };
    let mut runs = Vec::new();
    let mut answer = None;
    for name in ["indexed (cold)", "indexed (warm)"] {
        counting.reset();
        let started = Instant::now();
        let found = find_indexed(&ledger, &filter).await?;
        let took = started.elapsed();
        if !found.rejected.is_empty() {
            bail!("postings rejected: {:?}", found.rejected);
        }
        runs.push((name, counting.usage(), took));
        answer = Some(found);
    }
    let answer = answer.expect("ran");
    counting.reset();
    let started = Instant::now();
    let scanned = find(&ledger, &filter).await?;
    let scan = (counting.usage(), started.elapsed());
    println!(
        "query --conversation {}: {} records ({}, plan {:?})",
        filter.conversation.as_deref().unwrap_or_default(),
        scanned.len(),
        if places(&answer.matches) == places(&scanned) {
            "the same from the index and the scan"
        } else {
            "DIFFERENT from the index and the scan"
        },
        answer.plan.index
    );
    for (name, usage, took) in &runs {
        println!("{}", line(name, usage, *took, ledger_bytes));
    }
    println!(
        "{}",
        line("scan (--exhaustive)", &scan.0, scan.1, ledger_bytes)
    );
    let warm = &runs[1];
    println!(
        "ratio indexed/scan: bytes {:.6}, requests {:.4}, time {:.4} (warm) / {:.4} (cold)",
        warm.1.bytes_read as f64 / scan.0.bytes_read as f64,
        warm.1.requests() as f64 / scan.0.requests() as f64,
        warm.2.as_secs_f64() / scan.1.as_secs_f64(),
        runs[0].2.as_secs_f64() / scan.1.as_secs_f64()
    );
    let within = runs
        .iter()
        .all(|(_, usage, _)| usage.bytes_read * 100 < ledger_bytes);
    let same = places(&answer.matches) == places(&scanned) && !scanned.is_empty();
    println!(
        "{}: the indexed query read {} 1% of the ledger's bytes and answered {}",
        if within && same { "PASS" } else { "FAIL" },
        if within { "under" } else { "NOT under" },
        if same {
            "what the scan answered"
        } else {
            "something else"
        }
    );
    if flag_keep() {
        let kept = dir.keep();
        println!("kept {}", kept.display());
    }
    if !(within && same) {
        std::process::exit(1);
    }
    Ok(())
}

fn flag_keep() -> bool {
    std::env::args().any(|a| a == "--keep")
}
