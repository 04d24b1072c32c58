//! `custody doctor` end to end on SeaweedFS, through the binary: exit 0 with the full identity and
//! with the template's tagger identity, 1 with a tagger identity missing one coarse action (the
//! missing permission named, with what to grant), 2 when it cannot run (refused credentials, no
//! such bucket, bad arguments). The identities come from `template.yaml` (custody-tests'
//! `privilege` and `template` modules).

use std::process::{Command, Output};

use custody_tests::privilege::{MARKING, PrivilegeWorld};
use custody_tests::template::coarse_action;
use custody_tests::{Identity, IdentitySpec};
use serde_json::Value;

fn doctor(world: &PrivilegeWorld, keys: (&str, &str), args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_custody"));
    for (name, _) in std::env::vars() {
        if name.starts_with("CUSTODY_") || name.starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command
        .env("AWS_ACCESS_KEY_ID", keys.0)
        .env("AWS_SECRET_ACCESS_KEY", keys.1)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .arg("doctor")
        .args(["--endpoint-url", &world.server.endpoint(), "--path-style"])
        .args(["--region", "us-east-1", "--marking", MARKING])
        .args(args)
        .output()
        .expect("running custody")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn keys(identity: &IdentitySpec) -> (&str, &str) {
    (&identity.access_key_id, &identity.secret_access_key)
}

#[tokio::test]
async fn doctor_exits_0_when_all_is_well_1_naming_what_is_missing_2_when_it_cannot_run() {
    let world = PrivilegeWorld::start("cli-doctor").await.unwrap();
    let export = world.export_url();
    let ledger = world.ledger_url();
    let both = ["--export", export.as_str(), "--ledger", ledger.as_str()];
    let admin = (
        Identity::Admin.access_key_id(),
        Identity::Admin.secret_access_key(),
    );

    let out = doctor(&world, admin, &both);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "versioning",
        "object lock",
        "default retention",
        "s3:PutObjectLegalHold",
    ] {
        assert!(table.contains(expected), "{expected} missing:\n{table}");
    }
    // SeaweedFS delivers no events: said so, not passed and not failed.
    assert!(table.contains("could not check"), "{table}");

    // The template's own tagger identity has everything the tagger needs.
    let out = doctor(&world, keys(world.role("tagger")), &both);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = doctor(
        &world,
        keys(world.role("auditor")),
        &["--role", "auditor", "--ledger", ledger.as_str(), "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["healthy"], true);
    assert_eq!(report["role"], "auditor");

    // Without Tagging on the export prefix: exit 1, the permission named with the fix.
    let (_, removed, restricted) = world
        .without
        .iter()
        .find(|(role, removed, _)| role == "tagger" && removed.starts_with("Tagging:"))
        .expect("the tagger has a Tagging grant");
    let mut json_args = both.to_vec();
    json_args.push("--json");
    let out = doctor(&world, keys(restricted), &json_args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "without {removed}: {}",
        text(&out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["healthy"], false);
    let failed: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert!(!failed.is_empty());
    for check in &failed {
        let name = check["name"].as_str().unwrap();
        assert_eq!(coarse_action(name).unwrap(), Some("Tagging"), "{check:#}");
        assert!(
            check["detail"].as_str().unwrap().contains("AccessDenied"),
            "{check:#}"
        );
        assert!(
            check["fix"]
                .as_str()
                .unwrap()
                .starts_with(&format!("grant {name} on arn:aws:s3:::")),
            "{check:#}"
        );
    }
    let out = doctor(&world, keys(restricted), &both);
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("FAIL") && table.contains("fix: grant s3:PutObjectTagging"),
        "{table}"
    );

    // Could not run: refused credentials, a bucket that does not exist, bad arguments.
    let out = doctor(
        &world,
        ("custody-test-nobody", "wrong-secret-0123456789"),
        &both,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("credentials"),
        "{}",
        text(&out)
    );
    let out = doctor(
        &world,
        admin,
        &["--export", "s3://custody-no-such-bucket-here/x/"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such bucket"),
        "{}",
        text(&out)
    );
    let out = doctor(&world, admin, &["--export", "exports/without-scheme"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = doctor(
        &world,
        admin,
        &["--role", "janitor", "--ledger", ledger.as_str()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
