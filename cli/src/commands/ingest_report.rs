//! How `custody ingest` shows a run: with `--verbose` one block per object (its version, digest,
//! hold steps and findings), then the findings as rows (`--output table|json|csv`), then a short
//! summary table; or everything as one JSON document (`--json`). Keys are shown relative to the
//! export prefix.
//!
//! ```text
//! findings:
//! KEY                                                    VERSION  KIND          FINDING
//! year=2024/…/conversation_id=c0ffee01-…/stray.opus      3HL4kq   unreferenced  no metadata names it
//!
//! objects            48
//! held               44 (M-1 and M-2)
//! ...
//! ledger: 127 record(s) appended, 0 already present, tree size 127 (...)
//! ```
//!
//! With `--output json` or `csv` the findings are the only thing on standard output; the
//! summary goes to standard error.

use std::fmt::Write as _;

use anyhow::Result;
use custody_core::hold::StepResult;
use custody_core::ingest::{IngestReport, Integration, SHOWN, human_bytes};

use crate::output::{OutputFormat, Rows, printable};

fn step_text(result: &StepResult) -> &'static str {
    match result {
        StepResult::Applied { .. } => "applied",
        StepResult::AlreadyPresent { .. } => "already present",
        StepResult::NotDone => "NOT DONE",
    }
}

/// How one run is shown.
#[derive(Debug, Clone)]
pub struct ReportView {
    /// The export prefix, stripped from keys shown.
    pub prefix: String,
    /// One block per object.
    pub verbose: bool,
    pub output: OutputFormat,
    /// How long the run took, for the duration and throughput rows.
    pub elapsed_secs: f64,
}

/// The run as `custody demo` shows it: the findings and the summary as tables.
pub fn print_report(report: &IngestReport) {
    let view = ReportView {
        prefix: String::new(),
        verbose: false,
        output: OutputFormat::Table,
        elapsed_secs: 0.0,
    };
    if let Err(e) = view.print(report) {
        eprintln!("custody: {e}");
    }
}

impl ReportView {
    fn relative(&self, key: &str) -> String {
        printable(key.strip_prefix(self.prefix.as_str()).unwrap_or(key))
    }

    /// Print the run: objects (verbose), findings, summary.
    pub fn print(&self, report: &IngestReport) -> Result<()> {
        let table = self.output == OutputFormat::Table;
        // Human text goes to standard output only when the rows are a table.
        let say = |text: &str| {
            if table {
                print!("{text}");
            } else {
                eprint!("{text}");
            }
        };
        say(&format!("source: {}\n", printable(&report.source)));
        if self.verbose {
            say(&self.objects(report));
        }
        let findings = self.finding_rows(report);
        if table {
            if !findings.is_empty() {
                println!("findings:");
                findings.print(OutputFormat::Table)?;
            }
        } else {
            findings.print(self.output)?;
        }
        if report.findings_not_shown > 0 {
            say(&format!(
                "... {} more finding(s) not listed (the first {SHOWN} are; the ledger holds them all)\n",
                report.findings_not_shown
            ));
        }
        for rejected in &report.rejected_entries {
            say(&format!(
                "! manifest entry rejected: {}\n",
                printable(rejected)
            ));
        }
        say(&self.summary(report));
        Ok(())
    }

    /// One block per object (the first [`SHOWN`]).
    fn objects(&self, report: &IngestReport) -> String {
        let mut out = String::new();
        for object in &report.shown_objects {
            let version = object.version_id.as_deref().unwrap_or("null");
            let _ = writeln!(
                out,
                "  {} @ {}",
                self.relative(&object.key),
                printable(version)
            );
            if let Some((sha256, size)) = &object.sha256 {
                let _ = writeln!(out, "      sha256 {sha256} ({size} bytes)");
            }
            if object.held {
                let steps: Vec<String> = object
                    .steps
                    .iter()
                    .map(|s| format!("{} {}", s.mechanism.as_str(), step_text(&s.result)))
                    .collect();
                let matters = if object.matters.is_empty() {
                    String::new()
                } else {
                    format!(" for {}", printable(&object.matters.join(", ")))
                };
                let _ = writeln!(out, "      hold{matters}: {}", steps.join(", "));
            }
            for finding in &object.findings {
                let _ = writeln!(out, "      ! {}", printable(&finding.to_string()));
            }
        }
        if report.objects > report.shown_objects.len() {
            let _ = writeln!(
                out,
                "  ... {} more object(s) not listed (the first {SHOWN} are)",
                report.objects - report.shown_objects.len()
            );
        }
        out
    }

