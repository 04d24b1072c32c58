//! Least privilege, proven on SeaweedFS (issue 13 item 7): the tagger, the sequencer and the
//! auditor run as identities generated from `template.yaml`'s role policies (tests/src/template:
//! the IAM-to-SeaweedFS mapping and how coarse it is), and succeed; without any one of their coarse
//! actions, `custody doctor` names the missing permission and the functions answer with an
//! explained denial (AccessDenied and the likely missing permission), never a crash.

use std::collections::BTreeSet;

use custody_aws::doctor::{self, Place, Role, Target};
use custody_aws::open;
use custody_aws::s3::StaticCredentials;
use custody_aws::services::Settings;
use custody_core::hold::Marking;
use custody_core::ledger::{CustodyRecord, EventKind, Ledger, LedgerConfig, Signer};
use custody_tagger::Invoker;
use custody_tests::privilege::{EXPORT_PREFIX, MARKING, PrivilegeWorld, template_role_actions};
use custody_tests::template::{Template, coarse_action, covered_by, role_grants};
use custody_tests::{Identity, IdentitySpec, workspace_root};
use serde_json::Value;

const ORIGIN: &str = "custody.test/least-privilege";

fn meta1() -> String {
    format!(
        "{EXPORT_PREFIX}year=2024/month=03/day=14/hour=09/conversation_id=c0ffee01-5b2a-4e9d-9a10-3d2f7a000001/a1a1a1a1-0000-4000-8000-000000000001.opus_metadata.json"
    )
}

fn rec1() -> String {
    meta1().trim_end_matches("_metadata.json").to_string()
}

fn invoker(request_id: &str) -> Invoker {
    Invoker {
        function: Some("custody-tagger".to_string()),
        function_arn: Some(
            "arn:aws:lambda:us-east-1:123456789012:function:custody-tagger".to_string(),
        ),
        request_id: Some(request_id.to_string()),
        region: Some("us-east-1".to_string()),
    }
}

struct Keys {
    _dir: tempfile::TempDir,
    file: String,
}

fn signing_key() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.key");
    std::fs::write(&path, Signer::generate(ORIGIN).unwrap().to_text()).unwrap();
    Keys {
        file: format!("file:{}", path.display()),
        _dir: dir,
    }
}

fn credentials(identity: &IdentitySpec) -> StaticCredentials {
    identity.credentials()
}

fn admin() -> StaticCredentials {
    StaticCredentials {
        access_key_id: Identity::Admin.access_key_id().into(),
        secret_access_key: Identity::Admin.secret_access_key().into(),
        session_token: None,
    }
}

/// The settings the template gives the tagger (submit only), as `who`.
fn tagger_settings(world: &PrivilegeWorld, keys: &Keys, who: StaticCredentials) -> Settings {
    Settings {
        export: format!("s3://{}", world.export_bucket),
        export_prefix: EXPORT_PREFIX.to_string(),
        ledger: world.ledger_url(),
        origin: Some(ORIGIN.to_string()),
        hold_select: "all".to_string(),
        hold_marking: MARKING.to_string(),
        matter: Some("M-LP".to_string()),
        signing_key: Some(keys.file.clone()),
        s3_endpoint: Some(world.server.endpoint()),
        s3_path_style: true,
        s3_region: Some("us-east-1".to_string()),
        s3_credentials: Some(who),
        integration: Some("sequencer".to_string()),
        ..Settings::default()
    }
}

/// The sequencer's settings as `who`.
fn sequencer_settings(world: &PrivilegeWorld, keys: &Keys, who: StaticCredentials) -> Settings {
    Settings {
        integration: None,
        ..tagger_settings(world, keys, who)
    }
}

/// Integrates the pending submissions as `who`; the problems the rounds reported.
async fn integrate(world: &PrivilegeWorld, keys: &Keys, who: StaticCredentials) -> Vec<String> {
    let ledger = sequencer_settings(world, keys, who)
        .ledger_writer()
        .await
        .unwrap();
    let rounds = ledger.integrate_all(None).await.unwrap();
    rounds
        .iter()
        .flat_map(|r| r.problems.iter().cloned())
        .collect()
}

/// The ledger as the auditor opens it (no signing key), as `who`.
async fn auditor_ledger(world: &PrivilegeWorld, who: StaticCredentials) -> Ledger {
    try_auditor_ledger(world, who).await.unwrap()
}

async fn try_auditor_ledger(
    world: &PrivilegeWorld,
    who: StaticCredentials,
) -> Result<Ledger, custody_core::ledger::LedgerError> {
    let settings = Settings {
        s3_endpoint: Some(world.server.endpoint()),
        s3_path_style: true,
        s3_region: Some("us-east-1".to_string()),
        s3_credentials: Some(who),
        ..Settings::default()
    };
    let opened = open(&world.ledger_url(), &settings.s3_options())
        .await
        .unwrap();
    Ledger::open(
        opened.store,
        &opened.prefix,
        LedgerConfig::new(ORIGIN),
        None,
    )
    .await
}

