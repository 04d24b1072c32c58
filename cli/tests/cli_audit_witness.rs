//! `custody verify --rehash/--holds/--record` (issue 10, item 5) and `custody witness` with
//! `verify --witness-key` (issue 14, item 5), run as an auditor would run them, with their exit
//! codes. The export is an unversioned folder of plain files (an export downloaded to disk).

use std::path::{Path, PathBuf};

mod common;
use common::{custody, run};

fn with_extension(dir: &Path, ext: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(ext))
        .unwrap_or_else(|| panic!("no *{ext} in {}", dir.display()))
}

const ORIGIN: &str = "custody.test/audit-cli";
const FOLDER: &str = "org-1/year=2024/month=05/day=02/hour=11/conversation_id=conv-a/";

/// An ingested folder export: the work folder, the export, the ledger, the key files.
struct Audited {
    work: tempfile::TempDir,
    export: String,
    ledger: String,
    key: String,
    vkey: String,
}

impl Audited {
    fn path(&self, name: &str) -> String {
        self.work.path().join(name).display().to_string()
    }

    fn ingest(&self) {
        run(
            &[
                "ingest",
                "--export",
                &self.export,
                "--prefix",
                "org-1/",
                "--ledger",
                &self.ledger,
                "--origin",
                ORIGIN,
                "--signing-key",
                &format!("file:{}", self.key),
                "--marking",
                "tags",
            ],
            0,
        );
    }
}

fn audited() -> Audited {
    let work = tempfile::tempdir().unwrap();
    let keys = work.path().join("keys");
    run(
        &[
            "keygen",
            "--origin",
            ORIGIN,
            "--out",
            &keys.display().to_string(),
        ],
        0,
    );
    let export = work.path().join("export");
    let folder = export.join(FOLDER);
    std::fs::create_dir_all(&folder).unwrap();
    for r in ["r1", "r2"] {
        std::fs::write(folder.join(format!("{r}.opus")), format!("audio {r}")).unwrap();
        std::fs::write(
            folder.join(format!("{r}.opus_metadata.json")),
            serde_json::json!({"conversationId": "conv-a", "recordingId": r}).to_string(),
        )
        .unwrap();
    }
    let audited = Audited {
        export: export.display().to_string(),
        ledger: work.path().join("ledger").display().to_string(),
        key: with_extension(&keys, ".key").display().to_string(),
        vkey: with_extension(&keys, ".vkey").display().to_string(),
        work,
    };
    audited.ingest();
    audited
}

