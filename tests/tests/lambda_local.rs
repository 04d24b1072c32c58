//! The real function binaries as Lambda runs them, locally and offline (issue 13, item 8):
//! `cargo lambda watch -A 127.0.0.1` serves custody-tagger, custody-sequencer and custody-auditor
//! ([`custody_tests::lambda_watch`]) against SeaweedFS on 127.0.0.1, configured as the template
//! configures them (the tagger only submits, the sequencer integrates), and every event fixture
//! in `samples/events/` is sent with `cargo lambda invoke --data-file`, adapted only in bucket,
//! key and version (SeaweedFS assigns the version ids). A fixture this test has no case for fails
//! it. Asserted: each response, the marks on every object an event named, the ledger (records
//! appended once, redelivery appends nothing, verification intact), the unparseable SQS message
//! answered as a batch item failure (so it reaches the dead-letter queue), and the Function URL
//! answers documented in `functions/auditor/src/lib.rs`.
//!
//! The events sent, the responses and the functions' logs stay in
//! `target/lambda-local/test-<pid>/`.

use custody_core::ledger::{CustodyRecord, EventKind, Receipt, TrustedKeys};
use custody_tests::Identity;
use custody_tests::lambda_watch::{LambdaWatch, target_dir};
use custody_tests::workspace_root;
use serde_json::{Value, json};

mod lambda_local_cases;
mod lambda_local_world;

use lambda_local_cases::{auditor_case, tagger_case};
use lambda_local_world::{
    AUDITOR, CONV1, Keys, ORIGIN, SEQUENCER, TAGGER, UNPARSEABLE, World, s3_event_key, sample_event,
};

fn kinds_for(records: &[CustodyRecord], key: &str) -> Vec<EventKind> {
    let mut kinds: Vec<EventKind> = records
        .iter()
        .filter(|r| r.what.key == key)
        .map(|r| r.event)
        .collect();
    kinds.sort();
    kinds
}