async fn records(world: &PrivilegeWorld) -> Vec<CustodyRecord> {
    let ledger = auditor_ledger(world, admin()).await;
    let mut out = Vec::new();
    ledger
        .for_each_record(|entry| out.push(entry.record.expect("every record parses")))
        .await
        .unwrap();
    out
}

fn verify_request() -> Value {
    let path = workspace_root().join("samples/events/function-url-get-verify.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn target(world: &PrivilegeWorld, role: Role, who: StaticCredentials) -> Target {
    Target {
        role,
        export: (role == Role::Tagger).then(|| Place::parse(&world.export_url()).unwrap()),
        ledger: Some(Place::parse(&world.ledger_url()).unwrap()),
        marking: Marking::parse("marking", MARKING).unwrap(),
        signing_key_secret: None,
        s3: world.server.s3_options_for(
            "",
            &IdentitySpec {
                name: "who".into(),
                access_key_id: who.access_key_id,
                secret_access_key: who.secret_access_key,
                actions: Vec::new(),
            },
        ),
    }
}

#[test]
fn the_doctor_and_the_template_agree_on_every_roles_s3_actions() {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let template = Template::parse(
        &text,
        &[
            ("ExportBucketName", "exports"),
            ("ExportPrefix", EXPORT_PREFIX),
            ("Marking", MARKING),
            (
                "SigningKeySecretArn",
                "arn:aws:secretsmanager:us-east-1:1:secret:k-AbCdEf",
            ),
        ],
        &[("LedgerBucket", "ledger-bucket")],
    )
    .unwrap();
    let marking = Marking::parse("marking", MARKING).unwrap();
    for (role, role_id) in [
        (Role::Tagger, "TaggerRole"),
        (Role::Sequencer, "SequencerRole"),
        (Role::Auditor, "AuditorRole"),
    ] {
        let granted: BTreeSet<String> = role_grants(&template, role_id)
            .unwrap()
            .into_iter()
            .filter(|g| g.action.starts_with("s3:") || g.action.starts_with("secretsmanager:"))
            .map(|g| g.action)
            .collect();
        let needed: BTreeSet<String> = doctor::needs::role_needs(role, &marking)
            .iter()
            .map(|n| n.action.to_string())
            .collect();
        assert_eq!(
            granted, needed,
            "{role_id}: template grants vs doctor needs"
        );
    }
    // Every S3 grant maps to a SeaweedFS action.
    let actions = template_role_actions("exports", "ledger-bucket").unwrap();
    assert_eq!(
        actions["auditor"],
        ["List:ledger-bucket", "Read:ledger-bucket/ledger/*"]
    );
    let tagger = &actions["tagger"];
    for expected in [
        format!("Read:exports/{EXPORT_PREFIX}*"),
        format!("Tagging:exports/{EXPORT_PREFIX}*"),
        format!("Write:exports/{EXPORT_PREFIX}*"),
        "Read:exports".to_string(),
        "List:exports".to_string(),
        "Write:ledger-bucket/ledger/*".to_string(),
    ] {
        assert!(tagger.contains(&expected), "{expected} not in {tagger:?}");
    }
}

#[tokio::test]
async fn the_template_roles_hold_hash_integrate_and_verify() {
    let mut world = PrivilegeWorld::start("lp-roles").await.unwrap();
    let keys = signing_key();
    let tagger = tagger_settings(&world, &keys, credentials(world.role("tagger")));
    let services = tagger.services().await.unwrap();
    let response = custody_tagger::handle(
        &services,
        &world.s3_put_event(&meta1()).unwrap(),
        &invoker("lp-1"),
    )
    .await
    .unwrap();
    let summary = &response["summary"];
    assert_eq!(summary["hashed"], 2, "{response:#}");
    assert_eq!(summary["held"], 2, "{response:#}");
    assert!(
        summary["findings"].as_object().is_none_or(|f| f.is_empty()),
        "{response:#}"
    );

    let problems = integrate(&world, &keys, credentials(world.role("sequencer"))).await;
    assert!(problems.is_empty(), "{problems:#?}");

    let ledger = auditor_ledger(&world, credentials(world.role("auditor"))).await;
    let answer = custody_auditor::handle(&ledger, &verify_request()).await;
    assert_eq!(answer.status_code, 200, "{}", answer.body);
    let report: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(report["verdict"], "intact", "{report:#}");

    let recorded = records(&world).await;
    for key in [meta1(), rec1()] {
        for kind in [EventKind::HoldApplied, EventKind::Hashed] {
            assert!(
                recorded
                    .iter()
                    .any(|r| r.what.key == key && r.event == kind),
                "{key}: no {kind:?} record"
            );
        }
    }
    assert!(
        recorded.iter().all(|r| r.outcome.error.is_none()),
        "{recorded:#?}"
    );

    // The doctor agrees: every role's permissions are there.
    for (role, name) in [(Role::Tagger, "tagger"), (Role::Auditor, "auditor")] {
        let report = doctor::run(&target(&world, role, credentials(world.role(name))))
            .await
            .unwrap();
        let failures: Vec<_> = report.failures().collect();
        assert!(failures.is_empty(), "{name}: {failures:#?}");
    }
    // A second upload still works as the tagger (nothing above consumed a permission).
    let body = std::fs::read(workspace_root().join("samples/export").join(meta1())).unwrap();
    world.upload(&meta1(), body).await.unwrap();
}

/// Whether the doctor's failures name an IAM action that maps to `removed` (`Coarse:bucket…`).
fn names_the_removed_action(report: &doctor::Report, removed: &str) -> bool {
    let (coarse, path) = removed.split_once(':').unwrap();
    let bucket = path.split('/').next().unwrap();
    report.failures().any(|c| {
        c.subject.starts_with(&format!("s3://{bucket}/"))
            && coarse_action(&c.name).ok().flatten() == Some(coarse)
            && c.fix.as_deref().is_some_and(|f| f.contains(&c.name))
    })
}

#[tokio::test]
async fn without_any_one_coarse_action_the_denial_is_explained_not_a_crash() {
    let mut world = PrivilegeWorld::start("lp-without").await.unwrap();
    let keys = signing_key();
    let mut explained_records = 0;
    // The tagger's removals first: the auditor's then find a ledger with something to read.
    let mut without = world.without.clone();
    without.sort_by_key(|(role, _, _)| role != "tagger");
    let mut lines = Vec::new();
    for (n, (role, removed, identity)) in without.iter().enumerate() {
        let still_covered = covered_by(removed, &identity.actions);
        let doctor_role = match role.as_str() {
            "tagger" => Role::Tagger,
            "auditor" => Role::Auditor,
            _ => continue,
        };
        let report = doctor::run(&target(&world, doctor_role, credentials(identity)))
            .await
            .unwrap();
        if still_covered {
            assert!(
                report.healthy(),
                "{role} without {removed} (covered by another grant): {:#?}",
                report.failures().collect::<Vec<_>>()
            );
        } else {
            assert!(
                names_the_removed_action(&report, removed),
                "{role} without {removed}: the doctor should name it: {:#?}",
                report.checks
            );
        }
        let evidence = match doctor_role {
            Role::Tagger => {
                // A new version of the metadata and its recording: not yet recorded, so processed.
                for key in [meta1(), rec1()] {
                    let body =
                        std::fs::read(workspace_root().join("samples/export").join(&key)).unwrap();
                    world.upload(&key, body).await.unwrap();
                }
                let settings = tagger_settings(&world, &keys, credentials(identity));
                let answer = match settings.services().await {
                    Err(e) => format!("settings refused: {e}"),
                    Ok(services) => match custody_tagger::handle(
                        &services,
                        &world.s3_put_event(&meta1()).unwrap(),
                        &invoker(&format!("lp-without-{n}")),
                    )
                    .await
                    {
                        Ok(response) => response.to_string(),
                        Err(e) => format!("error: {e}"),
                    },
                };
                integrate(&world, &keys, admin()).await;
                let current = [
                    world.versions[&meta1()].clone(),
                    world.versions[&rec1()].clone(),
                ];
                let denied: Vec<CustodyRecord> = records(&world)
                    .await
                    .into_iter()
                    .filter(|r| {
                        r.what
                            .version_id
                            .as_ref()
                            .is_some_and(|v| current.contains(v))
                    })
                    .filter(|r| {
                        r.outcome.error.as_ref().and_then(|e| e.code.as_deref())
                            == Some("AccessDenied")
                    })
                    .collect();
                for r in &denied {
                    let hint = r
                        .outcome
                        .error
                        .as_ref()
                        .and_then(|e| e.likely_missing_permission.clone());
                    assert!(
                        hint.as_deref().is_some_and(|h| h.contains("s3:")),
                        "{role} without {removed}: an AccessDenied record without a permission hint: {r:#?}"
                    );
                }
                explained_records += denied.len();
                format!(
                    "{} explained AccessDenied record(s); response {}",
                    denied.len(),
                    answer.chars().take(160).collect::<String>()
                )
            }
            _ => {
                // The auditor function opens the ledger at start-up, then answers requests.
                let (status, text) = match try_auditor_ledger(&world, credentials(identity)).await {
                    Err(e) => (None, format!("start-up error: {e}")),
                    Ok(ledger) => {
                        let answer = custody_auditor::handle(&ledger, &verify_request()).await;
                        (Some(answer.status_code), answer.body)
                    }
                };
                if !still_covered {
                    assert_ne!(status, Some(200), "{role} without {removed}: {text}");
                    assert!(
                        text.contains("AccessDenied") || text.contains("403"),
                        "{role} without {removed}: the denial is not named: {text}"
                    );
                }
                format!(
                    "auditor: {} {}",
                    status.map_or("start-up error".to_string(), |s| format!(
                        "/verify answered {s}"
                    )),
                    text.chars().take(120).collect::<String>()
                )
            }
        };
        lines.push(format!(
            "{role:<8} without {removed:<70} doctor: {:<28} {evidence}",
            if still_covered {
                "healthy (still covered)".to_string()
            } else {
                format!("{} failure(s)", report.failures().count())
            }
        ));
    }
    println!("{}", lines.join("\n"));
    assert!(
        explained_records > 0,
        "no removal produced an explained AccessDenied record:\n{}",
        lines.join("\n")
    );
}
