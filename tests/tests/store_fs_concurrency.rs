//! The filesystem adapter under concurrent writers, in one process and across processes: S3's
//! semantics must hold. Plain puts of one key all succeed and the last one wins; create-only puts
//! of one key have exactly one winner and every other writer is told "already exists", never an
//! error; a reader only ever sees one whole object, with the facts (ETag, metadata) of that same
//! object; on a versioned folder every version a put reported stays readable.
//!
//! The cross-process tests re-run this test binary as worker processes (the ignored test
//! `worker_process`, driven by environment variables) on the same folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use custody_core::store::fs::FsStore;
use custody_core::store::{BucketSpec, PutOutcome, PutRequest, StoreRead, StoreWrite};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

const PLAIN: BucketSpec = BucketSpec {
    versioned: false,
    object_lock: false,
};
const VERSIONED: BucketSpec = BucketSpec {
    versioned: true,
    object_lock: false,
};

const SHARED_KEY: &str = "ledger/head.json";
const WORKER_ROOT: &str = "CUSTODY_FSFIX_WORKER_ROOT";
const WORKER_TAG: &str = "CUSTODY_FSFIX_WORKER_TAG";
const WORKER_GO: &str = "CUSTODY_FSFIX_WORKER_GO";
const WORKER_REPORT: &str = "CUSTODY_FSFIX_WORKER_REPORT";

/// How hard one process hammers the folder.
#[derive(Debug, Clone, Copy)]
struct Load {
    writers: usize,
    rounds: usize,
}

