//! `custody integrate`: the integrator on one machine. Folds every pending submission into the
//! ledger (`docs/ledger.md`, "Submissions and the integrator"), once or, with `--watch`, until
//! stopped. A second integrator started by mistake cannot fork the ledger: blocks are
//! create-only.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use clap::Args;
use custody_aws::services::{self, Settings};
use custody_core::ledger::IntegrateOutcome;

use crate::store_flags::StoreFlags;

#[derive(Args, Debug)]
pub struct IntegrateArgs {
    /// The ledger: s3://bucket/prefix or a folder.
    pub ledger: String,
    #[arg(long, env = services::ENV_LEDGER_ORIGIN)]
    pub origin: Option<String>,
    /// The Ed25519 signing key: arn:aws:secretsmanager:…, env:VAR, file:PATH or a path.
    #[arg(long)]
    pub signing_key: String,
    /// Keep integrating as submissions arrive, until interrupted (or `--for` is over).
    #[arg(long)]
    pub watch: bool,
    /// With --watch: the pause between two rounds that found nothing, in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub interval_ms: u64,
    /// Stop after this many seconds.
    #[arg(long = "for")]
    pub for_secs: Option<u64>,
    /// One JSON object per round instead of a line of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreFlags,
}

/// Exit 0 when nothing is left pending that could be integrated, 1 when lines were refused (kept
/// under `rejected/`) or submissions are stuck, 2 when the ledger could not be written.
pub async fn integrate_cmd(args: IntegrateArgs) -> Result<ExitCode> {
    let settings = Settings {
        ledger: args.ledger.clone(),
        origin: args.origin.clone(),
        signing_key: Some(args.signing_key.clone()),
        s3_endpoint: args.store.endpoint_url.clone(),
        s3_path_style: args.store.path_style(),
        s3_region: args.store.region.clone(),
        ..Settings::default()
    };
    let ledger = settings
        .ledger_writer()
        .await
        .map_err(|e| anyhow!("{}: {}", e.setting, e.problem))?;
    let stop = args
        .for_secs
        .map(|s| Instant::now() + Duration::from_secs(s));
    let mut troubled = false;
    loop {
        let rounds = ledger.integrate_all(stop).await?;
        for round in rounds
            .iter()
            .filter(|r| !r.integrated.is_empty() || !r.problems.is_empty())
        {
            print_round(round, args.json)?;
            troubled |= !round.refused.is_empty() || !round.problems.is_empty();
        }
        let idle = rounds.iter().all(|r| r.integrated.is_empty());
        if !args.watch || stop.is_some_and(|s| Instant::now() >= s) {
            break;
        }
        if idle {
            tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
        }
    }
    ledger.save_identity_snapshot(true).await?;
    Ok(ExitCode::from(u8::from(troubled)))
}

fn print_round(round: &IntegrateOutcome, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(round)?);
        return Ok(());
    }
    println!(
        "integrated {} submission(s): {} record(s) appended, {} already present, block {}, tree size {}",
        round.integrated.len(),
        round.appended,
        round.already_present,
        round
            .block
            .map_or_else(|| "-".to_string(), |b| b.to_string()),
        round.tree_size
    );
    for refused in &round.refused {
        eprintln!(
            "custody: {} line {}: {} (kept under rejected/)",
            refused.submission, refused.line, refused.reason
        );
    }
    for problem in &round.problems {
        eprintln!("custody: left pending: {problem}");
    }
    Ok(())
}
