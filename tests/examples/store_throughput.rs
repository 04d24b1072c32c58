//! Rough throughput of a streaming, hashing read through each adapter (not a test).
//!
//! `cargo build --workspace --examples --release && target/release/examples/store_throughput [MiB]`

use std::time::Instant;

use custody_core::store::fs::FsStore;
use custody_core::store::{BucketSpec, ObjectStore, PutRequest, StoreWrite};
use custody_tests::{SeaweedFs, unique_bucket};
use futures::StreamExt;
use sha2::{Digest, Sha256};

async fn timed_read(label: &str, store: &dyn ObjectStore, key: &str, size: usize) {
    for round in 0..3 {
        let started = Instant::now();
        let mut body = store.get(key, None, None).await.expect("get");
        let mut hasher = Sha256::new();
        let mut chunks = 0usize;
        while let Some(chunk) = body.chunks.next().await {
            hasher.update(chunk.expect("chunk"));
            chunks += 1;
        }
        let elapsed = started.elapsed();
        println!(
            "{label} round {round}: {size} bytes in {elapsed:?} = {:.0} MiB/s ({chunks} chunks, sha256 {})",
            size as f64 / (1 << 20) as f64 / elapsed.as_secs_f64(),
            &hex::encode(hasher.finalize())[..12]
        );
    }
}

#[tokio::main]
async fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let size = mib << 20;
    let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();

    let dir = tempfile::tempdir().expect("temp dir");
    let folder = FsStore::create(dir.path(), BucketSpec::default()).expect("folder");
    folder
        .put(PutRequest::new("big.bin", body.clone()))
        .await
        .expect("put");
    timed_read("filesystem", &folder, "big.bin", size).await;

    let server = SeaweedFs::start().await.expect("SeaweedFS");
    let bucket = unique_bucket("throughput");
    server
        .create_bucket(&bucket, BucketSpec::default())
        .await
        .expect("bucket");
    let s3 = server.store(&bucket).await;
    let started = Instant::now();
    s3.put(PutRequest::new("big.bin", body)).await.expect("put");
    println!("s3 put: {size} bytes in {:?}", started.elapsed());
    timed_read("s3 (SeaweedFS on loopback)", &s3, "big.bin", size).await;
}
