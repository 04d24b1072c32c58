//! Peak memory and speed of verifying a large folder ledger (`docs/ledger.md`, "Verification":
//! memory): what `custody verify DIR --key FILE` does, `Ledger::verify` and, on an intact
//! ledger, `audit::check_attestations`, each run in its own process so that its peak RSS
//! (`VmHWM`, as `getrusage` reports `ru_maxrss`) is its own.
//!
//! ```text
//! bench_verify_memory run --records 10000000 --baseline-records 500000 [--per-block 5000]
//!                         [--dir /work/...] [--baseline-exe PATH] [--keep]
//! bench_verify_memory generate DIR --records N [--per-block 5000]
//! bench_verify_memory verify DIR
//! ```
//!
//! `run` builds a ledger of `--baseline-records` and one of `--records` (blocks built directly
//! with `build_block`, realistic records: `observed`, `hold_applied` and `hashed` for each
//! object, about 780 bytes each) under `--dir` (default: a temporary folder in the current
//! directory; removed afterwards unless `--keep`), verifies each in a child process of this
//! binary, and, with `--baseline-exe`, the small one also with that executable: this same file
//! built against the code before verification streamed (`git show 8c983a0`), the baseline the
//! figures are compared with in the same run. It prints records/s, peak RSS, and peak RSS per
//! ledger byte with its ratio to the baseline's.
//!
//! The file uses only what the code before streaming has (`Ledger::verify`, `build_block`,
//! `check_attestations`) so that it builds against both.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use custody_core::ledger::{
    CustodyRecord, EventKind, How, Layout, Ledger, LedgerConfig, Outcome, Signer, Tip, VerifierKey,
    What, Where, Who, Why, build_block,
};
use custody_core::store::fs::FsStore;
use rayon::prelude::*;

