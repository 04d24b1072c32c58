//! The real `custody` binary end to end: `demo` offline, then `keygen`, `ingest`, `verify`,
//! `query`, `receipt` and `verify-receipt` against a real S3 server (SeaweedFS on 127.0.0.1),
//! and `verify` catching one flipped byte in a folder ledger.

use std::path::{Path, PathBuf};

use custody_tests::{SeaweedFs, workspace_root};
use serde_json::Value;

mod common;
use common::{custody, describe, files_with_extension, run_out, sample_buckets, sample_files};

const ORG: &str = "3f1c9a52-7d0e-4b8a-9c61-0a2b4c6d8e10";
const CONVERSATION: &str = "c0ffee01-5b2a-4e9d-9a10-3d2f7a000001";

/// Flip one hex digit of the first SHA-256 a block records, in place.
fn flip_a_byte_of_a_record(block: &Path) {
    let mut bytes = std::fs::read(block).unwrap();
    let marker = b"\"sha256\":\"";
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("the block records a hash")
        + marker.len();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    // Written through the same inode, as an attacker editing the file would.
    std::fs::OpenOptions::new()
        .write(true)
        .open(block)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes))
        .unwrap();
}

#[test]
fn demo_runs_the_whole_job_and_verify_catches_one_flipped_byte() {
    let work = tempfile::tempdir().unwrap();
    let demo = work.path().join("demo");
    let demo_arg = demo.display().to_string();
    let out = run_out(&["demo", "--workdir", &demo_arg], 0);
    let uploaded = format!("1. uploaded {} sample export file(s)", sample_files().len());
    for step in [
        uploaded.as_str(),
        "2. generated ledger signing key",
        "3. ingest run 1",
        "4. ingest run 2",
        "5. custody verify",
        "INTACT",
        "6. receipt for",
        "offline check: VALID",
    ] {
        assert!(out.contains(step), "no {step:?} in:\n{out}");
    }
    let second_run = &out[out.find("4. ingest run 2").unwrap()..];
    assert!(
        second_run.contains("ledger: 0 record(s) appended"),
        "the second run must add nothing:\n{second_run}"
    );

    let ledger = demo.join("ledger");
    let ledger_arg = ledger.display().to_string();
    let report = run_out(&["verify", &ledger_arg, "--json"], 0);
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["failures"], Value::Array(Vec::new()), "{report:#}");

    let blocks = ledger.join("blocks");
    let mut block_files: Vec<PathBuf> = std::fs::read_dir(&blocks)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    block_files.sort();
    flip_a_byte_of_a_record(&block_files[0]);
    let args = ["verify", ledger_arg.as_str()];
    let output = custody(&args);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        describe(&args, &output)
    );
    let tampered = run_out(&["verify", &ledger_arg, "--json"], 1);
    let tampered: Value = serde_json::from_str(&tampered).unwrap();
    assert!(
        !tampered["failures"].as_array().unwrap().is_empty(),
        "{tampered:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_verify_query_and_receipts_against_s3() {
    let server = SeaweedFs::shared().await;
    let (export, ledger_bucket) = sample_buckets(server, "cli").await;
    let endpoint = server.endpoint();
    let work = tempfile::tempdir().unwrap();
    let origin = "custody.test/cli";
    let keys = work.path().join("keys");
    let keys_arg = keys.display().to_string();
    let out = run_out(&["keygen", "--origin", origin, "--out", &keys_arg], 0);
    assert!(out.contains("key id"), "{out}");
    let secret = files_with_extension(&keys, "key").remove(0);
    let vkey = files_with_extension(&keys, "vkey").remove(0);
    let vkey_arg = vkey.display().to_string();

    let ledger = format!("s3://{ledger_bucket}/custody/ledger");
    let signing_key = format!("file:{}", secret.display());
    let matters = format!(
        "matters:{}",
        workspace_root().join("samples/matters.json").display()
    );
    let export_arg = format!("s3://{export}");
    let prefix = format!("{ORG}/");
    let ingest: Vec<&str> = vec![
        "ingest",
        "--export",
        &export_arg,
        "--prefix",
        &prefix,
        "--ledger",
        &ledger,
        "--origin",
        origin,
        "--signing-key",
        &signing_key,
        "--hold",
        &matters,
        "--marking",
        "tags,object-lock",
        "--endpoint-url",
        &endpoint,
        "--path-style",
        "--output",
        "table",
        "--verbose",
    ];
    // The samples hold a stray upload no metadata names: a finding, so exit status 1.
    let first = run_out(&ingest, 1);
    assert!(first.contains("unreferenced"), "{first}");
    assert!(first.contains("for M-1, M-2"), "{first}");
    assert!(!first.contains("ledger: 0 record(s) appended"), "{first}");
    // The second run finds every version recorded: it skips them unread (the first run's
    // findings are in the ledger, not repeated), so it exits 0.
    let second = run_out(&ingest, 0);
    assert!(
        second.contains("ledger: 0 record(s) appended"),
        "a second run adds nothing:\n{second}"
    );
    assert!(
        second.lines().any(|l| l.starts_with("already recorded")
            && l.ends_with("(skipped)")
            && !l.contains(" 0 (skipped)")),
        "{second}"
    );

    let report = run_out(
        &[
            "verify",
            &ledger,
            "--key",
            &vkey_arg,
            "--endpoint-url",
            &endpoint,
            "--json",
        ],
        0,
    );
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["failures"], Value::Array(Vec::new()), "{report:#}");
    let total = report["records"].as_u64().unwrap();
    assert!(total > 20, "{report:#}");

    // A key the ledger was never signed with is not trusted.
    let other = work.path().join("other");
    let other_arg = other.display().to_string();
    run_out(&["keygen", "--origin", origin, "--out", &other_arg], 0);
    let stranger = files_with_extension(&other, "vkey").remove(0);
    let stranger_arg = stranger.display().to_string();
    run_out(
        &[
            "verify",
            &ledger,
            "--key",
            &stranger_arg,
            "--endpoint-url",
            &endpoint,
        ],
        1,
    );

    let query_args = [
        "query",
        ledger.as_str(),
        "--origin",
        origin,
        "--conversation",
        CONVERSATION,
        "--endpoint-url",
        endpoint.as_str(),
        "--path-style",
    ];
    let lines = run_out(&query_args, 0);
    let found: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(found.len() >= 10, "{lines}");
    assert!(
        found
            .iter()
            .all(|m| m["record"]["why"]["conversation_id"] == CONVERSATION)
    );
    let hashed = found
        .iter()
        .find(|m| m["record"]["event"] == "hashed")
        .expect("a hashed record");
    let id = hashed["record"]["id"].as_str().unwrap();

    let receipt = work.path().join("receipt.json");
    let receipt_arg = receipt.display().to_string();
    run_out(
        &[
            "receipt",
            &ledger,
            "--id",
            id,
            "--out",
            &receipt_arg,
            "--endpoint-url",
            &endpoint,
        ],
        0,
    );
    let valid = run_out(&["verify-receipt", &receipt_arg, "--key", &vkey_arg], 0);
    assert!(valid.starts_with("VALID"), "{valid}");
    assert!(valid.contains(id), "{valid}");

    // The same receipt with one character of its record changed does not verify.
    let mut forged: Value =
        serde_json::from_str(&std::fs::read_to_string(&receipt).unwrap()).unwrap();
    let record = forged["record"]
        .as_str()
        .unwrap()
        .replacen("hashed", "hashes", 1);
    forged["record"] = Value::String(record);
    let forged_path = work.path().join("forged.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    let forged_arg = forged_path.display().to_string();
    let invalid = run_out(&["verify-receipt", &forged_arg, "--key", &vkey_arg], 1);
    assert!(invalid.starts_with("INVALID"), "{invalid}");
}

