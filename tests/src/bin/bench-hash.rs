//! `bench-hash`: throughput and memory benchmarks of the hashing engine (issue 4). Not a test:
//! it prints figures and their ratio to a baseline measured in the same run.
//!
//! ```text
//! cargo run --release -p custody-tests --bin bench-hash -- [a|b|c|all] [flags]
//!   a  in-memory SHA-256 on one core vs `openssl speed -evp sha256`; speed-up on all cores
//!   b  through a local SeaweedFS: large and small objects, vs download-only and vs boto3
//!   c  peak RSS of a child process hashing one large object (and one 8x smaller)
//!   d  a folder export (ingest's read path: list, HEAD, pinned reads, hash) vs `sha256sum`
//! flags (sizes for a quick run): --cpu-mib N --large-count N --large-mib N --small-count N
//!   --small-kib N --rss-mib N --runs N --part-mib N --part-concurrency N --budget-mib N
//!   --object-concurrency N --boto3-workers N --folder-count N --folder-mib N
//! ```
//!
//! Over 500 lines: one benchmark per section, each with its own baselines measured in the same
//! run, kept in one binary so that one command prints every ceiling and ratio.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use bytes::Bytes;
use custody_aws::s3::{S3Options, S3Store, StaticCredentials};
use custody_core::digest::{DigestEngine, HashItem, HashOptions, StreamingDigest};
use custody_core::store::{BucketSpec, ByteRange, ObjectStore};
use custody_tests::{Identity, SeaweedFs, unique_bucket, workspace_root};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const MIB: u64 = 1024 * 1024;
const KIB: u64 = 1024;

