//! `custody report`: what an auditor hands over for a matter, a conversation or an export job.
//! The ledger's records about it (every block read), summarised per conversation with the
//! objects' digests, the hold marks and the findings; the attestations; the newest signed
//! checkpoint with the whole ledger's verification against the trusted keys; and the commands
//! that re-check all of it independently. As one self-contained HTML page (`html`) or the same
//! content as JSON (`model`).
//!
//! | module | concept |
//! |---|---|
//! | `model` | the report's content, built from the records |
//! | `verification` | the ledger verified, the checkpoint and its signature |
//! | `select` | the records the report covers |
//! | `reverify` | the commands that re-check the report |
//! | `html` | the HTML page |
//!
//! Exit status: 0 the report was written and the ledger verified intact against its
//! checkpoint; 1 the report was written but does not hold (tampered ledger, a checkpoint no
//! trusted key signed, an attestation that does not hold), or no record names the subject (no
//! report); 2 could not run.

mod html;
mod model;
mod reverify;
mod select;
mod verification;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{SecondsFormat, Utc};
use clap::{ArgGroup, Args, ValueEnum};
use custody_core::query::RecordFilter;

use crate::ledger_cmds::{LedgerArgs, open_ledger};
use model::{CustodyReport, Subject};
use reverify::Reach;

/// The report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// One self-contained HTML page.
    Html,
    /// The same content as one JSON document.
    Json,
}

#[derive(Args)]
#[command(group(ArgGroup::new("subject").required(true).args(["matter", "conversation", "export_job"])))]
pub struct ReportArgs {
    #[command(flatten)]
    ledger: LedgerArgs,
    /// Report on a legal matter: every record that names it.
    #[arg(long)]
    matter: Option<String>,
    /// Report on one conversation.
    #[arg(long)]
    conversation: Option<String>,
    /// Report on one Genesys export job.
    #[arg(long)]
    export_job: Option<String>,
    #[arg(long, value_enum, default_value = "html")]
    format: ReportFormat,
    /// Write the report here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

impl ReportArgs {
    fn subject(&self) -> Subject {
        let (kind, value) = match (&self.matter, &self.conversation, &self.export_job) {
            (Some(m), _, _) => ("matter", m),
            (_, Some(c), _) => ("conversation", c),
            (_, _, Some(j)) => ("export_job", j),
            _ => unreachable!("clap requires one of --matter, --conversation, --export-job"),
        };
        Subject {
            kind,
            value: value.clone(),
        }
    }

    fn filter(&self) -> RecordFilter {
        RecordFilter {
            matter: self.matter.clone(),
            conversation: self.conversation.clone(),
            export_job: self.export_job.clone(),
            ..RecordFilter::default()
        }
    }
}

pub async fn report_cmd(args: ReportArgs) -> Result<ExitCode> {
    let subject = args.subject();
    let ledger = open_ledger(&args.ledger).await?;
    let matches = select::records_about(&ledger, &args.filter())
        .await
        .with_context(|| format!("reading the ledger {}", ledger.location()))?;
    if matches.is_empty() {
        eprintln!(
            "custody: no record of {} names {} {:?}: no report written",
            ledger.location(),
            subject.kind.replace('_', " "),
            subject.value
        );
        return Ok(ExitCode::from(1));
    }
    let (summary, conversations, attestations) = model::build(&matches);
    let verification = verification::verify_for_report(&ledger).await;
    let mut report = CustodyReport {
        subject,
        generated_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        ledger: args.ledger.ledger.clone(),
        origin: ledger.config().origin.clone(),
        summary,
        conversations,
        attestations,
        verification,
        reverify: Vec::new(),
    };
    let reach = Reach {
        ledger: &args.ledger.ledger,
        origin: &report.origin,
        keys: args
            .ledger
            .keys
            .iter()
            .map(|k| k.display().to_string())
            .collect(),
        endpoint: args.ledger.store.endpoint_url.as_deref(),
    };
    report.reverify = reverify::commands(&report, &reach);
    let text = match args.format {
        ReportFormat::Html => html::render(&report),
        ReportFormat::Json => format!("{}\n", serde_json::to_string_pretty(&report)?),
    };
    match &args.out {
        Some(path) => std::fs::write(path, &text)
            .with_context(|| format!("writing the report to {}", path.display()))?,
        None => print!("{text}"),
    }
    let v = &report.verification;
    eprintln!(
        "custody: report on {} {}: {} conversation(s), {} object version(s), {} finding(s), {} \
         attestation(s); ledger {}{}",
        report.subject.kind.replace('_', " "),
        report.subject.value,
        report.summary.conversations,
        report.summary.objects,
        report.summary.findings.values().sum::<usize>(),
        report.attestations.len(),
        v.headline,
        args.out
            .as_ref()
            .map(|p| format!("; written to {}", p.display()))
            .unwrap_or_default()
    );
    Ok(if v.holds() {
        ExitCode::SUCCESS
    } else {
        eprintln!("custody: the report does NOT hold: see its verification section");
        ExitCode::from(1)
    })
}
