//! `bench-ingest`: memory flatness and re-run savings of the streaming ingest (issue 9). Not a
//! test: it prints figures.
//!
//! ```text
//! cargo run --release -p custody-tests --bin bench-ingest -- [--objects N]... [--recording-bytes N]
//!   for each N (default 20000 and 100000): a child process generates a folder export of N
//!   objects (N/2 conversations, one recording and its metadata each), ingests it into a folder
//!   ledger (tags, inline integration) and reports its peak RSS (VmHWM, the peak that
//!   getrusage's ru_maxrss also reports); then the ratio of the largest to the smallest;
//!   then, for the smallest N, a run killed when its 10th chunk of 10 is being submitted and a
//!   re-run: the bytes each read and their ratio (target under 15%).
//! ```

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use custody_core::export::{ExportScope, StartingPoint};
use custody_core::hold::{HoldPolicy, Marking, RunContext, Selection};
use custody_core::ingest::{IngestConfig, ProgressOutput, ingest};
use custody_core::ledger::{Ledger, LedgerConfig, Signer};
use custody_core::store::fs::FsStore;
use custody_core::store::{BucketSpec, ObjectStore, StoreWrite};
use custody_tests::generated_export::{GENERATED_PREFIX, write_generated_export};
use custody_tests::watched::WatchedStore;

const ORIGIN: &str = "custody.bench/ingest";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("child-run") => runtime.block_on(child_run(&args[1..])),
        Some("child-kill") => runtime.block_on(child_kill(&args[1..])),
        _ => parent(&args),
    }
}

fn parent(args: &[String]) -> Result<()> {
    let mut sizes = Vec::new();
    let mut recording_bytes = 2048usize;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || -> Result<usize> {
            it.next()
                .ok_or_else(|| anyhow!("{arg} needs a value"))?
                .parse()
                .with_context(|| arg.clone())
        };
        match arg.as_str() {
            "--objects" => sizes.push(value()?),
            "--recording-bytes" => recording_bytes = value()?,
            other => bail!("unknown argument {other}"),
        }
    }
    if sizes.is_empty() {
        sizes = vec![20_000, 100_000];
    }
    sizes.sort();
    let me = std::env::current_exe()?;
    let mut peaks = Vec::new();
    println!("objects  peak RSS (MiB)  seconds  objects/s");
    for &n in &sizes {
        let out = child(&me, "child-run", n, recording_bytes)?;
        let rss_kib = field(&out, "rss_kib")?;
        let seconds = field(&out, "seconds")?;
        println!(
            "{n:>7}  {:>14.1}  {seconds:>7.1}  {:>9.0}",
            rss_kib / 1024.0,
            n as f64 / seconds
        );
        peaks.push(rss_kib);
    }
    if peaks.len() > 1 {
        println!(
            "peak RSS ratio, {} vs {} objects: {:.2} (flat is 1.0; target under 256 MiB)",
            sizes[sizes.len() - 1],
            sizes[0],
            peaks[peaks.len() - 1] / peaks[0]
        );
    }
    let n = sizes[0];
    let out = child(&me, "child-kill", n, recording_bytes)?;
    let first = field(&out, "first_bytes")?;
    let second = field(&out, "second_bytes")?;
    println!(
        "killed at the 10th of 10 chunks ({n} objects), then re-run: the killed run read {first:.0} bytes, \
         the re-run {second:.0} ({:.1}%; {} already recorded, {} processed)",
        100.0 * second / first,
        field(&out, "skipped")?,
        field(&out, "processed")?
    );
    Ok(())
}