/// What one put returned, as plain data so that worker processes can report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Outcome {
    Created { version_id: Option<String> },
    AlreadyExists,
    Failed(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Attempt {
    key: String,
    label: String,
    outcome: Outcome,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Report {
    plain: Vec<Attempt>,
    create_only: Vec<Attempt>,
}

// ---------------------------------------------------------------- self-checking bodies

/// A body that names itself: `label\n` then filler derived from the label, of a size taken from
/// the label, so that any reader can tell a whole body from a torn or mixed one.
fn body_for(label: &str) -> Vec<u8> {
    let size: usize = label
        .rsplit_once("-s")
        .and_then(|(_, s)| s.parse().ok())
        .expect("label ends in -s<size>");
    let mut body = format!("{label}\n").into_bytes();
    let filler = label.as_bytes();
    let mut i = 0;
    while body.len() < size {
        body.push(filler[i % filler.len()]);
        i += 1;
    }
    body
}

fn label_for(tag: &str, writer: usize, round: usize) -> String {
    // 1 KiB to about 200 KiB, so that writes take long enough to overlap.
    let size = 1024 + ((writer * 7919 + round * 104_729) % 200_000);
    format!("{tag}-w{writer}-r{round}-s{size}")
}

/// The label of a whole body, or why the body is not one.
fn whole_label(body: &[u8]) -> Result<String, String> {
    let newline = body
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| format!("a body of {} bytes has no label line", body.len()))?;
    let label = String::from_utf8(body[..newline].to_vec()).map_err(|e| e.to_string())?;
    if !label.contains("-s") || body_for(&label) != body {
        return Err(format!(
            "body labelled {label:?} ({} bytes) is not whole",
            body.len()
        ));
    }
    Ok(label)
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn put_request(key: &str, label: &str) -> PutRequest {
    let mut request = PutRequest::new(key, body_for(label));
    request.content_type = Some("application/octet-stream".into());
    request.metadata = BTreeMap::from([("label".to_string(), label.to_string())]);
    request
}

async fn put_once(store: &FsStore, request: PutRequest) -> Outcome {
    match store.put(request).await {
        Ok(PutOutcome::Created { version_id, .. }) => Outcome::Created { version_id },
        Ok(PutOutcome::AlreadyExists) => Outcome::AlreadyExists,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

// ---------------------------------------------------------------- the load

/// `load.writers` tasks each putting `load.rounds` different bodies to one key.
async fn hammer_plain(store: &FsStore, tag: &str, load: Load) -> Vec<Attempt> {
    let tasks = (0..load.writers).map(|writer| {
        let store = store.clone();
        let tag = tag.to_string();
        tokio::spawn(async move {
            let mut attempts = Vec::new();
            for round in 0..load.rounds {
                let label = label_for(&tag, writer, round);
                let outcome = put_once(&store, put_request(SHARED_KEY, &label)).await;
                attempts.push(Attempt {
                    key: SHARED_KEY.into(),
                    label,
                    outcome,
                });
            }
            attempts
        })
    });
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .flat_map(|t| t.expect("writer task"))
        .collect()
}

/// For each round, `load.writers` tasks racing to create the same new key.
async fn race_create_only(store: &FsStore, tag: &str, load: Load) -> Vec<Attempt> {
    let tasks = (0..load.writers).map(|writer| {
        let store = store.clone();
        let tag = tag.to_string();
        tokio::spawn(async move {
            let mut attempts = Vec::new();
            for round in 0..load.rounds {
                let key = format!("ledger/block-{round:04}.json");
                let label = label_for(&tag, writer, round);
                let outcome = put_once(&store, put_request(&key, &label).create_only()).await;
                attempts.push(Attempt {
                    key,
                    label,
                    outcome,
                });
            }
            attempts
        })
    });
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .flat_map(|t| t.expect("creator task"))
        .collect()
}

/// Reads the shared key until told to stop; returns every inconsistency seen.
async fn read_until(store: FsStore, stop: Arc<AtomicBool>) -> (usize, Vec<String>) {
    let mut reads = 0;
    let mut problems = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        reads += 1;
        match store.get(SHARED_KEY, None, None).await {
            Err(e) => problems.push(format!("get failed: {e}")),
            Ok(body) => {
                let etag = body.etag.clone();
                match body.collect().await {
                    Err(e) => problems.push(format!("reading the body failed: {e}")),
                    Ok(bytes) => match whole_label(&bytes) {
                        Err(e) => problems.push(e),
                        Ok(_) if etag != md5_hex(&bytes) => {
                            problems.push("get's ETag is not the MD5 of its body".into())
                        }
                        Ok(_) => {}
                    },
                }
            }
        }
        match store.head(SHARED_KEY, None).await {
            Err(e) => problems.push(format!("head failed: {e}")),
            Ok(head) => match head.metadata.get("label") {
                None => problems.push(format!("head has no label metadata: {head:?}")),
                Some(label) if md5_hex(&body_for(label)) != head.etag => problems.push(format!(
                    "head mixes the metadata of {label} with ETag {}",
                    head.etag
                )),
                Some(_) => {}
            },
        }
        tokio::task::yield_now().await;
    }
    problems.truncate(10);
    (reads, problems)
}

// ---------------------------------------------------------------- checking the results

fn assert_no_failures(attempts: &[Attempt]) {
    let failures: Vec<_> = attempts
        .iter()
        .filter_map(|a| match &a.outcome {
            Outcome::Failed(e) => Some(format!("{} {}: {e}", a.key, a.label)),
            _ => None,
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} puts failed, e.g. {:#?}",
        failures.len(),
        attempts.len(),
        &failures[..failures.len().min(5)]
    );
}

/// The current object is whole, was written by one of the puts, and its facts are its own.
async fn assert_current_is_one_of(store: &FsStore, key: &str, labels: &BTreeSet<String>) -> String {
    let bytes = store.get_bytes(key, None).await.expect("final get");
    let label = whole_label(&bytes).unwrap_or_else(|e| panic!("{key}: {e}"));
    assert!(labels.contains(&label), "{key} holds {label}, never put");
    let head = store.head(key, None).await.expect("final head");
    assert_eq!(head.etag, md5_hex(&bytes), "{key}: ETag of another body");
    assert_eq!(head.size, bytes.len() as u64);
    assert_eq!(
        head.metadata.get("label"),
        Some(&label),
        "{key}: metadata of another put"
    );
    assert_eq!(
        head.content_type.as_deref(),
        Some("application/octet-stream")
    );
    label
}

async fn check_plain(store: &FsStore, attempts: &[Attempt], versioned: bool) {
    assert_no_failures(attempts);
    let labels: BTreeSet<String> = attempts.iter().map(|a| a.label.clone()).collect();
    assert_current_is_one_of(store, SHARED_KEY, &labels).await;
    if versioned {
        for attempt in attempts {
            let Outcome::Created {
                version_id: Some(version),
            } = &attempt.outcome
            else {
                panic!(
                    "{}: a versioned put reported {:?}",
                    attempt.label, attempt.outcome
                );
            };
            let bytes = store
                .get_bytes(SHARED_KEY, Some(version))
                .await
                .unwrap_or_else(|e| panic!("version {version} of {}: {e}", attempt.label));
            assert_eq!(whole_label(&bytes).as_deref(), Ok(attempt.label.as_str()));
        }
    }
}

async fn check_create_only(store: &FsStore, attempts: &[Attempt]) {
    assert_no_failures(attempts);
    let mut by_key: BTreeMap<&str, Vec<&Attempt>> = BTreeMap::new();
    for attempt in attempts {
        by_key.entry(&attempt.key).or_default().push(attempt);
    }
    for (key, attempts) in by_key {
        let winners: Vec<&str> = attempts
            .iter()
            .filter(|a| matches!(a.outcome, Outcome::Created { .. }))
            .map(|a| a.label.as_str())
            .collect();
        assert_eq!(winners.len(), 1, "{key}: winners {winners:?}");
        let only = BTreeSet::from([winners[0].to_string()]);
        assert_current_is_one_of(store, key, &only).await;
    }
}

// ---------------------------------------------------------------- in one process

async fn many_tasks_on_one_folder(spec: BucketSpec) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsStore::create(dir.path(), spec).expect("folder bucket");
    let first = label_for("seed", 0, 0);
    assert!(matches!(
        put_once(&store, put_request(SHARED_KEY, &first)).await,
        Outcome::Created { .. }
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(read_until(store.clone(), stop.clone()));
    let load = Load {
        writers: 8,
        rounds: 25,
    };
    let (plain, create_only) = tokio::join!(
        hammer_plain(&store, "solo", load),
        race_create_only(&store, "solo", load)
    );
    stop.store(true, Ordering::Relaxed);
    let (reads, problems) = reader.await.expect("reader task");
    check_plain(&store, &plain, spec.versioned).await;
    check_create_only(&store, &create_only).await;
    assert!(reads > 0);
    assert!(problems.is_empty(), "after {reads} reads: {problems:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_share_an_unversioned_folder() {
    many_tasks_on_one_folder(PLAIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_share_a_versioned_folder() {
    many_tasks_on_one_folder(VERSIONED).await;
}

// ---------------------------------------------------------------- across processes

const PROCESS_LOAD: Load = Load {
    writers: 4,
    rounds: 20,
};

/// Runs the load as one worker process; the report goes to a file the parent reads.
async fn run_as_worker(root: &Path, tag: &str, go: &Path) -> Report {
    let store = FsStore::open(root).expect("worker opens the folder");
    // Start together with the other processes, so that the writes overlap.
    while !go.exists() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (plain, create_only) = tokio::join!(
        hammer_plain(&store, tag, PROCESS_LOAD),
        race_create_only(&store, tag, PROCESS_LOAD)
    );
    Report { plain, create_only }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a worker process started by the cross-process tests"]
async fn worker_process() {
    let var = |name| std::env::var_os(name).map(PathBuf::from);
    let (Some(root), Some(tag), Some(go), Some(report)) = (
        var(WORKER_ROOT),
        std::env::var(WORKER_TAG).ok(),
        var(WORKER_GO),
        var(WORKER_REPORT),
    ) else {
        panic!("worker_process runs only when started by the cross-process tests");
    };
    let outcome = run_as_worker(&root, &tag, &go).await;
    std::fs::write(&report, serde_json::to_vec(&outcome).expect("report")).expect("write report");
}

async fn processes_share_one_folder(spec: BucketSpec) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("bucket");
    let store = FsStore::create(&root, spec).expect("folder bucket");
    let go = dir.path().join("go");
    let exe = std::env::current_exe().expect("test binary");
    let mut children = Vec::new();
    for tag in ["procA", "procB"] {
        let report = dir.path().join(format!("{tag}.json"));
        let child = tokio::process::Command::new(&exe)
            .args([
                "worker_process",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WORKER_ROOT, &root)
            .env(WORKER_TAG, tag)
            .env(WORKER_GO, &go)
            .env(WORKER_REPORT, &report)
            .kill_on_drop(true)
            .output();
        children.push((tag, report, child));
    }
    let mut waiting = Vec::new();
    for (tag, report, child) in children {
        waiting.push(async move { (tag, report, child.await) });
    }
    let parent = async {
        // Give the workers time to start up and wait at the starting line.
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::write(&go, b"go").expect("start the workers");
        run_as_worker(&root, "parent", &go).await
    };
    let (mine, outputs) = tokio::join!(parent, futures::future::join_all(waiting));
    let mut plain = mine.plain;
    let mut create_only = mine.create_only;
    for (tag, report, output) in outputs {
        let output = output.expect("run worker");
        assert!(
            output.status.success(),
            "worker {tag} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let bytes = std::fs::read(&report).expect("worker report");
        let theirs: Report = serde_json::from_slice(&bytes).expect("worker report parses");
        assert_eq!(
            theirs.plain.len(),
            PROCESS_LOAD.writers * PROCESS_LOAD.rounds
        );
        plain.extend(theirs.plain);
        create_only.extend(theirs.create_only);
    }
    check_plain(&store, &plain, spec.versioned).await;
    check_create_only(&store, &create_only).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_share_an_unversioned_folder() {
    processes_share_one_folder(PLAIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_share_a_versioned_folder() {
    processes_share_one_folder(VERSIONED).await;
}
