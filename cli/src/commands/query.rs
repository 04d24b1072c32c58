//! `custody query`: what the ledger holds about a conversation, matter, key or recording.
//! Answered from the query index beside the ledger (every cited record re-checked against its
//! block; blocks after the index scanned), or with `--exhaustive` by reading every block
//! (docs/query.md).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Args;
use custody_aws::open;
use custody_aws::services::{self, Settings};
use custody_core::ledger::{Ledger, LedgerConfig};
use custody_core::query::{Match, RecordFilter, find, find_indexed, parse_event};
use custody_core::store::counting::CountingStore;

use crate::output::{OutputFormat, Rows, printable};
use crate::store_flags::StoreFlags;

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
    /// The object key, exactly.
    #[arg(long)]
    pub key: Option<String>,
    /// Object keys starting with this (answered from the index when it contains a '/').
    #[arg(long)]
    pub key_prefix: Option<String>,
    #[arg(long)]
    pub recording: Option<String>,
    /// The Genesys export job the records name (not indexed: every block is scanned).
    #[arg(long)]
    pub export_job: Option<String>,
    /// observed, hold_applied, hashed, missing, unreferenced, mismatch, failed, …
    #[arg(long)]
    pub event: Option<String>,
    /// Records at or after this time (RFC 3339, e.g. 2024-05-01T00:00:00Z).
    #[arg(long)]
    pub since: Option<String>,
    /// Records before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// Ignore the query index and read every block: the exact answer, whatever happened to the
    /// index.
    #[arg(long)]
    pub exhaustive: bool,
    /// table (default on a terminal), json (one match per line: block, leaf index, record;
    /// the default otherwise) or csv.
    #[arg(long, value_enum)]
    pub output: Option<OutputFormat>,
    #[command(flatten)]
    pub store: StoreFlags,
}

fn parse_time(flag: &str, text: Option<&str>) -> Result<Option<DateTime<Utc>>> {
    text.map(|t| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .with_context(|| {
                format!("--{flag} {t:?} is not an RFC 3339 time (2024-05-01T00:00:00Z)")
            })
    })
    .transpose()
}

/// Print every matching record as a row (`--output`); on standard error, how it was answered and
/// what it read. Exit 0 when something matched, 1 when nothing did.
pub async fn query_cmd(args: QueryArgs) -> Result<ExitCode> {
    let settings = Settings {
        s3_endpoint: args.store.endpoint_url.clone(),
        s3_path_style: args.store.path_style(),
        s3_region: args.store.region.clone(),
        origin: args.origin.clone(),
        ..Settings::default()
    };
    let filter = RecordFilter {
        conversation: args.conversation,
        matter: args.matter,
        key: args.key,
        key_prefix: args.key_prefix,
        recording: args.recording,
        export_job: args.export_job,
        event: args
            .event
            .as_deref()
            .map(parse_event)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        since: parse_time("since", args.since.as_deref())?,
        until: parse_time("until", args.until.as_deref())?,
    };
    let opened = open(&args.ledger, &settings.s3_options()).await?;
    let counting = Arc::new(CountingStore::new(opened.store));
    let ledger = Ledger::open(
        counting.clone(),
        &opened.prefix,
        LedgerConfig::new(settings.origin()),
        None,
    )
    .await?;
    let found = if args.exhaustive {
        let found = find(&ledger, &filter).await?;
        eprintln!("{} record(s), every block read (--exhaustive)", found.len());
        found
    } else {
        let answer = find_indexed(&ledger, &filter).await?;
        for rejected in &answer.rejected {
            eprintln!(
                "custody: ignored posting {} (block {}, leaf {}): {}",
                rejected.posting,
                rejected
                    .block
                    .map_or_else(|| "?".to_string(), |b| b.to_string()),
                rejected
                    .leaf
                    .map_or_else(|| "?".to_string(), |l| l.to_string()),
                rejected.reason
            );
        }
        for note in &answer.plan.notes {
            eprintln!("custody: {note}");
        }
        let plan = &answer.plan;
        let how = match (&plan.index, plan.covered) {
            (Some(index), Some(covered)) => format!(
                "blocks 0..={covered} from the index ({index}: {} postings, {} records checked \
                 against their blocks), {} newer block(s) scanned",
                plan.postings_read, plan.records_checked, plan.blocks_scanned
            ),
            _ => format!("{} block(s) scanned", plan.blocks_scanned),
        };
        eprintln!("{} record(s); {how}", answer.matches.len());
        if !answer.rejected.is_empty() {
            eprintln!(
                "custody: {} posting(s) did not hold against the blocks: the index was altered; \
                 `custody query --exhaustive` gives the exact answer, `custody index --rebuild` \
                 repairs what is missing",
                answer.rejected.len()
            );
        }
        answer.matches
    };
    rows_of(&found)?.print(OutputFormat::resolve(args.output))?;
    let usage = counting.usage();
    eprintln!(
        "read {} bytes in {} requests ({} list, {} head, {} get of which {} ranged)",
        usage.bytes_read,
        usage.requests(),
        usage.lists,
        usage.heads,
        usage.gets,
        usage.ranged_gets
    );
    if found.is_empty() {
        eprintln!("custody: no record matched");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// One row per match: the table and CSV columns, and the match as stored for JSON.
fn rows_of(found: &[Match]) -> Result<Rows> {
    let mut rows = Rows::new(vec![
        "block",
        "leaf",
        "at",
        "event",
        "conversation",
        "key",
        "version",
        "sha256",
        "matter",
        "id",
    ]);
    for m in found {
        let r = &m.record;
        let text = |v: &Option<String>| printable(v.as_deref().unwrap_or(""));
        rows.push(
            vec![
                m.block.to_string(),
                m.leaf_index.to_string(),
                r.at.clone(),
                r.event.as_str().to_string(),
                text(&r.why.conversation_id),
                printable(&r.what.key),
                text(&r.what.version_id),
                text(&r.what.sha256),
                text(&r.why.matter),
                r.id.clone(),
            ],
            serde_json::to_value(m)?,
        );
    }
    Ok(rows)
}
