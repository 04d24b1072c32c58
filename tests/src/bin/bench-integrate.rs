//! The write path at scale: many writers submitting, one integrator folding their submissions
//! into the ledger (`docs/ledger.md`, "Submissions and the integrator").
//!
//! `--submitters N` tasks (default 256) each submit one conversation's records (6 to 10) at a
//! time and wait until the integrator has integrated that submission before the next; one
//! submission in 20 is a redelivery of an earlier conversation's records (de-duplication on).
//! One integrator runs rounds back to back. After `--secs S` (default 60) the submitters stop, the
//! integrator drains what is pending, and the ledger is verified. Printed per backend: records
//! integrated per second over the run, the p50/p99/max time from a submission being made durable
//! to its integration, the ledger store's requests per record (submitters and integrator
//! separately: the figure that becomes cost on AWS), and the verification verdict.
//!
//! Backends: `folder` (a temporary folder) and `seaweedfs` (a SeaweedFS started on 127.0.0.1 by
//! the test harness), `--backend folder|seaweedfs|both` (default both). Waiting is in process (the
//! integrator announces what it integrated), as a CLI waiting for its own few submissions would
//! poll them.
//!
//! `cargo run --release -p custody-tests --bin bench-integrate -- [--secs 60] [--submitters 256]
//! [--backend both]`

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{TimeZone, Utc};
use custody_core::ledger::{
    CustodyRecord, EventKind, How, Ledger, LedgerConfig, Outcome, Signer, What, Where, Who, Why,
};
use custody_core::store::faulty::FaultyStore;
use custody_core::store::fs::FsStore;
use custody_core::store::retrying::{RetryPolicy, RetryingStore};
use custody_core::store::{BucketSpec, ObjectStore};
use custody_tests::SeaweedFs;

const ORIGIN: &str = "custody.bench/ledger";

/// The S3 actions counted on the ledger store.
const ACTIONS: &[&str] = &[
    "PutObject",
    "GetObject",
    "HeadObject",
    "ListObjectsV2",
    "DeleteObject",
];

fn record(conversation: usize, i: usize) -> CustodyRecord {
    CustodyRecord::new(
        EventKind::Hashed,
        Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap()
            + chrono::Duration::milliseconds(conversation as i64),
        Who {
            principal: Some("arn:aws:sts::123456789012:assumed-role/custody-tagger/fn".into()),
            function: Some("custody-tagger".into()),
            request_id: Some(format!("8f1c2d7e-{conversation:012}")),
        },
        What {
            bucket: "genesys-exports".into(),
            key: format!(
                "org-1/year=2024/month=05/day=01/hour=10/conversation_id=c{conversation:08}/r{i:02}.opus"
            ),
            version_id: Some(format!("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY{i:010}")),
            size: Some(1_000_000 + i as u64),
            sha256: Some(format!("{:064x}", (conversation as u128) << 8 | i as u128)),
            etag: Some(format!("{conversation:024x}{i:08x}")),
            ..Default::default()
        },
        Where {
            region: Some("eu-west-1".into()),
            account: Some("123456789012".into()),
        },
        Why {
            export_job: Some("job-1".into()),
            conversation_id: Some(format!("c{conversation:08}")),
            source: format!("s3://genesys-exports/org-1/c{conversation:08}_metadata.json#v1"),
            ..Default::default()
        },
        How::default(),
        Outcome::default(),
    )
}

/// A conversation's records: 6 to 10 of them.
fn conversation(n: usize) -> Vec<CustodyRecord> {
    (0..6 + n % 5).map(|i| record(n, i)).collect()
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[derive(Debug)]
struct Figures {
    backend: &'static str,
    seconds: f64,
    submissions: usize,
    appended: usize,
    present: usize,
    rounds: usize,
    latencies: Vec<Duration>,
    submitter_requests: usize,
    integrator_requests: usize,
    verdict: String,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.appended as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let k = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[k]
    }

    fn print(&self) {
        let records = self.appended.max(1) as f64;
        println!(
            "{}: {} records appended ({} redelivered found present) from {} submissions in {:.1} s, {} rounds: {:.0} records/s",
            self.backend,
            self.appended,
            self.present,
            self.submissions,
            self.seconds,
            self.rounds,
            self.rate()
        );
        println!(
            "  submission durable -> integrated: p50 {:.2} s, p99 {:.2} s, max {:.2} s",
            self.percentile(0.5).as_secs_f64(),
            self.percentile(0.99).as_secs_f64(),
            self.percentile(1.0).as_secs_f64()
        );
        println!(
            "  ledger store requests per record: submitters {:.3}, integrator {:.3}, total {:.3} ({:.0} requests/s)",
            self.submitter_requests as f64 / records,
            self.integrator_requests as f64 / records,
            (self.submitter_requests + self.integrator_requests) as f64 / records,
            (self.submitter_requests + self.integrator_requests) as f64 / self.seconds
        );
        println!("  verify afterwards: {}", self.verdict);
    }
}

