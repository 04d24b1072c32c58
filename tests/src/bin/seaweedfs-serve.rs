//! Starts the test harness's SeaweedFS server for a local run (`scripts/lambda-local.sh`), makes
//! buckets, uploads a folder, prints `endpoint=<url>` and the admin identity's access key, then
//! serves until standard input closes or the process is stopped (the harness's watchdog stops
//! the server and removes its data when this process ends, however it ends).
//!
//! `seaweedfs-serve [--bucket NAME]... [--locked-bucket NAME]... [--upload DIR=BUCKET]...`

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use custody_core::store::{BucketSpec, PutRequest, StoreWrite};
use custody_tests::{Identity, SeaweedFs};

#[tokio::main]
async fn main() -> Result<()> {
    let mut plain = Vec::new();
    let mut locked = Vec::new();
    let mut uploads = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--bucket" => plain.push(value),
            "--locked-bucket" => locked.push(value),
            "--upload" => {
                let (dir, bucket) = value
                    .split_once('=')
                    .with_context(|| format!("--upload {value}: expected DIR=BUCKET"))?;
                uploads.push((PathBuf::from(dir), bucket.to_string()));
            }
            other => bail!("unknown argument {other}"),
        }
    }
    let server = SeaweedFs::start().await?;
    for name in &plain {
        server.create_bucket(name, BucketSpec::default()).await?;
    }
    for name in &locked {
        let spec = BucketSpec {
            versioned: true,
            object_lock: true,
        };
        server.create_bucket(name, spec).await?;
    }
    for (dir, bucket) in &uploads {
        let count = upload(&server, dir, bucket).await?;
        eprintln!(
            "uploaded {count} file(s) from {} to {bucket}",
            dir.display()
        );
    }
    println!("endpoint={}", server.endpoint());
    println!("access_key_id={}", Identity::Admin.access_key_id());
    println!("secret_access_key={}", Identity::Admin.secret_access_key());
    println!("ready");
    // Serve until whoever started us closes our standard input.
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await?;
    drop(server);
    Ok(())
}

async fn upload(server: &SeaweedFs, root: &Path, bucket: &str) -> Result<usize> {
    let store = server.store(bucket).await;
    let mut stack = vec![root.to_path_buf()];
    let mut count = 0;
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let key = path.strip_prefix(root)?.to_string_lossy().to_string();
            let mut request = PutRequest::new(key.clone(), std::fs::read(&path)?);
            request.checksum_sha256 = true;
            store
                .put(request)
                .await
                .with_context(|| format!("uploading {key}"))?;
            count += 1;
        }
    }
    Ok(count)
}
