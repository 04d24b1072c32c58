//! (a) in-memory SHA-256 and MD5 against `openssl speed`, and the speed-up on all cores.

use super::*;

pub(crate) fn bench_cpu(args: &Args) -> Result<()> {
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

pub(crate) fn hash_objects_on(objects: &[Vec<u8>], threads: usize) -> f64 {
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
pub(crate) fn openssl_speed(algorithm: &str) -> Result<f64> {
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