struct Args {
    sections: Vec<char>,
    cpu_mib: u64,
    large_count: usize,
    large_mib: u64,
    small_count: usize,
    small_kib: u64,
    rss_mib: u64,
    runs: usize,
    options: HashOptions,
    boto3_workers: usize,
    folder_count: usize,
    folder_mib: u64,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        sections: Vec::new(),
        cpu_mib: 1024,
        large_count: 8,
        large_mib: 256,
        small_count: 10_000,
        small_kib: 4,
        rss_mib: 2048,
        runs: 3,
        options: HashOptions::default(),
        boto3_workers: 32,
        folder_count: 8,
        folder_mib: 128,
    };
    let mut raw = std::env::args().skip(1);
    while let Some(arg) = raw.next() {
        let mut value = |name: &str| -> Result<u64> {
            raw.next()
                .ok_or_else(|| anyhow!("{name} needs a value"))?
                .parse()
                .with_context(|| format!("{name} needs a number"))
        };
        match arg.as_str() {
            "a" | "b" | "c" | "d" => args.sections.push(arg.chars().next().unwrap()),
            "all" => args.sections.extend(['a', 'b', 'c', 'd']),
            "--folder-count" => args.folder_count = value(&arg)? as usize,
            "--folder-mib" => args.folder_mib = value(&arg)?,
            "--cpu-mib" => args.cpu_mib = value(&arg)?,
            "--large-count" => args.large_count = value(&arg)? as usize,
            "--large-mib" => args.large_mib = value(&arg)?,
            "--small-count" => args.small_count = value(&arg)? as usize,
            "--small-kib" => args.small_kib = value(&arg)?,
            "--rss-mib" => args.rss_mib = value(&arg)?,
            "--runs" => args.runs = value(&arg)?.max(1) as usize,
            "--part-mib" => args.options.part_size = value(&arg)? * MIB,
            "--part-concurrency" => args.options.part_concurrency = value(&arg)? as usize,
            "--budget-mib" => args.options.memory_budget = value(&arg)? * MIB,
            "--object-concurrency" => args.options.object_concurrency = value(&arg)? as usize,
            "--boto3-workers" => args.boto3_workers = value(&arg)? as usize,
            "-h" | "--help" => {
                println!(
                    "{}",
                    include_str!("bench-hash.rs")
                        .lines()
                        .take(14)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if args.sections.is_empty() {
        args.sections.extend(['a', 'b', 'c', 'd']);
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<()> {
    if std::env::args().nth(1).as_deref() == Some("rss-child") {
        return rss_child().await;
    }
    let args = parse_args()?;
    println!("{}", machine_line());
    if args.sections.contains(&'a') {
        bench_cpu(&args)?;
    }
    if args.sections.contains(&'d') {
        bench_folder(&args).await?;
    }
    if args.sections.iter().any(|s| *s == 'b' || *s == 'c') {
        let server = SeaweedFs::start().await?;
        if args.sections.contains(&'b') {
            bench_store(&args, &server).await?;
        }
        if args.sections.contains(&'c') {
            bench_rss(&args, &server).await?;
        }
    }
    println!("{}", machine_line());
    Ok(())
}

fn machine_line() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "machine: {cores} cores, SHA-NI {}, load average {}",
        if sha_ni() { "present" } else { "absent" },
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn sha_ni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("sha")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

// ---------------------------------------------------------------------------------------------
// (a) CPU

fn bench_cpu(args: &Args) -> Result<()> {
    println!("\n== (a) in-memory SHA-256 ==");
    let buffer = pseudo_random(64 * MIB as usize, 1);
    let rounds = (args.cpu_mib / 64).max(1) as usize;

    let ours = best_of(args.runs, || {
        let started = Instant::now();
        for _ in 0..rounds {
            let mut digest = StreamingDigest::new(false);
            digest.update(&buffer);
            std::hint::black_box(digest.finish());
        }
        rate(rounds as u64 * 64 * MIB, started.elapsed())
    });
    let blocks = best_of(args.runs, || {
        // What `openssl speed` does: a whole digest per 8 KiB block.
        let started = Instant::now();
        for _ in 0..rounds {
            for block in buffer.chunks(8192) {
                let mut digest = StreamingDigest::new(false);
                digest.update(block);
                std::hint::black_box(digest.finish());
            }
        }
        rate(rounds as u64 * 64 * MIB, started.elapsed())
    });
    let openssl = openssl_speed("sha256")?;
    println!(
        "sha2 streaming, 1 core:        {:>8.0} MB/s  = {:.3} x openssl",
        ours / 1e6,
        ours / openssl
    );
    println!(
        "sha2 per 8 KiB block, 1 core:  {:>8.0} MB/s  = {:.3} x openssl",
        blocks / 1e6,
        blocks / openssl
    );
    println!(
        "openssl speed -evp sha256 (8 KiB blocks): {:>8.0} MB/s",
        openssl / 1e6
    );

    let md5 = best_of(args.runs, || {
        let started = Instant::now();
        let mut digest = StreamingDigest::new(true);
        digest.update(&buffer);
        std::hint::black_box(digest.finish());
        rate(64 * MIB, started.elapsed())
    });
    let mut both = StreamingDigest::new(true);
    let chunks = [Bytes::from(buffer.clone())];
    let both_rate = best_of(args.runs, || {
        let started = Instant::now();
        both.update_chunks(&chunks);
        rate(64 * MIB, started.elapsed())
    });
    let md5_alone = best_of(args.runs, || {
        let started = Instant::now();
        std::hint::black_box(custody_core::digest::Md5::digest(&buffer));
        rate(64 * MIB, started.elapsed())
    });
    let md5_crate = best_of(args.runs, || {
        use md5::Digest as _;
        let started = Instant::now();
        std::hint::black_box(md5::Md5::digest(&buffer));
        rate(64 * MIB, started.elapsed())
    });
    let openssl_md5 = openssl_speed("md5")?;
    println!(
        "MD5 alone (AWS-LC, custody's), 1 core: {:>8.0} MB/s  = {:.3} x openssl md5 ({:.0} MB/s)",
        md5_alone / 1e6,
        md5_alone / openssl_md5,
        openssl_md5 / 1e6
    );
    println!(
        "MD5 alone (md-5 crate), 1 core:        {:>8.0} MB/s  = {:.3} x openssl md5",
        md5_crate / 1e6,
        md5_crate / openssl_md5,
    );
    // OpenSSL computing both on one core: each byte costs its SHA-256 time plus its MD5 time.
    let openssl_both = 1.0 / (1.0 / openssl + 1.0 / openssl_md5);
    println!(
        "SHA-256+MD5 one thread: {:.0} MB/s; SHA-256 || MD5 on two threads: {:.0} MB/s \
         = {:.2} x openssl sha256 then md5 on one core ({:.0} MB/s)",
        md5 / 1e6,
        both_rate / 1e6,
        both_rate / openssl_both,
        openssl_both / 1e6,
    );

    // Speed-up across objects: the same objects hashed on one thread, then on every core.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let objects: Vec<Vec<u8>> = (0..(4 * cores).max(8))
        .map(|i| pseudo_random(32 * MIB as usize, i as u64 + 10))
        .collect();
    let one = best_of(args.runs, || hash_objects_on(&objects, 1));
    let all = best_of(args.runs, || hash_objects_on(&objects, cores));
    println!(
        "{} objects of 32 MiB: 1 thread {:.0} MB/s, {cores} threads {:.0} MB/s = {:.2}x speed-up",
        objects.len(),
        one / 1e6,
        all / 1e6,
        all / one
    );
    Ok(())
}

fn hash_objects_on(objects: &[Vec<u8>], threads: usize) -> f64 {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while let Some(object) = objects.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let mut digest = StreamingDigest::new(false);
                    digest.update(object);
                    std::hint::black_box(digest.finish());
                }
            });
        }
    });
    let bytes: usize = objects.iter().map(Vec::len).sum();
    rate(bytes as u64, started.elapsed())
}

