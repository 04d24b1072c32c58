//! (c) peak RSS of a child process hashing one large object (and one 8x smaller).

use super::*;

pub(crate) async fn bench_rss(args: &Args, server: &SeaweedFs) -> Result<()> {
    println!("\n== (c) peak RSS of a process hashing one object ==");
    let bucket = unique_bucket("bench-c");
    server.create_bucket(&bucket, VERSIONED).await?;
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
pub(crate) async fn upload_multipart(
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
pub(crate) async fn rss_child() -> Result<()> {
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

pub(crate) fn vm_hwm_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("no VmHWM in /proc/self/status"))
}
