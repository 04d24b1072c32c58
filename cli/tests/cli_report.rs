//! The auditor's commands end to end on SeaweedFS with the real `custody` binary: `ingest`
//! with its findings as JSON lines and CSV, `query --output` and its exit status, and `custody
//! report` as JSON and as HTML rendered by headless Chromium (a screenshot that must not be
//! blank, and the rendered DOM holding one row per conversation of the matter and the
//! digests of the sample files); then a report on a tampered folder ledger exits 1 and says so.

use std::path::PathBuf;

use custody_tests::{SeaweedFs, install_tools, workspace_root};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod chromium;
mod common;
use chromium::{chromium, screenshot_figures};
use common::{files_with_extension, run, sample_buckets, sample_files};

const ORG: &str = "3f1c9a52-7d0e-4b8a-9c61-0a2b4c6d8e10";

/// The conversations the sample matter register names for `matter`.
fn conversations_of(matter: &str) -> Vec<String> {
    let register: Value = serde_json::from_slice(
        &std::fs::read(workspace_root().join("samples/matters.json")).unwrap(),
    )
    .unwrap();
    let entry = register["matters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == matter)
        .unwrap();
    let mut ids: Vec<String> = entry["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// The SHA-256 of every sample file in one of `conversations`' folders.
fn expected_digests(conversations: &[String]) -> Vec<(String, String)> {
    sample_files()
        .into_iter()
        .filter(|(key, _)| {
            conversations
                .iter()
                .any(|c| key.contains(&format!("conversation_id={c}/")))
        })
        .map(|(key, bytes)| (key, hex::encode(Sha256::digest(&bytes))))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_query_and_report_on_s3_with_the_report_rendered_by_chromium() {
    install_tools().expect("scripts/install-tools.sh");
    let server = SeaweedFs::shared().await;
    let (export, ledger_bucket) = sample_buckets(server, "report").await;
    let endpoint = server.endpoint();
    let work = tempfile::tempdir().unwrap();
    let origin = "custody.test/report";
    let keys = work.path().join("keys");
    let keys_arg = keys.display().to_string();
    run(&["keygen", "--origin", origin, "--out", &keys_arg], 0);
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
    let ingest_base = [
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
    ];

    // Findings as JSON lines (the default off a terminal), keys as stored; the summary table on
    // standard error. The samples hold one stray upload no metadata names: exit 1.
    let (out, err) = run(&ingest_base, 1);
    let findings: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}\n{out}")))
        .collect();
    assert!(
        findings.iter().any(|f| f["kind"] == "unreferenced"
            && f["key"].as_str().unwrap().ends_with("stray-upload.opus")),
        "{out}"
    );
    for row in [
        "objects",
        "held",
        "hashed",
        "findings",
        "records",
        "duration",
        "throughput",
    ] {
        assert!(
            err.lines().any(|l| l.trim_start().starts_with(row)),
            "no summary row {row:?} in:\n{err}"
        );
    }
    assert!(err.contains("unreferenced 1"), "{err}");

    // The second run as a table, per object with --verbose, keys relative to the prefix.
    let mut verbose = ingest_base.to_vec();
    verbose.extend(["--output", "table", "--verbose"]);
    let (out, _) = run(&verbose, 0);
    assert!(out.contains("ledger: 0 record(s) appended"), "{out}");
    assert!(out.contains("already recorded"), "{out}");
    assert!(
        !out.contains(&format!("  {ORG}/")),
        "keys are relative: {out}"
    );

    // query: CSV with a header, exit 1 when nothing matched, --export-job filters.
    let conversations = conversations_of("M-1");
    let query = |extra: &[&str], exit: i32| {
        let mut args = vec![
            "query",
            ledger.as_str(),
            "--origin",
            origin,
            "--endpoint-url",
            endpoint.as_str(),
            "--path-style",
        ];
        args.extend(extra);
        run(&args, exit).0
    };
    let csv = query(&["--conversation", &conversations[0], "--output", "csv"], 0);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("block,leaf,at,event,conversation,key,version,sha256,matter,id")
    );
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() >= 5, "{csv}");
    assert!(rows.iter().all(|r| r.contains(&conversations[0])), "{csv}");
    let table = query(
        &["--conversation", &conversations[0], "--output", "table"],
        0,
    );
    assert!(table.lines().next().unwrap().contains("EVENT"), "{table}");
    assert_eq!(table.lines().count(), rows.len() + 1, "{table}");
    query(&["--conversation", "no-such-conversation"], 1);
    query(&["--export-job", "no-such-job", "--output", "json"], 1);

    // The report as JSON: one entry per conversation of the matter, the digests of the files.
    let (json, err) = run(
        &[
            "report",
            &ledger,
            "--matter",
            "M-1",
            "--key",
            &vkey_arg,
            "--endpoint-url",
            &endpoint,
            "--format",
            "json",
        ],
        0,
    );
    assert!(err.contains("INTACT (pinned keys"), "{err}");
    let report: Value = serde_json::from_str(&json).unwrap();
    let listed: Vec<&str> = report["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, conversations, "{report:#}");
    assert_eq!(report["verification"]["verdict"], "intact", "{report:#}");
    assert_eq!(report["verification"]["unpinned"], false);
    assert!(report["verification"]["checkpoint_signed_by"].is_string());
    assert!(!report["attestations"].as_array().unwrap().is_empty());
    let reported: Vec<(String, String)> = report["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["objects"].as_array().unwrap().iter())
        .filter(|o| o["sha256"].is_string())
        .map(|o| {
            (
                o["key"].as_str().unwrap().to_string(),
                o["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = expected_digests(&conversations);
    for (key, digest) in &reported {
        let file = expected.iter().find(|(k, _)| k == key);
        assert_eq!(
            file.map(|(_, d)| d),
            Some(digest),
            "{key}: the report's digest is not the sample file's"
        );
    }
    assert!(reported.len() >= 4, "{reported:?}");

    // The HTML page, rendered by Chromium.
    let html = work.path().join("report.html");
    let html_arg = html.display().to_string();
    run(
        &[
            "report",
            &ledger,
            "--matter",
            "M-1",
            "--key",
            &vkey_arg,
            "--endpoint-url",
            &endpoint,
            "--out",
            &html_arg,
        ],
        0,
    );
    let page = std::fs::read_to_string(&html).unwrap();
    for fetch in ["<script", "<link", " src=", "href=\"http", "url("] {
        assert!(
            !page.contains(fetch),
            "the page must load nothing: {fetch:?}"
        );
    }
    let url = format!("file://{}", html.display());
    let shot = work.path().join("report.png");
    chromium(
        &work.path().join("profile-1"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,1800".to_string(),
            url.clone(),
        ],
    );
    let (colours, non_white, width, height) = screenshot_figures(&shot);
    eprintln!(
        "report screenshot {width}x{height}: {colours} distinct colours, {:.1}% non-white pixels",
        non_white * 100.0
    );
    assert_eq!((width, height), (1280, 1800));
    assert!(colours >= 8, "a blank screenshot: {colours} colours");
    assert!(
        non_white > 0.02,
        "a blank screenshot: {non_white} non-white"
    );
    if let Ok(keep) = std::env::var("CUSTODY_REPORT_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    let dom = chromium(
        &work.path().join("profile-2"),
        &["--dump-dom".to_string(), url],
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    let rows = dom.matches("<tr class=\"conversation\"").count();
    assert_eq!(rows, conversations.len(), "one row per conversation");
    for c in &conversations {
        assert!(dom.contains(&format!("data-conversation=\"{c}\"")), "{c}");
    }
    for (key, digest) in &reported {
        assert!(
            dom.contains(digest.as_str()),
            "{key}'s digest {digest} not rendered"
        );
    }
    assert!(
        dom.contains("INTACT (pinned keys"),
        "the verdict is rendered"
    );

    // Without --key: trusting the published keys, said loudly; the report still holds.
    let (_, err) = run(
        &[
            "report",
            &ledger,
            "--conversation",
            &conversations[0],
            "--endpoint-url",
            &endpoint,
            "--format",
            "json",
        ],
        0,
    );
    assert!(err.contains("UNPINNED"), "{err}");
    // Nothing names the subject: no report, exit 1.
    run(
        &[
            "report",
            &ledger,
            "--export-job",
            "no-such-job",
            "--endpoint-url",
            &endpoint,
        ],
        1,
    );
}

/// A report made against a ledger with one flipped byte says TAMPERED and exits 1.
#[test]
fn a_report_on_a_tampered_ledger_does_not_hold() {
    let work = tempfile::tempdir().unwrap();
    let demo = work.path().join("demo");
    run(&["demo", "--workdir", &demo.display().to_string()], 0);
    let ledger = demo.join("ledger");
    let ledger_arg = ledger.display().to_string();
    let conversation = &conversations_of("M-1")[0];
    let (json, _) = run(
        &[
            "report",
            &ledger_arg,
            "--conversation",
            conversation,
            "--format",
            "json",
        ],
        0,
    );
    let before: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(before["verification"]["verdict"], "intact");
    assert_eq!(before["verification"]["unpinned"], true);

    let mut blocks: Vec<PathBuf> = std::fs::read_dir(ledger.join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    blocks.sort();
    let mut bytes = std::fs::read(&blocks[0]).unwrap();
    let marker = b"\"sha256\":\"";
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap()
        + marker.len();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::OpenOptions::new()
        .write(true)
        .open(&blocks[0])
        .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes))
        .unwrap();
    let out = work.path().join("tampered.html");
    let (_, err) = run(
        &[
            "report",
            &ledger_arg,
            "--conversation",
            conversation,
            "--out",
            &out.display().to_string(),
        ],
        1,
    );
    assert!(err.contains("does NOT hold"), "{err}");
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(page.contains("TAMPERED"), "the page says so");
    assert!(page.contains("class=\"banner bad\""), "in the red banner");
}