/// Bytes per second of `openssl speed -evp <algorithm>` on 8 KiB blocks, one process.
fn openssl_speed(algorithm: &str) -> Result<f64> {
    let output = Command::new("openssl")
        .args([
            "speed", "-seconds", "3", "-bytes", "8192", "-mr", "-evp", algorithm,
        ])
        .output()
        .context("running openssl speed")?;
    let text = String::from_utf8_lossy(&output.stdout);
    // Machine-readable result line: `+F:<n>:<algorithm>:<bytes per second>`.
    text.lines()
        .filter_map(|line| line.strip_prefix("+F:"))
        .filter_map(|line| line.rsplit(':').next())
        .find_map(|value| value.trim().parse::<f64>().ok())
        .ok_or_else(|| anyhow!("no +F: line in openssl speed output:\n{text}"))
}

// ---------------------------------------------------------------------------------------------
// (d) a folder export

/// The read path of `custody ingest` over a folder (list the export, then HEAD, pinned reads and
/// hashing per object, with the default cross-check) against one `sha256sum` of the same files,
/// and against the CPU ceiling (every core at `openssl speed`'s SHA-256 rate). The files are
/// just written, so both read them from the page cache.
async fn bench_folder(args: &Args) -> Result<()> {
    println!(
        "\n== (d) folder export: {} x {} MiB ==",
        args.folder_count, args.folder_mib
    );
    let dir = tempfile::tempdir()?;
    let prefix = "org/year=2026/month=12/day=01/hour=00/conversation_id=bench/";
    std::fs::create_dir_all(dir.path().join(prefix))?;
    let mut files = Vec::new();
    for i in 0..args.folder_count {
        let path = dir.path().join(format!("{prefix}rec-{i}.opus"));
        std::fs::write(
            &path,
            pseudo_random((args.folder_mib * MIB) as usize, 100 + i as u64),
        )?;
        files.push(path);
    }
    let bytes = args.folder_count as u64 * args.folder_mib * MIB;

    let sha256sum = best_of(args.runs, || {
        let started = Instant::now();
        let status = Command::new("sha256sum")
            .args(&files)
            .stdout(std::process::Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            return 0.0;
        }
        rate(bytes, started.elapsed())
    });
    ensure!(sha256sum > 0.0, "sha256sum failed");
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let ceiling = openssl_speed("sha256")? * cores as f64;

    // First contact: a fresh store value must read each plain file once for its ETag and
    // CRC64NVME (during the listing), then once more to hash it.
    let mut first = 0.0f64;
    let mut again = 0.0f64;
    let mut content_reads = 0;
    for _ in 0..args.runs {
        let store = custody_core::store::fs::FsStore::open(dir.path())?;
        let shared: Arc<dyn ObjectStore> = Arc::new(store.clone());
        let engine = DigestEngine::new(shared.clone(), HashOptions::default());
        let started = Instant::now();
        folder_pass(&shared, &engine, prefix, args.folder_count).await?;
        first = first.max(rate(bytes, started.elapsed()));
        // The same store value again: the listing and HEADs read nothing.
        let started = Instant::now();
        folder_pass(&shared, &engine, prefix, args.folder_count).await?;
        again = again.max(rate(bytes, started.elapsed()));
        content_reads = store.content_reads();
    }
    println!(
        "sha256sum (one process):         {:>8.0} MB/s",
        sha256sum / 1e6
    );
    println!(
        "CPU ceiling ({cores} cores x openssl sha256): {:>8.0} MB/s",
        ceiling / 1e6
    );
    println!(
        "ingest read path, first contact: {:>8.0} MB/s  = {:.2} x sha256sum, {:.2} x ceiling \
         (ETag+CRC64NVME pass, then SHA-256+CRC64NVME)",
        first / 1e6,
        first / sha256sum,
        first / ceiling
    );
    println!(
        "ingest read path, facts known:   {:>8.0} MB/s  = {:.2} x sha256sum, {:.2} x ceiling \
         ({content_reads} content reads for {} files over two passes)",
        again / 1e6,
        again / sha256sum,
        again / ceiling,
        args.folder_count
    );
    Ok(())
}

