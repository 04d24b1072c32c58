//! The checks `custody verify` makes after the ledger itself is found intact: every attestation
//! against the records it summarises (always), and, with `--export`, the objects against what the
//! ledger says of them: `--rehash` re-reads every recorded version and compares its SHA-256
//! (`--record` appends a `verified` record for each unchanged one), `--holds` checks that every
//! recorded mark is still in place (`custody_core::audit`, `docs/records.md`).
//!
//! Exit status contribution: 1 when an attestation fails, a version changed or is gone, or a mark
//! is gone; 2 when a check could not be made (a version or a mark unreadable, the export not
//! openable, the `verified` records not appended).

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use custody_aws::open;
use custody_aws::s3::S3Options;
use custody_aws::secrets::load_signer;
use custody_core::audit::{RehashResult, check_attestations, check_holds, rehash_with_progress};
use custody_core::digest::HashOptions;
use custody_core::hold::RunContext;
use custody_core::ledger::{KeySource, Ledger};
use custody_core::store::ObjectStore;

use super::ingest::local_who;
use crate::verify_progress::VerifyDisplay;

const COULD_NOT_RUN: u8 = 2;

/// What `custody verify` compares with the objects themselves.
#[derive(Args, Debug, Default)]
pub struct ObjectChecks {
    /// The export the ledger speaks of (s3://bucket or a folder standing in for the bucket):
    /// needed by --rehash and --holds.
    #[arg(long, value_name = "SOURCE")]
    pub export: Option<String>,
    /// Re-read every recorded version from --export and compare its SHA-256 with the record.
    #[arg(long, requires = "export")]
    pub rehash: bool,
    /// Check that every recorded mark (tags, metadata copy, Object Lock legal hold) not released
    /// since is still in place on --export.
    #[arg(long, requires = "export")]
    pub holds: bool,
    /// With --rehash: append a signed `verified` record for each version found unchanged.
    #[arg(long, requires = "rehash", requires = "signing_key")]
    pub record: bool,
    /// With --record: the ledger's Ed25519 signing key (arn:aws:secretsmanager:…, env:VAR,
    /// file:PATH or a path).
    #[arg(long)]
    pub signing_key: Option<String>,
    /// A witness's public key (`custody witness keygen`); repeatable. Its largest cosigned
    /// checkpoint must be one the ledger extends, else exit 1.
    #[arg(long = "witness-key", value_name = "VKEY")]
    pub witness_keys: Vec<std::path::PathBuf>,
}

/// Run the checks on an intact ledger; print what they found (to standard error with `--json`,
/// whose standard output is the verification report); the exit status they call for.
pub async fn after_intact(
    ledger: &Ledger,
    checks: &ObjectChecks,
    s3: &S3Options,
    json: bool,
    quiet: bool,
) -> u8 {
    let say = |text: String| {
        if json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    };
    let mut code = 0;
    match check_attestations(ledger).await {
        Ok(checked) => {
            say(format!(
                "attestations: {} checked, {} failure(s)",
                checked.checked,
                checked.failures.len()
            ));
            for f in &checked.failures {
                say(format!(
                    "  [attestation] block {} leaf {} record {}: {}",
                    f.block, f.leaf_index, f.record_id, f.problem
                ));
            }
            if !checked.failures.is_empty() {
                code = 1;
            }
        }
        Err(e) => {
            eprintln!("error: checking attestations: {e}");
            code = COULD_NOT_RUN;
        }
    }
    if !checks.witness_keys.is_empty() {
        let witnessed = super::witness::check_witnesses(ledger, &checks.witness_keys, &say).await;
        code = code.max(witnessed);
    }
    if !(checks.rehash || checks.holds) {
        return code;
    }
    let location = checks.export.as_deref().expect("clap requires --export");
    let export = match open(location, s3).await {
        Ok(opened) => opened.store,
        Err(e) => {
            eprintln!("error: --export {location}: {e}");
            return COULD_NOT_RUN;
        }
    };
    if checks.rehash {
        code = code.max(rehash_check(ledger, &export, checks, quiet, &say).await);
    }
    if checks.holds {
        code = code.max(holds_check(ledger, &export, &say).await);
    }
    code
}

