//! `custody release`: end a matter's legal hold on a conversation or a key, and record it.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use custody_aws::services::{self, Settings};
use custody_core::audit::{ReleaseResult, ReleaseScope, release};
use custody_core::hold::RunContext;

use super::ingest::local_who;
use crate::store_flags::StoreFlags;

#[derive(Args, Debug)]
pub struct ReleaseArgs {
    /// The export: s3://bucket or a folder standing in for the bucket.
    #[arg(long)]
    pub export: String,
    /// The ledger: s3://bucket/prefix or a folder.
    #[arg(long, env = services::ENV_LEDGER)]
    pub ledger: String,
    #[arg(long, env = services::ENV_LEDGER_ORIGIN)]
    pub origin: Option<String>,
    /// The Ed25519 signing key: arn:aws:secretsmanager:…, env:VAR, file:PATH or a path.
    #[arg(long)]
    pub signing_key: String,
    /// The matter whose hold ends.
    #[arg(long)]
    pub matter: String,
    /// Every object of this conversation id.
    #[arg(long, conflicts_with = "key", required_unless_present = "key")]
    pub conversation: Option<String>,
    /// One object key.
    #[arg(long)]
    pub key: Option<String>,
    /// Why the hold ends (recorded): e.g. "matter M-1 closed by order of 2026-11-30".
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub store: StoreFlags,
}

/// Exit 0 when every object the matter held was released, 1 when some were refused (another
/// matter still holds them) or nothing was held, 2 when a mark could not be removed or the
/// ledger could not be written.
pub async fn release_cmd(args: ReleaseArgs) -> Result<ExitCode> {
    if args.reason.trim().is_empty() {
        bail!("--reason: say why the hold ends; it is recorded");
    }
    let settings = Settings {
        export: args.export.clone(),
        ledger: args.ledger.clone(),
        origin: args.origin.clone(),
        hold_select: "all".to_string(),
        hold_marking: "tags".to_string(),
        signing_key: Some(args.signing_key.clone()),
        s3_endpoint: args.store.endpoint_url.clone(),
        s3_path_style: args.store.path_style(),
        s3_region: args.store.region.clone(),
        ..Settings::default()
    };
    let services = settings.services().await.map_err(|e| {
        let flag = match e.setting.as_str() {
            services::ENV_SIGNING_KEY_SECRET_ARN | services::ENV_SIGNING_KEY => "--signing-key",
            services::ENV_LEDGER => "--ledger",
            services::ENV_EXPORT_BUCKET => "--export",
            other => other,
        };
        anyhow::anyhow!("{flag}: {}", e.problem)
    })?;
    let scope = match (&args.conversation, &args.key) {
        (Some(c), _) => ReleaseScope::Conversation(c.clone()),
        (None, Some(k)) => ReleaseScope::Key(k.clone()),
        (None, None) => bail!("--conversation or --key: name what is released"),
    };
    let mut ctx = RunContext::new(format!("custody release --matter {}", args.matter));
    ctx.who = local_who();
    let report = release(
        &services.ledger,
        services.export.as_ref(),
        &args.matter,
        &scope,
        &args.reason,
        &ctx,
    )
    .await?;
    let (mut refused, mut failed) = (0, 0);
    for object in &report.objects {
        let version = object.version_id.as_deref().unwrap_or("null");
        match &object.result {
            ReleaseResult::Released { mechanisms } => {
                println!(
                    "released  {} @ {version}: {}",
                    object.key,
                    mechanisms.join(", ")
                )
            }
            ReleaseResult::Refused { other_matters } => {
                refused += 1;
                println!(
                    "REFUSED   {} @ {version}: still held for {}",
                    object.key,
                    other_matters.join(", ")
                )
            }
            ReleaseResult::Failed { mechanisms, error } => {
                failed += 1;
                println!(
                    "FAILED    {} @ {version}: released {:?} before: {error}",
                    object.key, mechanisms
                )
            }
        }
    }
    let appended = services.ledger.append(report.records.clone()).await?;
    println!(
        "{} object(s): {} hold_released record(s) appended, {} already present",
        report.objects.len(),
        appended.appended.len(),
        appended.already_present.len()
    );
    Ok(if failed > 0 {
        ExitCode::from(2)
    } else if refused > 0 || report.objects.is_empty() {
        if report.objects.is_empty() {
            eprintln!("custody: matter {} holds nothing there", args.matter);
        }
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
