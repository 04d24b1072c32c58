//! `custody index LEDGER`: build the query index beside the ledger (docs/query.md), or bring it
//! up to the newest block; `--rebuild` indexes every block again, writing what is missing and
//! comparing what exists (the repair after postings were deleted).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use custody_aws::open;
use custody_aws::services::{self, Settings};
use custody_core::ledger::{Ledger, LedgerConfig};
use custody_core::query::{catch_up, rebuild};

use crate::store_flags::StoreFlags;

#[derive(Args, Debug)]
pub struct IndexArgs {
    /// The ledger: s3://bucket/prefix or a folder.
    pub ledger: String,
    #[arg(long, env = services::ENV_LEDGER_ORIGIN)]
    pub origin: Option<String>,
    /// Index every block from 0, whatever the markers say.
    #[arg(long)]
    pub rebuild: bool,
    #[command(flatten)]
    pub store: StoreFlags,
}

/// Print what was done as JSON; exit 1 when a block could not be indexed (named on standard
/// error), 0 otherwise.
pub async fn index_cmd(args: IndexArgs) -> Result<ExitCode> {
    let settings = Settings {
        s3_endpoint: args.store.endpoint_url.clone(),
        s3_path_style: args.store.path_style(),
        s3_region: args.store.region.clone(),
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
    let report = if args.rebuild {
        rebuild(&ledger).await?
    } else {
        catch_up(&ledger).await?
    };
    let created: u64 = report.indexed.iter().map(|b| b.created).sum();
    let skipped: usize = report.indexed.iter().map(|b| b.skipped.len()).sum();
    println!(
        "{}",
        serde_json::json!({
            "head": report.head,
            "covered_before": report.covered_before,
            "covered": report.covered,
            "blocks_indexed": report.indexed.len(),
            "blocks_already_indexed": report.already,
            "objects_created": created,
            "records_skipped": skipped,
            "failed": report.failed,
            "notes": report.notes,
        })
    );
    for failure in &report.failed {
        eprintln!("custody: block {}: {}", failure.block, failure.message);
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
