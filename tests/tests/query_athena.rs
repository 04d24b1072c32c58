//! The query index and the day-partitioned records on a real S3 server (SeaweedFS on
//! 127.0.0.1): the README's Athena queries, run by DuckDB over the objects `index_block` wrote,
//! give exactly what a scan of the blocks gives; the indexed query gives the same and reads a
//! fraction of it; the template's table has the columns the rows carry.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use custody_core::ledger::{
    CustodyRecord, EventKind, How, Ledger, LedgerConfig, Outcome, Signer, What, Where, Who, Why,
};
use custody_core::query::rows::COLUMNS;
use custody_core::query::{
    IndexKeys, Match, RecordFilter, catch_up, find, find_indexed, index_block,
};
use custody_core::store::counting::CountingStore;
use custody_core::store::{BucketSpec, StoreWrite};
use custody_tests::{Identity, SeaweedFs, install_tools, unique_bucket, workspace_root};
use serde_json::{Value, json};

const ORIGIN: &str = "custody.test/ledger";

/// The records of conversation `c`: for each of two recordings an observation, a hold for
/// matters, a hash, and for odd conversations a mismatch; conversations spread over
/// 2024-05-01..04 (odd ones on the 2nd and 4th: mismatches both inside and outside the range
/// queried).
fn conversation(c: usize) -> Vec<CustodyRecord> {
    let day = 1 + (c % 4) as u32;
    let at = |minute: u32| Utc.with_ymd_and_hms(2024, 5, day, 9, minute, 0).unwrap();
    let folder = format!("org-1/year=2024/month=05/day=0{day}/hour=09/conversation_id=c-{c}/");
    let what = |r: usize| What {
        bucket: "exports".into(),
        key: format!("{folder}r-{c}-{r}.opus"),
        version_id: Some(format!("v-{c}-{r}")),
        size: Some(1000 + r as u64),
        sha256: Some(format!("{:064x}", c * 10 + r)),
        etag: Some(format!("{:032x}", c * 10 + r)),
        ..Default::default()
    };
    let why = |r: usize, matter: Option<&str>| Why {
        export_job: Some("job-1".into()),
        conversation_id: Some(format!("c-{c}")),
        recording_id: Some(format!("r-{c}-{r}")),
        matter: matter.map(str::to_string),
        source: format!("s3://exports/{folder}r-{c}-{r}.opus_metadata.json#m1"),
    };
    let matter = match c % 3 {
        0 => "M-1",
        1 => "M-1+M-2",
        _ => "M-2",
    };
    let mut records = Vec::new();
    for r in 0..2 {
        let record = |event, minute, what, why, outcome| {
            CustodyRecord::new(
                event,
                at(minute),
                Who::default(),
                what,
                Where::default(),
                why,
                How::default(),
                outcome,
            )
        };
        records.push(record(
            EventKind::Observed,
            r as u32,
            what(r),
            why(r, None),
            Outcome::default(),
        ));
        let mut held = what(r);
        held.new_version_id = Some(format!("v-{c}-{r}-held"));
        let mut hold = record(
            EventKind::HoldApplied,
            2 + r as u32,
            held,
            why(r, Some(matter)),
            Outcome::default(),
        );
        hold.how.mechanisms = vec!["tags".into(), "object-lock".into()];
        hold.id = hold.identity();
        records.push(hold);
        records.push(record(
            EventKind::Hashed,
            4 + r as u32,
            what(r),
            why(r, None),
            Outcome::default(),
        ));
        if c % 2 == 1 && r == 1 {
            records.push(record(
                EventKind::Mismatch,
                6,
                what(r),
                why(r, None),
                Outcome {
                    detail: Some("sha256 differs from the stored SHA256 checksum".into()),
                    error: None,
                },
            ));
        }
    }
    records
}