/// Mistakes about the run: exit 2 (or 1 for an empty prefix) with a message naming what the user
/// typed, and the ledger untouched.
#[test]
fn ingest_mistakes_exit_with_their_code_and_leave_the_ledger_unchanged() {
    fn args(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("ledger.key");
    let key_arg = format!("file:{}", key.display());
    let keys = work.path().join("keys");
    let keys_arg = keys.display().to_string();
    run_out(
        &["keygen", "--origin", "custody.test/cli", "--out", &keys_arg],
        0,
    );
    let private = files_with_extension(&keys, "key");
    std::fs::copy(&private[0], &key).unwrap();
    let ledger = work.path().join("ledger");
    let ledger_arg = ledger.display().to_string();
    let export = work.path().join("export");
    std::fs::create_dir_all(export.join("org-1")).unwrap();
    let export_arg = export.display().to_string();
    let base = |export: &str, prefix: &str| -> Vec<String> {
        [
            "ingest",
            "--export",
            export,
            "--prefix",
            prefix,
            "--ledger",
            &ledger_arg,
            "--origin",
            "custody.test/cli",
            "--signing-key",
            &key_arg,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };

    // An export prefix with nothing under it: exit 1, said plainly.
    let empty = base(&export_arg, "org-1/");
    let output = custody(&args(&empty));
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        describe(&args(&empty), &output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nothing to ingest"), "{stderr}");

    // A folder that does not exist (a typo in --export): exit 2, the flag named.
    let typo = base(
        &work.path().join("no-such-export").display().to_string(),
        "",
    );
    let output = custody(&args(&typo));
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        describe(&args(&typo), &output)
    );

    // A bad signing key source: exit 2 naming --signing-key, not the environment variable.
    let mut bad_key = base(&export_arg, "org-1/");
    let at = bad_key.iter().position(|a| a == &key_arg).unwrap();
    bad_key[at] = "file:/no/such/key".to_string();
    let output = custody(&args(&bad_key));
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        describe(&args(&bad_key), &output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--signing-key"), "{stderr}");
    assert!(!stderr.contains("CUSTODY_SIGNING_KEY"), "{stderr}");

    // Nothing was ever appended.
    let blocks = ledger.join("blocks");
    let appended = std::fs::read_dir(&blocks).map(|d| d.count()).unwrap_or(0);
    assert_eq!(appended, 0, "the ledger is unchanged");
}