    /// The findings listed in the report (the first [`SHOWN`]), one row each.
    pub fn finding_rows(&self, report: &IngestReport) -> Rows {
        let mut rows = Rows::new(vec!["key", "version", "kind", "finding"]);
        for shown in &report.shown_findings {
            let version = shown.version_id.clone();
            rows.push(
                vec![
                    self.relative(&shown.key),
                    printable(version.as_deref().unwrap_or("")),
                    shown.finding.kind().to_string(),
                    printable(&shown.finding.to_string()),
                ],
                serde_json::json!({
                    "key": shown.key,
                    "version_id": version,
                    "kind": shown.finding.kind(),
                    "finding": shown.finding.to_string(),
                }),
            );
        }
        rows
    }

    /// The summary table and the ledger's account.
    fn summary(&self, report: &IngestReport) -> String {
        if report.run_error.is_some() {
            return format!("{}\n", report.summary());
        }
        let mut rows = Rows::new(vec!["what", "count"]);
        let mut row = |what: &str, count: String| {
            rows.push(vec![what.to_string(), count], serde_json::Value::Null)
        };
        row("objects", report.objects.to_string());
        row("held", report.held.to_string());
        row(
            "hashed",
            format!(
                "{} ({})",
                report.hashed,
                human_bytes(report.bytes_hashed as f64)
            ),
        );
        row("already recorded", format!("{} (skipped)", report.skipped));
        let kinds: Vec<String> = report
            .findings_by_kind()
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        row(
            "findings",
            if kinds.is_empty() {
                "none".to_string()
            } else {
                format!(
                    "{} ({} object(s))",
                    kinds.join(", "),
                    report.objects_with_findings()
                )
            },
        );
        if let Ok(ledger) = &report.ledger {
            row(
                "records",
                match ledger.integration {
                    Integration::Inline => format!(
                        "{} appended, {} already present",
                        ledger.appended, ledger.already_present
                    ),
                    Integration::SubmitOnly => {
                        format!("{} submitted, left to the integrator", ledger.submitted)
                    }
                },
            );
        }
        if self.elapsed_secs > 0.0 {
            let secs = self.elapsed_secs;
            row("duration", format!("{secs:.1} s"));
            row(
                "throughput",
                format!(
                    "{:.1} objects/s, {}/s",
                    (report.objects + report.skipped) as f64 / secs,
                    human_bytes(report.bytes_hashed as f64 / secs)
                ),
            );
        }
        // Rows without a header: the table of a summary is its lines.
        let table = rows.render(OutputFormat::Table).unwrap_or_default();
        let mut out: String = table
            .lines()
            .skip(1)
            .map(|l| format!("{}\n", l.strip_prefix(' ').unwrap_or(l)))
            .collect();
        match &report.ledger {
            Ok(ledger) => {
                let _ = writeln!(
                    out,
                    "ledger: {ledger}{}",
                    ledger
                        .block
                        .map(|b| format!(" (newest block {b})"))
                        .unwrap_or_default()
                );
            }
            Err(e) => {
                let _ = writeln!(out, "ledger: NOT WRITTEN: {e}");
            }
        }
        out
    }
}

pub fn report_json(report: &IngestReport) -> serde_json::Value {
    serde_json::json!({
        "source": report.source,
        "objects": report.objects,
        "skipped": report.skipped,
        "held": report.held,
        "hashed": report.hashed,
        "bytes_hashed": report.bytes_hashed,
        "objects_with_findings": report.objects_with_findings,
        "findings": report.findings,
        "retries": report.retries_total,
        "shown_objects": report.shown_objects.iter().map(|o| serde_json::json!({
            "key": o.key,
            "version_id": o.version_id,
            "held": o.held,
            "matters": o.matters,
            "steps": o.steps.iter().map(|s| serde_json::json!({
                "mechanism": s.mechanism.as_str(), "result": step_text(&s.result)
            })).collect::<Vec<_>>(),
            "new_version_id": o.new_version_id,
            "sha256": o.sha256.as_ref().map(|(sha, _)| sha.clone()),
            "findings": o.findings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "shown_findings": report.shown_findings.iter().map(|f| serde_json::json!({
            "key": f.key, "version_id": f.version_id, "finding": f.finding.to_string(),
        })).collect::<Vec<_>>(),
        "findings_not_shown": report.findings_not_shown,
        "rejected_entries": report.rejected_entries,
        "records": report.records_total,
        "ledger": match &report.ledger {
            Ok(outcome) => serde_json::to_value(outcome).unwrap_or_default(),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        },
    })
}