/// The sequencer, woken as the ledger bucket's notification of a new submission wakes it.
async fn run_sequencer(world: &World, watch: &LambdaWatch, name: &str) -> Value {
    let pending = world.pending_submissions().await;
    let submission = pending.first().cloned().unwrap_or_default();
    let mut event = sample_event("sqs-s3-put.json");
    event["Records"].as_array_mut().unwrap().truncate(1);
    let mut body: Value =
        serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
    let s3 = &mut body["Records"][0]["s3"];
    s3["bucket"]["name"] = json!(world.ledger);
    s3["bucket"]["arn"] = json!(format!("arn:aws:s3:::{}", world.ledger));
    s3["object"]["key"] = json!(s3_event_key(&submission));
    s3["object"].as_object_mut().unwrap().remove("versionId");
    event["Records"][0]["body"] = json!(body.to_string());
    let response = watch
        .invoke(SEQUENCER, name, &event)
        .await
        .unwrap_or_else(|e| panic!("{SEQUENCER} {name}: {e}\n{}", watch.log_tail()));
    println!("{SEQUENCER} {name}: {response}");
    assert_eq!(response["batchItemFailures"], json!([]), "{response:#}");
    let summary = &response["summary"];
    assert_eq!(summary["refused"], 0, "{response:#}");
    assert_eq!(summary["left_pending"], 0, "{response:#}");
    assert!(world.pending_submissions().await.is_empty());
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_through_the_real_functions_under_cargo_lambda_watch() {
    let logs = target_dir()
        .join("lambda-local")
        .join(format!("test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&logs);
    let functions = [TAGGER, SEQUENCER, AUDITOR];
    let built = tokio::task::spawn_blocking({
        let logs = logs.clone();
        move || LambdaWatch::build(&functions, &logs)
    })
    .await
    .unwrap()
    .unwrap();
    println!(
        "built {functions:?} in {:.1} s (target {})",
        built.as_secs_f64(),
        target_dir().display()
    );

    let world = World::new().await;
    let watch = LambdaWatch::start(&world.function_env(), &logs).unwrap();
    println!("cargo lambda watch up; logs in {}", logs.display());

    let mut fixtures: Vec<String> = std::fs::read_dir(workspace_root().join("samples/events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    fixtures.sort();
    let (url_requests, tagger_events): (Vec<String>, Vec<String>) = fixtures
        .into_iter()
        .partition(|n| n.starts_with("function-url-"));
    assert!(tagger_events.len() >= 12 && url_requests.len() >= 4);

    // Every tagger event; each case says which objects it marks.
    let mut marked: Vec<String> = Vec::new();
    for name in &tagger_events {
        let case = tagger_case(&world, name);
        let started = std::time::Instant::now();
        let answer = watch.invoke(TAGGER, name, &case.event).await;
        let response =
            answer.unwrap_or_else(|e| panic!("{TAGGER} {name}: {e}\n{}", watch.log_tail()));
        println!(
            "{TAGGER} {name} ({} ms): {response}",
            started.elapsed().as_millis()
        );
        (case.check)(&response);
        marked.extend(case.marks);
    }

    // The tagger only submitted: nothing is in the ledger until the sequencer integrates.
    assert!(world.records().await.is_empty());
    assert!(!world.pending_submissions().await.is_empty());
    let first = run_sequencer(&world, &watch, "integrate-1").await;
    let records = world.records().await;
    assert_eq!(
        first["summary"]["appended"].as_u64(),
        Some(records.len() as u64),
        "{first:#}"
    );
    for key in &marked {
        let kinds = kinds_for(&records, key);
        assert!(
            kinds.contains(&EventKind::HoldApplied) && kinds.contains(&EventKind::Hashed),
            "{key}: {kinds:?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| **k == EventKind::Hashed).count(),
            1,
            "{key}: hashed once whatever the number of events naming it: {kinds:?}"
        );
        let hashed = records
            .iter()
            .find(|r| &r.what.key == key && r.event == EventKind::Hashed)
            .unwrap();
        assert_eq!(
            hashed.what.version_id.as_deref(),
            Some(world.version(key)),
            "{key}"
        );
        let tags = world.tags(key).await;
        assert_eq!(
            tags.get("legal-hold").map(String::as_str),
            Some("true"),
            "{key}: {tags:?}"
        );
        assert!(world.legal_hold_on(key).await, "{key}: no legal hold");
    }
    let report = world.verify().await;
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records as usize, records.len());

    // At-least-once delivery: the first event again, integrated again, appends nothing.
    let again = watch
        .invoke(
            TAGGER,
            "s3-put-metadata-redelivered",
            &tagger_case(&world, "s3-put-metadata.json").event,
        )
        .await
        .unwrap_or_else(|e| panic!("redelivery: {e}\n{}", watch.log_tail()));
    println!("{TAGGER} s3-put-metadata-redelivered: {again}");
    let second = run_sequencer(&world, &watch, "integrate-2").await;
    assert_eq!(second["summary"]["appended"], 0, "{second:#}");
    assert_eq!(world.records().await.len(), records.len());
    assert!(world.verify().await.is_intact());

    // The auditor's Function URL, every request fixture.
    for name in &url_requests {
        let case = auditor_case(name, &records);
        let response = watch
            .invoke(AUDITOR, name, &case.event)
            .await
            .unwrap_or_else(|e| panic!("{AUDITOR} {name}: {e}\n{}", watch.log_tail()));
        println!("{AUDITOR} {name}: status {}", response["statusCode"]);
        (case.check)(&response);
    }
    // A receipt the auditor issued verifies offline with the configured key.
    let hashed = records
        .iter()
        .find(|r| r.event == EventKind::Hashed)
        .unwrap();
    let mut request = sample_event("function-url-get-receipt.json");
    let id = format!("sha256:{}", hashed.id);
    request["rawQueryString"] = json!(format!("id={}", s3_event_key(&id)));
    request["queryStringParameters"] = json!({ "id": id });
    let response = watch
        .invoke(AUDITOR, "function-url-get-receipt-issued", &request)
        .await
        .unwrap();
    assert_eq!(response["statusCode"], 200, "{response:#}");
    let receipt: Receipt = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    let trusted = TrustedKeys::new(vec![world.signer.verifier_key()]);
    assert_eq!(receipt.verify(&trusted).unwrap().record.id, hashed.id);

    // The functions logged JSON lines, and no secret reached the log.
    let log = watch.log();
    assert!(
        log.contains("\"requestId\""),
        "no JSON log line:\n{}",
        watch.log_tail()
    );
    let key_text = world.signer.to_text();
    let (_key_id, secret_part) = key_text
        .strip_prefix(&format!("PRIVATE+KEY+{ORIGIN}+"))
        .and_then(|rest| rest.split_once('+'))
        .expect("a C2SP private key");
    assert!(!log.contains(secret_part), "the signing key is in the log");
    assert!(
        !log.contains(Identity::Admin.secret_access_key()),
        "the S3 secret is in the log"
    );
    let rebuilt = log.contains("Compiling custody");
    println!(
        "cargo lambda watch {} functions (build before it: {:.1} s)",
        if rebuilt {
            "recompiled"
        } else {
            "reused the built"
        },
        built.as_secs_f64()
    );
}