/// The SQL blocks of README.md between the athena-queries markers, in order.
fn readme_queries() -> Vec<String> {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let start = readme
        .find("<!-- athena-queries")
        .expect("README.md marks its Athena queries");
    let end = readme
        .find("<!-- /athena-queries -->")
        .expect("README.md closes its Athena queries");
    readme[start..end]
        .split("```sql\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().trim().to_string())
        .collect()
}

/// Runs queries through DuckDB (tests/query/duckdb_run.py) over `s3://bucket/prefix`.
fn duckdb(server: &SeaweedFs, bucket: &str, prefix: &str, queries: Value) -> Vec<Vec<Value>> {
    install_tools().unwrap();
    let root = workspace_root();
    let request = json!({
        "endpoint": server.endpoint().trim_start_matches("http://"),
        "key_id": Identity::Admin.access_key_id(),
        "secret": Identity::Admin.secret_access_key(),
        "region": "us-east-1",
        "location": format!("s3://{bucket}/{prefix}"),
        "columns": COLUMNS.iter().map(|(n, t)| json!([n, t])).collect::<Vec<_>>(),
        "queries": queries,
    });
    let mut child = Command::new(root.join(".tools/venv/bin/python"))
        .arg(root.join("tests/query/duckdb_run.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python from .tools/venv (scripts/install-tools.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "duckdb_run.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rows| rows.as_array().unwrap().clone())
        .collect()
}

/// (block, leaf index, id) of each row whose first three columns are those.
fn places_of_rows(rows: &[Value]) -> Vec<(u64, u64, String)> {
    rows.iter()
        .map(|row| {
            (
                row[0].as_u64().unwrap(),
                row[1].as_u64().unwrap(),
                row[2].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn places(found: &[Match]) -> Vec<(u64, u64, String)> {
    found
        .iter()
        .map(|m| (m.block, m.leaf_index, m.record.id.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_athena_queries_on_duckdb_answer_what_a_scan_of_the_blocks_answers() {
    let server = SeaweedFs::shared().await;
    let bucket = unique_bucket("query-athena");
    // As the template sets the ledger bucket up: versioned, with Object Lock.
    let spec = BucketSpec {
        versioned: true,
        object_lock: true,
    };
    server.create_bucket(&bucket, spec).await.unwrap();
    let s3: Arc<dyn StoreWrite> = Arc::new(server.store(&bucket).await);
    let counting = Arc::new(CountingStore::new(s3));
    let signer = Signer::generate(ORIGIN).unwrap();
    // The index is built by the calls under test, not by the integrator.
    let mut config = LedgerConfig::new(ORIGIN);
    config.publish_derived = false;
    let ledger = Ledger::open(counting.clone(), "ledger", config, Some(signer))
        .await
        .unwrap();
    // Six blocks of four conversations; the first three indexed as the integrator does after
    // each block, the rest by catch_up.
    let mut total = 0;
    for b in 0..6 {
        let records: Vec<CustodyRecord> = (b * 4..b * 4 + 4).flat_map(conversation).collect();
        total += records.len();
        let outcome = ledger.append(records).await.unwrap();
        let block = outcome.block.unwrap();
        if b < 3 {
            let bytes = ledger.read_block(block).await.unwrap();
            let indexed = index_block(counting.as_ref(), ledger.layout(), &bytes)
                .await
                .unwrap();
            assert!(indexed.skipped.is_empty());
        }
    }
    let caught_up = catch_up(&ledger).await.unwrap();
    assert_eq!(caught_up.covered_before, Some(2), "{caught_up:?}");
    assert_eq!(caught_up.covered, Some(5), "{caught_up:?}");
    assert_eq!(caught_up.indexed.len(), 3);

    // The README's queries, with the values a test can check.
    let queries = readme_queries();
    assert_eq!(queries.len(), 3, "{queries:?}");
    let keys = IndexKeys::new(ledger.layout());
    let results = duckdb(
        server,
        &bucket,
        &keys.records_prefix(),
        json!([
            {"sql": queries[0], "params": ["c-9"]},
            {"sql": queries[1], "params": ["M-1"]},
            {"sql": queries[2], "params": ["2024-05-02", "2024-05-03"]},
            {"sql": "SELECT count(*), count(DISTINCT id) FROM custody_records", "params": []},
        ]),
    );
    let filters = [
        RecordFilter {
            conversation: Some("c-9".into()),
            ..RecordFilter::default()
        },
        RecordFilter {
            event: Some(EventKind::HoldApplied),
            matter: Some("M-1".into()),
            ..RecordFilter::default()
        },
        RecordFilter {
            event: Some(EventKind::Mismatch),
            since: Some(Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap()),
            until: Some(Utc.with_ymd_and_hms(2024, 5, 4, 0, 0, 0).unwrap()),
            ..RecordFilter::default()
        },
    ];
    for (i, filter) in filters.iter().enumerate() {
        let scanned = find(&ledger, filter).await.unwrap();
        assert!(!scanned.is_empty(), "query {i} has something to find");
        assert_eq!(
            places_of_rows(&results[i]),
            places(&scanned),
            "README query {i}:\n{}",
            queries[i]
        );
        counting.reset();
        let indexed = find_indexed(&ledger, filter).await.unwrap();
        let indexed_usage = counting.usage();
        assert!(indexed.rejected.is_empty(), "{:?}", indexed.rejected);
        assert_eq!(indexed.plan.blocks_scanned, 0);
        assert_eq!(
            places(&indexed.matches),
            places(&scanned),
            "indexed query {i}"
        );
        counting.reset();
        find(&ledger, filter).await.unwrap();
        let scan_usage = counting.usage();
        // One conversation is in one block: the index reads a fraction of the ledger. (The
        // other two queries touch every block of this small ledger: no such promise.)
        if i == 0 {
            assert!(
                indexed_usage.bytes_read * 3 < scan_usage.bytes_read,
                "query {i}: indexed {indexed_usage:?}, scan {scan_usage:?}"
            );
        }
    }
    // Mismatch rows carry their detail; every record is one row.
    assert_eq!(
        results[2][0][7].as_str(),
        Some("sha256 differs from the stored SHA256 checksum")
    );
    assert_eq!(results[3][0], json!([total, total]));
}

#[test]
fn the_template_table_has_the_columns_the_rows_carry() {
    let template = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let table = &template[template
        .find("  RecordsTable:")
        .expect("template.yaml defines RecordsTable")..];
    let declared: Vec<(String, String)> = table
        .lines()
        .skip_while(|l| l.trim() != "Columns:")
        .skip(1)
        .map_while(|l| {
            let l = l.trim();
            let inner = l.strip_prefix("- {Name: ")?.strip_suffix("'}")?;
            let (name, kind) = inner.split_once(", Type: '")?;
            Some((name.to_string(), kind.to_string()))
        })
        .collect();
    let expected: Vec<(String, String)> = COLUMNS
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(declared, expected);
    assert!(table.contains("projection.day.type: date"));
    assert!(table.contains("/ledger/records/day=${!day}/"));
}