/// One ingest-like pass over a folder: list the export, hash every listed object.
async fn folder_pass(
    store: &Arc<dyn ObjectStore>,
    engine: &DigestEngine,
    prefix: &str,
    expected: usize,
) -> Result<()> {
    let listed = store.list(prefix).await?;
    ensure!(listed.len() == expected, "listed {} files", listed.len());
    let results = engine
        .hash_many(listed.iter().map(|o| HashItem::from(o.key.as_str())))
        .await;
    for result in results {
        let digest = result?;
        ensure!(!digest.has_mismatch(), "{:?}", digest.findings());
        ensure!(
            digest.md5_hex.is_none(),
            "{}: MD5 computed where a checksum is kept",
            digest.key
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// (b) through the local S3 server

struct Measured {
    bytes: u64,
    objects: usize,
    seconds: f64,
    /// CPU seconds used meanwhile by this process and its children (the boto3 script).
    client_cpu: f64,
    /// CPU seconds used meanwhile by the SeaweedFS server.
    server_cpu: f64,
}

impl Measured {
    /// A way not measured for this set (it does not apply).
    fn none() -> Measured {
        Measured {
            bytes: 0,
            objects: 0,
            seconds: f64::INFINITY,
            client_cpu: 0.0,
            server_cpu: 0.0,
        }
    }

    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / self.seconds / 1e6
    }

    fn objects_per_s(&self) -> f64 {
        self.objects as f64 / self.seconds
    }

    fn line(&self, what: &str, baseline: Option<&Measured>) -> String {
        let ratio = baseline.map_or(String::new(), |b| {
            format!(
                "  = {:.2} x {}",
                self.mb_per_s() / b.mb_per_s(),
                "download-only"
            )
        });
        // CPU per GB for large objects, per object for small ones.
        let (per, unit) = if self.bytes / (self.objects.max(1) as u64) >= MIB {
            (self.bytes as f64 / 1e9, "s/GB")
        } else {
            (self.objects as f64 / 1e3, "ms/object")
        };
        format!(
            "{what:<34} {:>8.1} MB/s {:>7.0} objects/s ({:.2} s; cores busy: client {:.2} + server {:.2}; \
             CPU {unit}: client {:.2} + server {:.2}){ratio}",
            self.mb_per_s(),
            self.objects_per_s(),
            self.seconds,
            self.client_cpu / self.seconds,
            self.server_cpu / self.seconds,
            self.client_cpu / per,
            self.server_cpu / per,
        )
    }
}

async fn bench_store(args: &Args, server: &SeaweedFs) -> Result<()> {
    println!("\n== (b) through SeaweedFS on 127.0.0.1 ==");
    let bucket = unique_bucket("bench-b");
    server
        .create_bucket(
            &bucket,
            BucketSpec {
                versioned: true,
                object_lock: false,
            },
        )
        .await?;
    let client = server.client().await;
    let store: Arc<dyn ObjectStore> = Arc::new(server.store(&bucket).await);
    let cpu = Cpu::server(&server.endpoint());
    ensure!(!cpu.pids.is_empty(), "the SeaweedFS process was not found");

    let large = upload_set(
        &client,
        &bucket,
        "large/",
        args.large_count,
        args.large_mib * MIB,
        2,
    )
    .await?;
    let small = upload_set(
        &client,
        &bucket,
        "small/",
        args.small_count,
        args.small_kib * KIB,
        64,
    )
    .await?;
    let options = &args.options;
    println!(
        "engine options: part {} MiB, {} parts in flight per object, {} objects at once, budget {} MiB",
        options.part_size / MIB,
        options.part_concurrency,
        options.object_concurrency,
        options.memory_budget / MIB
    );

    // The cost of hashing itself, for the CPU ceiling of large objects.
    let sha256_rate = openssl_speed("sha256")?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as f64;
    for (label, set) in [
        (
            format!("{} x {} MiB", args.large_count, args.large_mib),
            &large,
        ),
        (
            format!("{} x {} KiB", args.small_count, args.small_kib),
            &small,
        ),
    ] {
        if set.objects.is_empty() {
            continue;
        }
        println!("-- {label} --");
        let prefix = set.prefix.clone();
        // Round after round, each way once per round, the best of each kept: the server's cost
        // per request drifts during a run (measured: later phases cost it more), and measuring
        // every way in every round keeps that drift out of the ratios.
        // The ETags a listing gives, for download-only with the engine's own requests.
        let etags: Vec<String> = store
            .list(&set.prefix)
            .await?
            .into_iter()
            .map(|o| o.etag)
            .collect();
        let small = set.objects.iter().all(|o| o.1 <= options.part_size);
        let mut best: [Option<Measured>; 6] = Default::default();
        for _ in 0..args.runs.max(1) {
            for (slot, way) in best.iter_mut().zip(0..) {
                let measured = measure(&cpu, async {
                    match way {
                        0 => download_only(&store, set, options).await,
                        1 => hash_set(&store, set, options, true, Items::Keys).await,
                        2 => hash_set(&store, set, options, true, Items::Listing).await,
                        3 => hash_set(&store, set, options, false, Items::Keys).await,
                        4 => boto3(server, &bucket, &prefix, args.boto3_workers).await,
                        _ if small => download_if_match(&store, set, &etags, options).await,
                        _ => Ok(Measured::none()),
                    }
                })
                .await?;
                if slot.as_ref().is_none_or(|b| measured.seconds < b.seconds) {
                    *slot = Some(measured);
                }
            }
        }
        let [download, with_md5, listed, sha_only, boto3, if_match] =
            best.map(|m| m.expect("every way was measured"));
        println!("{}", download.line("download only (same client)", None));
        println!(
            "{}",
            with_md5.line("hash, default cross-check", Some(&download))
        );
        println!(
            "{}",
            listed.line("listing + hash (If-Match GETs)", Some(&download))
        );
        println!(
            "{}",
            sha_only.line("hash, MD5 ETag check off", Some(&download))
        );
        println!("{}", boto3.line("boto3 script (SHA-256)", Some(&download)));
        if small {
            // The same requests as the engine's from a listing, bytes drained: what the server
            // charges for `If-Match` and checksum mode is in this baseline, not in the engine.
            println!(
                "{}",
                if_match.line("download only, If-Match GETs", Some(&download))
            );
            println!(
                "from a listing vs download-only with the same If-Match GETs: {:.2}x",
                listed.mb_per_s() / if_match.mb_per_s()
            );
        }
        if download.bytes / (download.objects.max(1) as u64) >= MIB {
            // Client and server share these cores: every GB costs the client's download CPU,
            // the server's CPU and one SHA-256 pass (openssl's rate), each measured in this run.
            let gb = download.bytes as f64 / 1e9;
            let (client, server) = (download.client_cpu / gb, download.server_cpu / gb);
            let hash = 1e9 / sha256_rate;
            let ceiling = cores / (client + server + hash) * 1e3;
            println!(
                "CPU ceiling = {cores} cores / (download client {client:.2} + server {server:.2} \
                 + SHA-256 {hash:.2} s/GB) = {ceiling:.0} MB/s; default cross-check {:.2} x, \
                 from a listing {:.2} x, MD5 off {:.2} x, boto3 {:.2} x the ceiling",
                with_md5.mb_per_s() / ceiling,
                listed.mb_per_s() / ceiling,
                sha_only.mb_per_s() / ceiling,
                boto3.mb_per_s() / ceiling,
            );
        }
        println!(
            "engine vs boto3: {:.2}x (default cross-check: the stored checksum, else MD5), \
             {:.2}x (from a listing, listing time included), {:.2}x (MD5 off)",
            with_md5.mb_per_s() / boto3.mb_per_s(),
            listed.mb_per_s() / boto3.mb_per_s(),
            sha_only.mb_per_s() / boto3.mb_per_s()
        );
    }
    Ok(())
}

struct ObjectSet {
    prefix: String,
    objects: Vec<(String, u64, String)>,
}

async fn upload_set(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    count: usize,
    size: u64,
    concurrency: usize,
) -> Result<ObjectSet> {
    let started = Instant::now();
    let limit = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    for i in 0..count {
        let permit = limit.clone().acquire_owned().await?;
        let client = client.clone();
        let bucket = bucket.to_string();
        let key = format!("{prefix}{i:06}");
        tasks.spawn(async move {
            let body = Bytes::from(pseudo_random(size as usize, i as u64 * 7919 + size));
            let sha = custody_core::digest::sha256_hex(&body);
            client
                .put_object()
                .bucket(&bucket)
                .key(&key)
                .body(body.into())
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "PutObject {key}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    )
                })?;
            drop(permit);
            Ok::<_, anyhow::Error>((key, size, sha))
        });
    }
    let mut objects = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        objects.push(joined??);
    }
    objects.sort();
    println!(
        "uploaded {count} x {} KiB under {prefix} in {:.1} s",
        size / KIB,
        started.elapsed().as_secs_f64()
    );
    Ok(ObjectSet {
        prefix: prefix.to_string(),
        objects,
    })
}