fn child(me: &Path, mode: &str, objects: usize, recording_bytes: usize) -> Result<String> {
    let out = Command::new(me)
        .args([mode, &objects.to_string(), &recording_bytes.to_string()])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        bail!(
            "{mode} {objects}: {}\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

fn field(out: &str, name: &str) -> Result<f64> {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow!("no {name} in:\n{out}"))
}

fn sizes(args: &[String]) -> Result<(usize, usize)> {
    let [objects, bytes] = args else {
        bail!("usage: bench-ingest child-run|child-kill OBJECTS RECORDING_BYTES");
    };
    Ok((objects.parse()?, bytes.parse()?))
}

fn config(bucket: &str, chunk_objects: usize) -> IngestConfig {
    IngestConfig {
        chunk_objects,
        progress: ProgressOutput::Stderr,
        ..IngestConfig::new(
            ExportScope::new(bucket, GENERATED_PREFIX),
            HoldPolicy::new(
                Selection::Everything,
                Marking::parse("marking", "tags").expect("tags"),
            ),
        )
    }
}

async fn generated(dir: &Path, objects: usize, bytes: usize) -> Result<Arc<dyn ObjectStore>> {
    let export: Arc<dyn ObjectStore> =
        Arc::new(FsStore::create(dir.join("export"), BucketSpec::default())?);
    write_generated_export(export.as_ref(), objects / 2, bytes).await?;
    std::fs::create_dir_all(dir.join("ledger"))?;
    Ok(export)
}

async fn ledger(dir: &Path, store: Option<Arc<dyn StoreWrite>>, signer: &Signer) -> Result<Ledger> {
    let store: Arc<dyn StoreWrite> = match store {
        Some(store) => store,
        None => Arc::new(FsStore::open(dir.join("ledger"))?),
    };
    Ok(Ledger::open(store, "", LedgerConfig::new(ORIGIN), Some(signer.clone())).await?)
}

/// Generate, ingest, report the peak RSS of this process.
async fn child_run(args: &[String]) -> Result<()> {
    let (objects, bytes) = sizes(args)?;
    let dir = tempfile::tempdir()?;
    let export = generated(dir.path(), objects, bytes).await?;
    let ledger = ledger(dir.path(), None, &Signer::generate(ORIGIN)?).await?;
    let started = Instant::now();
    let config = config(export.bucket(), custody_core::ingest::CHUNK_OBJECTS);
    let start = StartingPoint::ExportPrefix(GENERATED_PREFIX.to_string());
    let report = ingest(
        export.clone(),
        &ledger,
        &config,
        &start,
        &RunContext::new(export.location()),
    )
    .await;
    let seconds = started.elapsed().as_secs_f64();
    if !report.recorded() || report.objects != objects {
        bail!("the run did not record every object: {}", report.summary());
    }
    eprintln!("{}", report.summary());
    println!("rss_kib {}", peak_rss_kib()?);
    println!("seconds {seconds}");
    Ok(())
}

/// A run killed while its last chunk (of 10) is submitted, then a re-run: bytes read by each.
async fn child_kill(args: &[String]) -> Result<()> {
    let (objects, bytes) = sizes(args)?;
    let dir = tempfile::tempdir()?;
    let export = generated(dir.path(), objects, bytes).await?;
    let plain: Arc<dyn ObjectStore> = Arc::new(FsStore::open(dir.path().join("ledger"))?);
    let probe = Ledger::open(plain.clone(), "", LedgerConfig::new(ORIGIN), None).await?;
    let stalling = Arc::new(
        WatchedStore::new(plain.clone())
            .stall_writes_after(&probe.layout().submissions_prefix(), 9),
    );
    let stalled = stalling.stalled();
    // Ten chunks that close on their size alone, so that the 10th is the last 10%.
    let config = IngestConfig {
        chunk_wait: std::time::Duration::from_secs(600),
        ..config(export.bucket(), objects.div_ceil(10))
    };
    let start = StartingPoint::ExportPrefix(GENERATED_PREFIX.to_string());
    let ctx = RunContext::new(export.location());
    let first_export = Arc::new(WatchedStore::new(export.clone()));
    let signer = Signer::generate(ORIGIN)?;
    let first_ledger = ledger(dir.path(), Some(stalling as Arc<dyn StoreWrite>), &signer).await?;
    tokio::select! {
        report = ingest(first_export.clone(), &first_ledger, &config, &start, &ctx) => {
            bail!("the run was not killed: {}", report.summary())
        }
        _ = stalled.notified() => {}
    }
    let second_export = Arc::new(WatchedStore::new(export.clone()));
    let second_ledger = ledger(dir.path(), None, &signer).await?;
    let report = ingest(second_export.clone(), &second_ledger, &config, &start, &ctx).await;
    if !report.recorded() {
        bail!("the re-run did not record: {}", report.summary());
    }
    eprintln!("{}", report.summary());
    println!("first_bytes {}", first_export.bytes_read());
    println!("second_bytes {}", second_export.bytes_read());
    println!("skipped {}", report.skipped);
    println!("processed {}", report.objects);
    Ok(())
}

fn peak_rss_kib() -> Result<u64> {
    std::fs::read_to_string("/proc/self/status")?
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("no VmHWM in /proc/self/status"))
}