#[test]
fn rehash_and_holds_compare_the_objects_with_the_ledger_and_record_what_held() {
    let a = audited();
    let verify = |extra: &[&str], exit: i32| {
        let mut args = vec!["verify", &a.ledger, "--key", &a.vkey];
        args.extend_from_slice(extra);
        run(&args, exit)
    };
    let (out, _) = verify(&["--rehash", "--holds", "--export", &a.export], 0);
    assert!(
        out.contains("rehash: 4 recorded version(s) re-read, 4 unchanged, 0 problem(s)"),
        "{out}"
    );
    assert!(
        out.contains("holds:") && out.contains(", 0 gone or unreadable"),
        "{out}"
    );

    // --record needs the signing key; it appends one `verified` record per unchanged version,
    // once: a second --record at another time is another check, so another record.
    let (_, err) = {
        let output = custody(&[
            "verify", &a.ledger, "--key", &a.vkey, "--rehash", "--export", &a.export, "--record",
        ]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "--record without --signing-key is a usage error"
        );
        (
            String::new(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert!(err.contains("--signing-key"), "{err}");
    let (out, _) = verify(
        &[
            "--rehash",
            "--export",
            &a.export,
            "--record",
            "--signing-key",
            &a.key,
        ],
        0,
    );
    assert!(out.contains("4 verified record(s) appended"), "{out}");
    let (found, _) = run(&["query", &a.ledger, "--event", "verified"], 0);
    assert_eq!(
        found.lines().filter(|l| l.contains("\"verified\"")).count(),
        4,
        "{found}"
    );

    // One changed byte: exit 1, the key and both digests named.
    let changed = Path::new(&a.export).join(FOLDER).join("r1.opus");
    let mut bytes = std::fs::read(&changed).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&changed, bytes).unwrap();
    let (out, _) = verify(&["--rehash", "--export", &a.export], 1);
    assert!(
        out.contains(&format!("[rehash] {FOLDER}r1.opus @ null (changed;")),
        "{out}"
    );
    assert!(out.contains("1 problem(s)"), "{out}");

    // --rehash without --export: a usage error naming the flag.
    let output = custody(&["verify", &a.ledger, "--key", &a.vkey, "--rehash"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--export"));
}

#[test]
fn a_witness_cosigns_what_extends_its_state_and_refuses_a_rollback() {
    let a = audited();
    let wkeys = a.path("witness-keys");
    run(
        &[
            "witness",
            "keygen",
            "--name",
            "witness.test/w1",
            "--out",
            &wkeys,
        ],
        0,
    );
    let wkey = with_extension(Path::new(&wkeys), ".witness.key")
        .display()
        .to_string();
    let wvkey = with_extension(Path::new(&wkeys), ".witness.vkey")
        .display()
        .to_string();
    let state = a.path("witness.state");
    let witnessed = |exit: i32| {
        run(
            &[
                "verify",
                &a.ledger,
                "--key",
                &a.vkey,
                "--witness-key",
                &wvkey,
            ],
            exit,
        )
        .0
    };

    // Not yet witnessed: verify --witness-key says so and exits 1.
    let out = witnessed(1);
    assert!(out.contains("NOT WITNESSED"), "{out}");

    let cosign_args = vec![
        "witness",
        "cosign",
        &a.ledger,
        "--key",
        &a.vkey,
        "--signing-key",
        &wkey,
        "--state",
        &state,
    ];
    let cosign = |extra: &[&str], exit: i32| {
        let mut args = cosign_args.clone();
        args.extend_from_slice(extra);
        run(&args, exit)
    };
    // The first run needs --init (trust on first use); without it, it refuses to start.
    let output = custody(&cosign_args);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--init"));
    let (out, _) = cosign(&["--init"], 0);
    assert!(out.starts_with("COSIGNED: tree size"), "{out}");
    let out = witnessed(0);
    assert!(out.contains("WITNESSED up to tree size"), "{out}");

    // The ledger grows (a new file, a new run): the witness cosigns the extension.
    std::fs::write(
        Path::new(&a.export).join(FOLDER).join("r3.opus"),
        "audio r3",
    )
    .unwrap();
    std::fs::write(
        Path::new(&a.export)
            .join(FOLDER)
            .join("r3.opus_metadata.json"),
        serde_json::json!({"conversationId": "conv-a", "recordingId": "r3"}).to_string(),
    )
    .unwrap();
    a.ingest();
    let (out, _) = cosign(&[], 0);
    assert!(
        out.contains("COSIGNED") && out.contains("from tree size"),
        "{out}"
    );
    let (out, _) = cosign(&[], 0);
    assert!(out.starts_with("already cosigned"), "{out}");

    // Someone rolls the ledger back (deletes the newest block): the witness refuses, exit 1,
    // and its state is unchanged; verify --witness-key is contradicted.
    let before = std::fs::read(&state).unwrap();
    let blocks = Path::new(&a.ledger).join("blocks");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&blocks)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    std::fs::remove_file(names.last().unwrap()).unwrap();
    let (out, _) = cosign(&[], 1);
    assert!(out.starts_with("REFUSED"), "{out}");
    assert_eq!(std::fs::read(&state).unwrap(), before, "the state is kept");
    let out = witnessed(1);
    assert!(out.contains("CONTRADICTED"), "{out}");
}