/// The I/O ceiling: the same client and the same GETs (ranged parts of the same size, as many in
/// flight as the engine allows itself), bytes drained and dropped.
async fn download_only(
    store: &Arc<dyn ObjectStore>,
    set: &ObjectSet,
    options: &HashOptions,
) -> Result<Measured> {
    let part = options.part_size.min(options.memory_budget);
    let largest = set.objects.iter().map(|o| o.1).max().unwrap_or(0);
    let in_flight = if largest > part {
        ((options.memory_budget / part) as usize).max(1)
    } else {
        options.object_concurrency
    };
    let limit = Arc::new(Semaphore::new(in_flight));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (key, size, _) in &set.objects {
        let ranges: Vec<Option<ByteRange>> = if *size <= part {
            vec![None]
        } else {
            (0..size.div_ceil(part))
                .map(|i| {
                    Some(ByteRange {
                        first: i * part,
                        last: ((i + 1) * part).min(*size) - 1,
                    })
                })
                .collect()
        };
        for range in ranges {
            let permit = limit.clone().acquire_owned().await?;
            let store = store.clone();
            let key = key.clone();
            tasks.spawn(async move {
                let mut body = store.get(&key, None, range).await?;
                let mut bytes = 0u64;
                while let Some(chunk) = body.chunks.next().await {
                    bytes += chunk?.len() as u64;
                }
                drop(permit);
                Ok::<_, anyhow::Error>(bytes)
            });
        }
        while let Some(joined) = tasks.try_join_next() {
            joined??;
        }
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    Ok(Measured {
        bytes: set.objects.iter().map(|o| o.1).sum(),
        objects: set.objects.len(),
        seconds: started.elapsed().as_secs_f64(),
        client_cpu: 0.0,
        server_cpu: 0.0,
    })
}

/// Download-only with the engine's requests for a listed small object: one GET each, pinned by
/// `If-Match` with checksum mode (`get_with_head`), bytes drained and dropped.
async fn download_if_match(
    store: &Arc<dyn ObjectStore>,
    set: &ObjectSet,
    etags: &[String],
    options: &HashOptions,
) -> Result<Measured> {
    ensure!(
        etags.len() == set.objects.len(),
        "listed {} objects",
        etags.len()
    );
    let started = Instant::now();
    let results: Vec<Result<u64>> = futures::stream::iter(set.objects.iter().zip(etags))
        .map(|((key, _, _), etag)| async move {
            let mut body = store.get_with_head(key, None, Some(etag)).await?.body;
            let mut bytes = 0u64;
            while let Some(chunk) = body.chunks.next().await {
                bytes += chunk?.len() as u64;
            }
            Ok(bytes)
        })
        .buffer_unordered(options.object_concurrency)
        .collect()
        .await;
    for result in results {
        result?;
    }
    Ok(Measured {
        bytes: set.objects.iter().map(|o| o.1).sum(),
        objects: set.objects.len(),
        seconds: started.elapsed().as_secs_f64(),
        client_cpu: 0.0,
        server_cpu: 0.0,
    })
}

/// What the engine is given to hash.
#[derive(Clone, Copy)]
enum Items {
    /// Keys only: HEAD pins each version, then GETs (as a caller that knows nothing).
    Keys,
    /// A ListObjectsV2 of the prefix (timed too): ETag and size known, so an object of one part
    /// is one GET with `If-Match`.
    Listing,
}

async fn hash_set(
    store: &Arc<dyn ObjectStore>,
    set: &ObjectSet,
    options: &HashOptions,
    etag_check: bool,
    items: Items,
) -> Result<Measured> {
    let engine = DigestEngine::new(
        store.clone(),
        HashOptions {
            verify_etag_md5: etag_check,
            ..options.clone()
        },
    );
    let started = Instant::now();
    let results = match items {
        Items::Keys => {
            engine
                .hash_many(
                    set.objects
                        .iter()
                        .map(|(key, _, _)| HashItem::from(key.as_str())),
                )
                .await
        }
        Items::Listing => {
            // Pages of the listing feed the engine as they arrive: hashing starts with the
            // first page, as `custody verify --rehash` and `audit` read a listing.
            let pages = listed_items(store.clone(), set.prefix.clone());
            let mut outcomes: Vec<_> = engine.hash_stream(pages).collect().await;
            outcomes.sort_by_key(|o| o.index);
            outcomes.into_iter().map(|o| o.result).collect()
        }
    };
    ensure!(
        results.len() == set.objects.len(),
        "hashed {} objects",
        results.len()
    );
    let seconds = started.elapsed().as_secs_f64();
    for ((key, size, sha), result) in set.objects.iter().zip(results) {
        let digest = result.with_context(|| format!("hashing {key}"))?;
        ensure!(
            digest.sha256_hex == *sha && digest.size == *size,
            "{key}: wrong digest"
        );
        ensure!(!digest.has_mismatch(), "{key}: {:?}", digest.findings());
    }
    Ok(Measured {
        bytes: set.objects.iter().map(|o| o.1).sum(),
        objects: set.objects.len(),
        seconds,
        client_cpu: 0.0,
        server_cpu: 0.0,
    })
}

/// The items of a ListObjectsV2 of `prefix`, page by page (1,000 keys a page), ETag and size
/// known.
fn listed_items(
    store: Arc<dyn ObjectStore>,
    prefix: String,
) -> impl futures::Stream<Item = HashItem> + Send + 'static {
    futures::stream::unfold(Some(None::<String>), move |next| {
        let (store, prefix) = (store.clone(), prefix.clone());
        async move {
            let after = next?;
            let page = store
                .list_page(&prefix, after.as_deref(), 1000)
                .await
                .expect("listing the benchmark's objects");
            let items: Vec<HashItem> = page
                .objects
                .into_iter()
                .map(|o| HashItem::from(o.key).listed(o.etag, o.size))
                .collect();
            Some((futures::stream::iter(items), page.next.map(Some)))
        }
    })
    .flatten()
}