fn counted(store: &FaultyStore) -> usize {
    ACTIONS.iter().map(|a| store.calls(a)).sum()
}

async fn run(
    backend: &'static str,
    store: Arc<dyn ObjectStore>,
    submitters: usize,
    secs: u64,
) -> Result<Figures> {
    let signer = Signer::generate(ORIGIN)?;
    // Submitters and the integrator each see the store through their own counter, with the
    // in-run retries every writer has.
    let submit_side = Arc::new(FaultyStore::new(store.clone()));
    let integrate_side = Arc::new(FaultyStore::new(store.clone()));
    let retrying = |s: Arc<FaultyStore>| -> Arc<dyn ObjectStore> {
        Arc::new(RetryingStore::new(s, RetryPolicy::default()))
    };
    let writer = Arc::new(
        Ledger::open(
            retrying(submit_side.clone()),
            "ledger",
            LedgerConfig::new(ORIGIN),
            Some(signer.clone()),
        )
        .await?,
    );
    let integrator = Ledger::open(
        retrying(integrate_side.clone()),
        "ledger",
        LedgerConfig::new(ORIGIN),
        Some(signer.clone()),
    )
    .await?;

    let integrated: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let next_conversation = Arc::new(AtomicUsize::new(0));
    let submissions = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);

    let mut tasks = Vec::new();
    for _ in 0..submitters {
        let (writer, integrated, stop, next, submissions) = (
            writer.clone(),
            integrated.clone(),
            stop.clone(),
            next_conversation.clone(),
            submissions.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let n = next.fetch_add(1, Ordering::Relaxed);
                // One submission in 20 redelivers an earlier conversation's records.
                let records = if n % 20 == 19 {
                    conversation(n / 2)
                } else {
                    conversation(n)
                };
                let submission = writer.submit(&records).await?;
                let durable = Instant::now();
                submissions.fetch_add(1, Ordering::Relaxed);
                loop {
                    if let Some(at) = integrated.lock().unwrap().get(&submission.key) {
                        latencies.push(at.saturating_duration_since(durable));
                        break;
                    }
                    if stop.load(Ordering::Relaxed) {
                        bail!(
                            "the integrator stopped before {} was integrated",
                            submission.key
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }

    let (mut appended, mut present, mut rounds) = (0, 0, 0);
    let mut last_work = started;
    loop {
        let round = integrator.integrate().await?;
        let at = round.finished.unwrap_or_else(Instant::now);
        if !round.integrated.is_empty() {
            rounds += 1;
            last_work = at;
            appended += round.appended;
            present += round.already_present;
            let mut map = integrated.lock().unwrap();
            for key in round.integrated {
                map.insert(key, at);
            }
        } else if Instant::now() >= until && tasks.iter().all(|t| t.is_finished()) {
            break;
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !round.problems.is_empty() {
            eprintln!("{backend}: {:?}", round.problems);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    latencies.sort();
    let seconds = last_work.duration_since(started).as_secs_f64();
    let (submitter_requests, integrator_requests) =
        (counted(&submit_side), counted(&integrate_side));
    let report = integrator.verify(None).await;
    let verdict = format!(
        "{:?} ({} records, {} blocks{})",
        report.verdict(),
        report.records,
        report.blocks,
        if report.records as usize == appended {
            ", every appended record once".to_string()
        } else {
            format!(", but {appended} were appended")
        }
    );
    Ok(Figures {
        backend,
        seconds,
        submissions: submissions.load(Ordering::Relaxed),
        appended,
        present,
        rounds,
        latencies,
        submitter_requests,
        integrator_requests,
        verdict,
    })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let secs: u64 = arg("--secs")
        .map_or(Ok(60), |v| v.parse())
        .context("--secs")?;
    let submitters: usize = arg("--submitters")
        .map_or(Ok(256), |v| v.parse())
        .context("--submitters")?;
    let backend = arg("--backend").unwrap_or_else(|| "both".into());
    println!(
        "cores: {}; {submitters} submitters for {secs} s",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut all = Vec::new();
    if backend == "folder" || backend == "both" {
        let dir = tempfile::tempdir_in(custody_tests::workspace_root().join("target"))?;
        let store: Arc<dyn ObjectStore> =
            Arc::new(FsStore::create(dir.path(), BucketSpec::default())?);
        let f = run("folder", store, submitters, secs).await?;
        f.print();
        all.push(f);
    }
    if backend == "seaweedfs" || backend == "both" {
        let server = SeaweedFs::start().await?;
        let bucket = custody_tests::unique_bucket("bench-integrate");
        server.create_bucket(&bucket, BucketSpec::default()).await?;
        let store: Arc<dyn ObjectStore> = Arc::new(server.store(&bucket).await);
        let f = run("seaweedfs", store, submitters, secs).await?;
        f.print();
        all.push(f);
    }
    if all.len() == 2 {
        println!(
            "seaweedfs / folder records/s: {:.2}",
            all[1].rate() / all[0].rate()
        );
    }
    if all.is_empty() {
        bail!("--backend takes folder, seaweedfs or both");
    }
    Ok(())
}
