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
//! One benchmark per module, each with its own baselines measured in the same run, in one binary
//! so that one command prints every ceiling and ratio: [`cpu`] (a), [`store`] (b), [`rss`] (c),
//! [`folder`] (d), and [`measure`], what they all measure with.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use bytes::Bytes;
use custody_aws::s3::{S3Options, S3Store, StaticCredentials};
use custody_core::digest::{DigestEngine, HashItem, HashOptions, StreamingDigest};
use custody_core::store::{ByteRange, ObjectStore};
use custody_tests::{Identity, SeaweedFs, VERSIONED, unique_bucket, workspace_root};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

mod cpu;
mod folder;
mod measure;
mod rss;
mod store;

use cpu::*;
use folder::*;
use measure::*;
use rss::*;
use store::*;

pub(crate) const MIB: u64 = 1024 * 1024;
pub(crate) const KIB: u64 = 1024;

pub(crate) struct Args {
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
                    include_str!("main.rs")
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