async fn boto3(server: &SeaweedFs, bucket: &str, prefix: &str, workers: usize) -> Result<Measured> {
    let root = workspace_root();
    let output = tokio::process::Command::new(root.join(".tools/venv/bin/python"))
        .arg(root.join("tests/bench/boto3_hash.py"))
        .args([
            "--endpoint",
            &server.endpoint(),
            "--bucket",
            bucket,
            "--prefix",
            prefix,
        ])
        .args(["--workers", &workers.to_string()])
        .env("AWS_ACCESS_KEY_ID", Identity::Admin.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", Identity::Admin.secret_access_key())
        .output()
        .await
        .context("running tests/bench/boto3_hash.py (run scripts/install-tools.sh)")?;
    ensure!(
        output.status.success(),
        "boto3_hash.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    Ok(Measured {
        bytes: report["bytes"].as_u64().context("bytes")?,
        objects: report["objects"].as_u64().context("objects")? as usize,
        seconds: report["seconds"].as_f64().context("seconds")?,
        client_cpu: 0.0,
        server_cpu: 0.0,
    })
}

// ---------------------------------------------------------------------------------------------
// (c) peak memory

async fn bench_rss(args: &Args, server: &SeaweedFs) -> Result<()> {
    println!("\n== (c) peak RSS of a process hashing one object ==");
    let bucket = unique_bucket("bench-c");
    server
        .create_bucket(
            &bucket,
            BucketSpec {
                versioned: true,
                object_lock: false,
            },
        )
        .await?;
    let client = server.client().await;
    for size in [args.rss_mib * MIB, (args.rss_mib / 8).max(1) * MIB] {
        let key = format!("rss/{}MiB", size / MIB);
        let sha = upload_multipart(&client, &bucket, &key, size).await?;
        for run in 1..=args.runs {
            let output = Command::new(std::env::current_exe()?)
                .args(["rss-child", &server.endpoint(), &bucket, &key])
                .env("AWS_ACCESS_KEY_ID", Identity::Admin.access_key_id())
                .env("AWS_SECRET_ACCESS_KEY", Identity::Admin.secret_access_key())
                .env("BENCH_PART_SIZE", args.options.part_size.to_string())
                .env(
                    "BENCH_PART_CONCURRENCY",
                    args.options.part_concurrency.to_string(),
                )
                .env("BENCH_BUDGET", args.options.memory_budget.to_string())
                .output()?;
            ensure!(
                output.status.success(),
                "rss child failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let report: serde_json::Value = serde_json::from_slice(&output.stdout)?;
            ensure!(
                report["sha256"] == sha.as_str(),
                "{key}: the child computed a wrong digest"
            );
            let peak = report["peak_kib"].as_u64().unwrap_or(0) as f64 / 1024.0;
            let before = report["before_kib"].as_u64().unwrap_or(0) as f64 / 1024.0;
            println!(
                "{:>6} MiB object, run {run}: peak RSS {peak:.1} MiB (client ready, before hashing: \
             {before:.1} MiB), {:.0} MB/s, cross-check {}; target < 64 MiB: {}",
                size / MIB,
                report["mb_per_s"].as_f64().unwrap_or(0.0),
                report["cross_check"].as_str().unwrap_or("?"),
                if peak < 64.0 { "met" } else { "MISSED" }
            );
        }
    }
    Ok(())
}

/// Uploads `size` pseudo-random bytes in 64 MiB parts (never holding more than one part) and
/// returns their SHA-256.
async fn upload_multipart(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    size: u64,
) -> Result<String> {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let upload = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await?;
    let upload_id = upload.upload_id().context("no upload id")?.to_string();
    let part_size = 64 * MIB;
    let mut digest = StreamingDigest::new(false);
    let mut parts = Vec::new();
    for (n, first) in (0..size).step_by(part_size as usize).enumerate() {
        let len = part_size.min(size - first) as usize;
        let body = pseudo_random(len, first + size);
        digest.update(&body);
        let done = client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .part_number(n as i32 + 1)
            .body(Bytes::from(body).into())
            .send()
            .await?;
        parts.push(
            CompletedPart::builder()
                .part_number(n as i32 + 1)
                .set_e_tag(done.e_tag().map(String::from))
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await?;
    Ok(digest.finish().sha256_hex())
}

/// The child of (c): hashes one object with the engine and reports its own peak RSS (VmHWM).
async fn rss_child() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let [endpoint, bucket, key] = args.as_slice() else {
        bail!("usage: bench-hash rss-child ENDPOINT BUCKET KEY");
    };
    let env_number = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let defaults = HashOptions::default();
    let options = HashOptions {
        part_size: env_number("BENCH_PART_SIZE").unwrap_or(defaults.part_size),
        part_concurrency: env_number("BENCH_PART_CONCURRENCY")
            .map_or(defaults.part_concurrency, |n| n as usize),
        memory_budget: env_number("BENCH_BUDGET").unwrap_or(defaults.memory_budget),
        ..defaults
    };
    let store: Arc<dyn ObjectStore> = Arc::new(
        S3Store::connect(&S3Options {
            region: Some("us-east-1".into()),
            endpoint: Some(endpoint.clone()),
            force_path_style: true,
            credentials: Some(StaticCredentials {
                access_key_id: std::env::var("AWS_ACCESS_KEY_ID")?,
                secret_access_key: std::env::var("AWS_SECRET_ACCESS_KEY")?,
                session_token: None,
            }),
            ..S3Options::new(bucket.clone())
        })
        .await,
    );
    store.head(key, None).await?;
    let before = vm_hwm_kib()?;
    let started = Instant::now();
    let digest = DigestEngine::new(store, options)
        .hash_version(key, None)
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let peak = vm_hwm_kib()?;
    println!(
        "{}",
        serde_json::json!({
            "sha256": digest.sha256_hex,
            "size": digest.size,
            "before_kib": before,
            "peak_kib": peak,
            "mb_per_s": digest.size as f64 / seconds / 1e6,
            "cross_check": digest.cross_check.to_string(),
        })
    );
    Ok(())
}

fn vm_hwm_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("no VmHWM in /proc/self/status"))
}

