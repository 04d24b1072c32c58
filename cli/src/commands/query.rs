//! `custody query`: what the ledger holds about a conversation, matter, key or recording.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use custody_aws::open;
use custody_aws::services::{self, Settings};
use custody_core::ledger::{Ledger, LedgerConfig};
use custody_core::query::{RecordFilter, find, parse_event};

use super::endpoint::Endpoint;

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The ledger: s3://bucket/prefix or a folder.
    pub ledger: String,
    #[arg(long, env = services::ENV_LEDGER_ORIGIN)]
    pub origin: Option<String>,
    #[arg(long)]
    pub conversation: Option<String>,
    #[arg(long)]
    pub matter: Option<String>,
    #[arg(long)]
    pub key: Option<String>,
    #[arg(long)]
    pub recording: Option<String>,
    /// observed, hold_applied, hashed, missing, unreferenced, mismatch, failed, …
    #[arg(long)]
    pub event: Option<String>,
    #[command(flatten)]
    pub endpoint: Endpoint,
}

/// Print every matching record as one JSON line (block, leaf index, record).
pub async fn query_cmd(args: QueryArgs) -> Result<ExitCode> {
    let settings = Settings {
        s3_endpoint: args.endpoint.endpoint_url.clone(),
        s3_path_style: args.endpoint.path_style,
        origin: args.origin.clone(),
        ..Settings::default()
    };
    let opened = open(&args.ledger, &settings.s3_options()).await?;
    let ledger = Ledger::open(
        opened.store,
        &opened.prefix,
        LedgerConfig::new(settings.origin()),
        None,
    )
    .await?;
    let filter = RecordFilter {
        conversation: args.conversation,
        matter: args.matter,
        key: args.key,
        recording: args.recording,
        event: args
            .event
            .as_deref()
            .map(parse_event)
            .transpose()
            .map_err(anyhow::Error::msg)?,
    };
    let found = find(&ledger, &filter).await?;
    for m in &found {
        println!("{}", serde_json::to_string(m)?);
    }
    eprintln!("{} record(s)", found.len());
    Ok(ExitCode::SUCCESS)
}