async fn rehash_check(
    ledger: &Ledger,
    export: &Arc<dyn ObjectStore>,
    checks: &ObjectChecks,
    quiet: bool,
    say: &impl Fn(String),
) -> u8 {
    let mut ctx = RunContext::new(format!(
        "custody verify --rehash --export {}",
        export.location()
    ));
    ctx.who = local_who();
    let reads: Arc<dyn custody_core::store::StoreRead> = export.clone();
    let display = VerifyDisplay::start(quiet, "verify --rehash");
    let rehashed = rehash_with_progress(
        ledger,
        reads,
        HashOptions::default(),
        checks.record.then_some(&ctx),
        Some(display.counters()),
    )
    .await;
    display.finish();
    let report = match rehashed {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: rehashing: {e}");
            return COULD_NOT_RUN;
        }
    };
    say(format!(
        "rehash: {} recorded version(s) re-read, {} unchanged, {} problem(s)",
        report.checked,
        report.unchanged,
        report.problems.len()
    ));
    let mut code = 0;
    for p in &report.problems {
        let version = p.version_id.as_deref().unwrap_or("null");
        let (tag, what) = match &p.result {
            RehashResult::Changed { actual_sha256 } => {
                code = code.max(1);
                (
                    "changed",
                    format!(
                        "recorded sha256 {}, content now {actual_sha256}",
                        p.recorded_sha256
                    ),
                )
            }
            RehashResult::Gone { message } => {
                code = code.max(1);
                ("gone", message.clone())
            }
            RehashResult::NotChecked { message } => {
                code = COULD_NOT_RUN;
                ("not checked", message.clone())
            }
            RehashResult::Unchanged => continue,
        };
        say(format!(
            "  [rehash] {} @ {version} ({tag}; hashed record {}): {what}",
            p.key, p.record_id
        ));
    }
    if checks.record && !report.verified_records.is_empty() {
        match record_verified(ledger, checks, report.verified_records).await {
            Ok((appended, present)) => say(format!(
                "rehash: {appended} verified record(s) appended, {present} already present"
            )),
            Err(e) => {
                eprintln!("error: --record: {e:#}");
                code = COULD_NOT_RUN;
            }
        }
    }
    code
}

/// Append the `verified` records through a writer of the same ledger
/// ([`Ledger::with_signer`]: the verifier's handle has no key).
async fn record_verified(
    ledger: &Ledger,
    checks: &ObjectChecks,
    records: Vec<custody_core::ledger::CustodyRecord>,
) -> Result<(usize, usize)> {
    let spec = checks
        .signing_key
        .as_deref()
        .ok_or_else(|| anyhow!("--signing-key is required"))?;
    let signer = load_signer(&KeySource::parse(spec))
        .await
        .map_err(|e| anyhow!("--signing-key: {e}"))?;
    let writer = ledger
        .with_signer(signer)
        .await
        .context("opening the ledger to write")?;
    let appended = writer.append(records).await?;
    Ok((appended.appended.len(), appended.already_present.len()))
}

async fn holds_check(ledger: &Ledger, export: &Arc<dyn ObjectStore>, say: &impl Fn(String)) -> u8 {
    let report = match check_holds(ledger, export.as_ref()).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: checking holds: {e}");
            return COULD_NOT_RUN;
        }
    };
    say(format!(
        "holds: {} recorded mark(s) checked, {} gone or unreadable",
        report.checked,
        report.gone.len()
    ));
    let mut code = 0;
    for gone in &report.gone {
        code = code.max(if gone.seen_gone { 1 } else { COULD_NOT_RUN });
        say(format!(
            "  [holds] {} @ {} {} for {} ({}; hold_applied record {}): {}",
            gone.key,
            gone.version_id.as_deref().unwrap_or("null"),
            gone.mechanism,
            gone.matter.as_deref().unwrap_or("(no matter)"),
            if gone.seen_gone { "gone" } else { "unreadable" },
            gone.record_id,
            gone.problem
        ));
    }
    code
}