// ---------------------------------------------------------------------------------------------

/// Incompressible, reproducible bytes (xorshift64*), fast enough to generate gigabytes.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// CPU time of processes, from `/proc/<pid>/stat`.
struct Cpu {
    pids: Vec<u32>,
}

impl Cpu {
    /// The SeaweedFS processes serving `endpoint` (found by their `-s3.port=` argument).
    fn server(endpoint: &str) -> Cpu {
        let port = endpoint.rsplit(':').next().unwrap_or_default();
        let flag = format!("-s3.port={port}");
        let pids = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|cmd| cmd.split(|b| *b == 0).any(|arg| arg == flag.as_bytes()))
                    .unwrap_or(false)
            })
            .collect();
        Cpu { pids }
    }

    fn seconds(&self) -> f64 {
        self.pids
            .iter()
            .map(|pid| cpu_seconds(&pid.to_string(), false))
            .sum()
    }

    /// This process plus its waited-for children.
    fn this_process() -> f64 {
        cpu_seconds("self", true)
    }
}

fn cpu_seconds(pid: &str, with_children: bool) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // utime, stime, cutime, cstime are fields 14..=17, i.e. indexes 11..=14 here.
    let ticks = fields.get(11).unwrap_or(&0.0)
        + fields.get(12).unwrap_or(&0.0)
        + if with_children {
            fields.get(13).unwrap_or(&0.0) + fields.get(14).unwrap_or(&0.0)
        } else {
            0.0
        };
    ticks / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn rate(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64()
}

fn best_of(runs: usize, mut measure: impl FnMut() -> f64) -> f64 {
    (0..runs).map(|_| measure()).fold(0.0, f64::max)
}

/// Runs one measurement, with the CPU this process and the server used meanwhile.
async fn measure(
    server: &Cpu,
    run: impl std::future::Future<Output = Result<Measured>>,
) -> Result<Measured> {
    let (client_before, server_before) = (Cpu::this_process(), server.seconds());
    let mut m = run.await?;
    m.client_cpu = Cpu::this_process() - client_before;
    m.server_cpu = server.seconds() - server_before;
    Ok(m)
}
