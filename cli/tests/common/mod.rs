//! What every end-to-end test of the `custody` binary needs: running it with a clean environment
//! (no configuration leaks in from the caller's shell; the test server's credentials), checking
//! its exit status, and finding the files it wrote. Each test file uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use custody_core::store::{BucketSpec, PutRequest, StoreWrite};
use custody_tests::{Identity, SeaweedFs, unique_bucket, workspace_root};

/// `custody` with a clean environment and the test S3 server's admin credentials.
pub fn custody(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_custody"));
    for (name, _) in std::env::vars() {
        if name.starts_with("CUSTODY_") || name.starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .env("AWS_ACCESS_KEY_ID", Identity::Admin.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", Identity::Admin.secret_access_key())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .expect("custody runs")
}

/// The command, its exit status and both outputs, for an assertion message.
pub fn describe(args: &[&str], output: &Output) -> String {
    format!(
        "custody {}\nexit {:?}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Run and check the exit status; returns standard output and standard error.
pub fn run(args: &[&str], expected_exit: i32) -> (String, String) {
    let output = custody(args);
    assert_eq!(
        output.status.code(),
        Some(expected_exit),
        "{}",
        describe(args, &output)
    );
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// [`run`], standard output only.
pub fn run_out(args: &[&str], expected_exit: i32) -> String {
    run(args, expected_exit).0
}

/// The files of `dir` with that extension, sorted.
pub fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    found.sort();
    found
}

/// Every file of `samples/export/` with its bytes, keyed by its path relative to that folder, in
/// key order.
pub fn sample_files() -> Vec<(String, Vec<u8>)> {
    let root = workspace_root().join("samples/export");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let key = path.strip_prefix(&root).unwrap().to_string_lossy().into();
                files.push((key, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// The sample export in a versioned, Object-Lock-enabled bucket (each object with its SHA-256
/// checksum), and an empty ledger bucket: their names, `<label>-export…` and `<label>-ledger…`.
pub async fn sample_buckets(server: &SeaweedFs, label: &str) -> (String, String) {
    let export = unique_bucket(&format!("{label}-export"));
    let ledger = unique_bucket(&format!("{label}-ledger"));
    let locked = BucketSpec {
        versioned: true,
        object_lock: true,
    };
    server.create_bucket(&export, locked).await.unwrap();
    server.create_bucket(&ledger, locked).await.unwrap();
    let store = server.store(&export).await;
    for (key, bytes) in sample_files() {
        let mut request = PutRequest::new(key, bytes);
        request.checksum_sha256 = true;
        store.put(request).await.unwrap();
    }
    (export, ledger)
}
