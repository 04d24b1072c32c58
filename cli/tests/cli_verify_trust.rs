//! `custody verify` as an auditor relies on it (issue 11): which checkpoint it saves, where the
//! origin comes from, how loudly it says the keys were not pinned, and what an empty ledger is.
//! Ledgers come from `custody demo` (offline, in a temporary folder).

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::run;

/// A demo ledger: the folder, its published verifier key file, and the block files.
struct Demo {
    work: tempfile::TempDir,
    ledger: String,
    vkey: String,
}

impl Demo {
    fn new() -> Demo {
        let work = tempfile::tempdir().unwrap();
        let dir = work.path().join("demo");
        run(&["demo", "--workdir", &dir.display().to_string()], 0);
        let ledger = dir.join("ledger");
        let vkey = std::fs::read_dir(ledger.join("keys"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        Demo {
            ledger: ledger.display().to_string(),
            vkey: vkey.display().to_string(),
            work,
        }
    }

    fn blocks(&self) -> Vec<PathBuf> {
        let mut blocks: Vec<PathBuf> = std::fs::read_dir(Path::new(&self.ledger).join("blocks"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        blocks.sort();
        blocks
    }

    fn file(&self, name: &str) -> String {
        self.work.path().join(name).display().to_string()
    }

    fn origin(&self) -> String {
        let text = std::fs::read_to_string(&self.vkey).unwrap();
        text.split('+').next().unwrap().to_string()
    }
}

#[test]
fn a_checkpoint_is_saved_only_when_the_ledger_is_intact() {
    let d = Demo::new();
    let first = d.file("first.checkpoint");
    run(
        &[
            "verify",
            &d.ledger,
            "--key",
            &d.vkey,
            "--save-checkpoint",
            &first,
        ],
        0,
    );
    assert!(Path::new(&first).is_file());
    std::fs::remove_file(d.blocks().last().unwrap()).unwrap();
    let second = d.file("second.checkpoint");
    let (_, err) = run(
        &[
            "verify",
            &d.ledger,
            "--key",
            &d.vkey,
            "--pinned",
            &first,
            "--save-checkpoint",
            &second,
        ],
        1,
    );
    assert!(
        !Path::new(&second).exists(),
        "a truncated tree's checkpoint was saved"
    );
    assert!(err.contains("not saved"), "{err}");
    run(
        &["verify", &d.ledger, "--key", &d.vkey, "--pinned", &first],
        1,
    );
}

#[test]
fn keys_of_several_names_need_the_origin_from_the_auditor() {
    let d = Demo::new();
    let other = d.file("other");
    run(
        &["keygen", "--origin", "other.test/ledger", "--out", &other],
        0,
    );
    let other_vkey = std::fs::read_dir(&other)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "vkey"))
        .unwrap()
        .display()
        .to_string();
    let two = ["verify", &d.ledger, "--key", &d.vkey, "--key", &other_vkey];
    let (_, err) = run(&two, 2);
    assert!(err.contains("--origin"), "{err}");
    let origin = d.origin();
    let mut with_origin = two.to_vec();
    with_origin.extend(["--origin", &origin]);
    run(&with_origin, 0);
    let mut wrong_origin = two.to_vec();
    wrong_origin.extend(["--origin", "other.test/ledger"]);
    let (out, _) = run(&wrong_origin, 1);
    assert!(out.contains("[checkpoint]"), "{out}");
}

#[test]
fn without_pinned_keys_the_verdict_says_unpinned_and_require_pinned_refuses() {
    let d = Demo::new();
    let (out, _) = run(&["verify", &d.ledger], 0);
    assert!(
        out.contains("INTACT (UNPINNED: trusting keys published in the bucket)"),
        "{out}"
    );
    let (json, _) = run(&["verify", &d.ledger, "--json"], 0);
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["trust"], "published-keys");
    assert_eq!(json["verdict"], "intact");
    run(&["verify", &d.ledger, "--require-pinned"], 2);
    let (json, _) = run(&["verify", &d.ledger, "--require-pinned", "--json"], 2);
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["verdict"], "could_not_run");
    let (out, _) = run(
        &["verify", &d.ledger, "--key", &d.vkey, "--require-pinned"],
        0,
    );
    assert!(out.contains("INTACT: every check passed"), "{out}");
}

#[test]
fn an_empty_ledger_is_empty_and_truncation_against_a_pin() {
    let d = Demo::new();
    let pin = d.file("pin.checkpoint");
    run(
        &[
            "verify",
            &d.ledger,
            "--key",
            &d.vkey,
            "--save-checkpoint",
            &pin,
        ],
        0,
    );
    for block in d.blocks() {
        std::fs::remove_file(block).unwrap();
    }
    let (out, _) = run(&["verify", &d.ledger, "--key", &d.vkey], 0);
    assert!(out.contains("EMPTY"), "{out}");
    let (json, _) = run(&["verify", &d.ledger, "--key", &d.vkey, "--json"], 0);
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["verdict"], "empty");
    let (json, _) = run(
        &[
            "verify", &d.ledger, "--key", &d.vkey, "--pinned", &pin, "--json",
        ],
        1,
    );
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["verdict"], "tampered");
    assert_eq!(json["failures"][0]["check"], "consistency");
    assert_eq!(json["failures"][0]["leaf"], Value::Null);
}

/// Tiles published beside the demo ledger, as the integrator does after each block.
fn publish_tiles(d: &Demo) {
    let store = custody_core::store::open_folder(&d.ledger).unwrap();
    let config = custody_core::ledger::LedgerConfig::new(d.origin());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ledger = custody_core::ledger::Ledger::open(store, "", config, None)
            .await
            .unwrap();
        custody_core::ledger::tiles::catch_up(&ledger)
            .await
            .unwrap();
    });
}

#[test]
fn a_pinned_checkpoint_is_checked_with_the_tiles() {
    let d = Demo::new();
    let pinned = d.file("pinned.checkpoint");
    run(
        &[
            "verify",
            &d.ledger,
            "--key",
            &d.vkey,
            "--save-checkpoint",
            &pinned,
        ],
        0,
    );
    let quick = [
        "verify", &d.ledger, "--key", &d.vkey, "--pinned", &pinned, "--tiles",
    ];
    // The integrator published the tiles with every block.
    let (out, _) = run(&quick, 0);
    assert!(out.starts_with("CONSISTENT (pinned-keys)"), "{out}");
    // Without the tiles' checkpoint: no verdict, until the tiles are caught up again.
    std::fs::remove_file(std::path::Path::new(&d.ledger).join("checkpoint")).unwrap();
    let (_, err) = run(&quick, 2);
    assert!(err.contains("checkpoint is missing"), "{err}");

    publish_tiles(&d);
    let (out, _) = run(&quick, 0);
    assert!(out.starts_with("CONSISTENT (pinned-keys)"), "{out}");
    let mut json = quick.to_vec();
    json.push("--json");
    let (out, _) = run(&json, 0);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["verdict"], "consistent", "{out}");

    // The newest block removed: the ledger no longer reaches the pinned checkpoint.
    std::fs::remove_file(d.blocks().last().unwrap()).unwrap();
    let (out, _) = run(&quick, 1);
    assert!(
        out.starts_with("TAMPERED") && out.contains("truncated"),
        "{out}"
    );
    // --tiles without --pinned is a usage error.
    run(&["verify", &d.ledger, "--tiles"], 2);
}
