//! (b) large and small objects through a local SeaweedFS, against download-only, the CPU ceiling and the boto3 script.

use super::*;

pub(crate) struct Measured {
    pub(crate) bytes: u64,
    pub(crate) objects: usize,
    pub(crate) seconds: f64,
    /// CPU seconds used meanwhile by this process and its children (the boto3 script).
    pub(crate) client_cpu: f64,
    /// CPU seconds used meanwhile by the SeaweedFS server.
    pub(crate) server_cpu: f64,
}

impl Measured {
    /// A way not measured for this set (it does not apply).
    pub(crate) fn none() -> Measured {
        Measured {
            bytes: 0,
            objects: 0,
            seconds: f64::INFINITY,
            client_cpu: 0.0,
            server_cpu: 0.0,
        }
    }

    pub(crate) fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / self.seconds / 1e6
    }

    pub(crate) fn objects_per_s(&self) -> f64 {
        self.objects as f64 / self.seconds
    }

    pub(crate) fn line(&self, what: &str, baseline: Option<&Measured>) -> String {
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

pub(crate) async fn bench_store(args: &Args, server: &SeaweedFs) -> Result<()> {
    println!("\n== (b) through SeaweedFS on 127.0.0.1 ==");
    let bucket = unique_bucket("bench-b");
    server.create_bucket(&bucket, VERSIONED).await?;
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

pub(crate) struct ObjectSet {
    pub(crate) prefix: String,
    pub(crate) objects: Vec<(String, u64, String)>,
}

pub(crate) async fn upload_set(
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
pub(crate) async fn download_only(
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
pub(crate) async fn download_if_match(
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
pub(crate) enum Items {
    /// Keys only: HEAD pins each version, then GETs (as a caller that knows nothing).
    Keys,
    /// A ListObjectsV2 of the prefix (timed too): ETag and size known, so an object of one part
    /// is one GET with `If-Match`.
    Listing,
}

pub(crate) async fn hash_set(
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
pub(crate) fn listed_items(
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

pub(crate) async fn boto3(
    server: &SeaweedFs,
    bucket: &str,
    prefix: &str,
    workers: usize,
) -> Result<Measured> {
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
