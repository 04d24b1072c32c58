//! (d) a folder export through ingest's read path (list, HEAD, pinned reads, hash) against `sha256sum`.

use super::*;

/// The read path of `custody ingest` over a folder (list the export, then HEAD, pinned reads and
/// hashing per object, with the default cross-check) against one `sha256sum` of the same files,
/// and against the CPU ceiling (every core at `openssl speed`'s SHA-256 rate). The files are
/// just written, so both read them from the page cache.
pub(crate) async fn bench_folder(args: &Args) -> Result<()> {
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
pub(crate) async fn folder_pass(
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