const ORIGIN: &str = "custody.bench/ledger";

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Record `i`: the `i / 3`th object's `observed`, `hold_applied` or `hashed` record.
fn record(i: usize) -> CustodyRecord {
    let object = i / 3;
    let event = [
        EventKind::Observed,
        EventKind::HoldApplied,
        EventKind::Hashed,
    ][i % 3];
    CustodyRecord::new(
        event,
        Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap()
            + chrono::Duration::milliseconds(i as i64),
        Who {
            principal: Some("arn:aws:sts::123456789012:assumed-role/custody-tagger/fn".into()),
            function: Some("custody-tagger".into()),
            request_id: Some(format!("8f1c2d7e-{object:012}")),
        },
        What {
            bucket: "genesys-exports".into(),
            key: format!(
                "org-1/year=2024/month=05/conversation_id=c{:08}/r{object:010}.opus",
                object / 4
            ),
            version_id: Some(format!("3HL4kqtJlcpXroDTDmJ{object:010}")),
            size: Some(1_000_000 + object as u64),
            sha256: (event == EventKind::Hashed)
                .then(|| format!("{:064x}", object as u128 * 0x9e37_79b9_7f4a_7c15)),
            ..Default::default()
        },
        Where {
            region: Some("eu-west-1".into()),
            account: Some("123456789012".into()),
        },
        Why {
            export_job: Some("job-2024-05".into()),
            conversation_id: Some(format!("c{:08}", object / 4)),
            recording_id: Some(format!("r{object:010}")),
            matter: Some("M-2024-001".into()),
            source: format!("s3://genesys-exports/org-1/r{object:010}.opus_metadata.json#v1"),
        },
        How::default(),
        Outcome::default(),
    )
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn number(name: &str, default: usize) -> Result<usize, Error> {
    match arg(name) {
        Some(v) => Ok(v.parse().map_err(|e| format!("{name} {v}: {e}"))?),
        None => Ok(default),
    }
}

/// Peak resident set size of this process so far, in bytes: `VmHWM` of `/proc/self/status`
/// (what `getrusage` reports as `ru_maxrss`; Linux).
fn max_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// Build a ledger of `records` records in blocks of `per_block` under `dir`; returns its bytes.
fn generate(dir: &Path, records: usize, per_block: usize) -> Result<u64, Error> {
    let signer = Signer::generate(ORIGIN)?;
    let layout = Layout::new("");
    std::fs::create_dir_all(dir.join("blocks"))?;
    std::fs::write(
        dir.join("bench.vkey"),
        format!("{}\n", signer.verifier_key().to_text()),
    )?;
    let mut tip = Tip::genesis();
    let mut bytes = 0u64;
    let started = Instant::now();
    for first in (0..records).step_by(per_block) {
        let lines: Vec<Vec<u8>> = (first..(first + per_block).min(records))
            .into_par_iter()
            .map(|i| record(i).to_line())
            .collect();
        let block = build_block(&tip, &lines, ORIGIN, &signer, "2024-05-01T10:00:00.000Z")?;
        std::fs::write(dir.join(layout.block(block.header.index)), &block.bytes)?;
        bytes += block.bytes.len() as u64;
        tip = block.tip_after;
    }
    eprintln!(
        "generated {records} records ({:.0} MB, {:.0} bytes each) in {} in {:.0} s",
        bytes as f64 / 1e6,
        bytes as f64 / records as f64,
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(bytes)
}

/// Verify the ledger in `dir` as `custody verify DIR --key DIR/bench.vkey` does; prints one
/// `RESULT` line.
async fn verify(dir: &Path) -> Result<(), Error> {
    let key = VerifierKey::from_file(&dir.join("bench.vkey"))?;
    let store = Arc::new(FsStore::open(dir)?);
    let mut config = LedgerConfig::new(ORIGIN);
    config.trusted_keys = vec![key];
    let ledger = Ledger::open(store, "", config, None).await?;
    let started = Instant::now();
    let report = ledger.verify(None).await;
    let verify_secs = started.elapsed().as_secs_f64();
    let rss_verify = max_rss();
    let mut attestations_secs = 0.0;
    if report.is_intact() {
        let t = Instant::now();
        custody_core::audit::check_attestations(&ledger).await?;
        attestations_secs = t.elapsed().as_secs_f64();
    }
    println!(
        "RESULT verdict={:?} records={} blocks={} verify_secs={verify_secs:.2} \
         attestations_secs={attestations_secs:.2} rss_verify={rss_verify} rss_total={}",
        report.verdict(),
        report.records,
        report.blocks,
        max_rss()
    );
    Ok(())
}

/// One child's `RESULT` line, parsed.
#[derive(Debug, Clone, Default)]
struct Measured {
    records: u64,
    verify_secs: f64,
    attestations_secs: f64,
    rss_verify: u64,
    rss_total: u64,
}

fn run_child(exe: &Path, dir: &Path) -> Result<Measured, Error> {
    let out = Command::new(exe).arg("verify").arg(dir).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .ok_or_else(|| {
            format!(
                "{} verify gave no result: {}",
                exe.display(),
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let field = |name: &str| -> Result<String, Error> {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(str::to_string)
            .ok_or_else(|| format!("no {name} in {line}").into())
    };
    if field("verdict")? != "Intact" {
        return Err(format!("not intact: {line}").into());
    }
    Ok(Measured {
        records: field("records")?.parse()?,
        verify_secs: field("verify_secs")?.parse()?,
        attestations_secs: field("attestations_secs")?.parse()?,
        rss_verify: field("rss_verify")?.parse()?,
        rss_total: field("rss_total")?.parse()?,
    })
}

fn print(
    label: &str,
    m: &Measured,
    ledger_bytes: u64,
    baseline: Option<&Measured>,
    base_bytes: u64,
) {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let per_byte = m.rss_total as f64 / ledger_bytes as f64;
    let ratio = baseline
        .map(|b| {
            let base = b.rss_total as f64 / base_bytes as f64;
            format!(" ({:.4} of the baseline's {base:.3})", per_byte / base)
        })
        .unwrap_or_default();
    println!(
        "  {label:<44} {:>9} records  verify {:>7.1} s = {:>7.0} records/s  attestations {:>6.1} s  \
         peak RSS verify {:>7.1} MiB, with attestations {:>7.1} MiB  RSS/ledger byte {per_byte:.4}{ratio}",
        m.records,
        m.verify_secs,
        m.records as f64 / m.verify_secs,
        m.attestations_secs,
        mib(m.rss_verify),
        mib(m.rss_total),
    );
}

fn run() -> Result<(), Error> {
    let records = number("--records", 10_000_000)?;
    let baseline_records = number("--baseline-records", 500_000)?;
    let per_block = number("--per-block", 5_000)?.max(1);
    let keep = std::env::args().any(|a| a == "--keep");
    let parent = arg("--dir").map_or_else(|| PathBuf::from("."), PathBuf::from);
    let work = tempfile::Builder::new()
        .prefix("bench-verify-")
        .tempdir_in(&parent)?;
    let me = std::env::current_exe()?;
    let small = work.path().join("small");
    let large = work.path().join("large");
    let small_bytes = generate(&small, baseline_records, per_block)?;
    let new_small = run_child(&me, &small)?;
    let old_small = match arg("--baseline-exe") {
        Some(exe) => Some(run_child(Path::new(&exe), &small)?),
        None => None,
    };
    std::fs::remove_dir_all(&small)?;
    let large_bytes = generate(&large, records, per_block)?;
    let new_large = run_child(&me, &large)?;
    println!(
        "\nverification of folder ledgers in blocks of {per_block} ({} cores), peak RSS of each \
         process; ratios to the baseline (the code before streaming on {baseline_records} \
         records) measured in this run",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if let Some(old) = &old_small {
        print(
            "before streaming (baseline)",
            old,
            small_bytes,
            None,
            small_bytes,
        );
    }
    let base = old_small.as_ref();
    print("streaming", &new_small, small_bytes, base, small_bytes);
    print(
        "streaming, large ledger",
        &new_large,
        large_bytes,
        base,
        small_bytes,
    );
    if let Some(old) = &old_small {
        println!(
            "  verify time, streaming / before, same ledger: {:.2}; records/s large / baseline: {:.2}",
            new_small.verify_secs / old.verify_secs,
            (new_large.records as f64 / new_large.verify_secs)
                / (old.records as f64 / old.verify_secs)
        );
    }
    if keep {
        println!("kept {}", work.keep().display());
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let mode = std::env::args().nth(1).unwrap_or_default();
    match mode.as_str() {
        "run" => run(),
        "generate" => {
            let dir = std::env::args().nth(2).ok_or("generate DIR")?;
            generate(
                Path::new(&dir),
                number("--records", 1_000_000)?,
                number("--per-block", 5_000)?.max(1),
            )
            .map(|_| ())
        }
        "verify" => {
            let dir = std::env::args().nth(2).ok_or("verify DIR")?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(verify(Path::new(&dir)))
        }
        _ => Err("usage: bench_verify_memory run|generate DIR|verify DIR (see the file)".into()),
    }
}
