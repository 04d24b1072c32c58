//! How `custody ingest` shows a run: lines for the first objects (each with its findings), the
//! findings beyond them, the ledger's account, and the run's summary; or the same as JSON.

use custody_core::hold::StepResult;
use custody_core::ingest::{IngestReport, SHOWN};

fn step_text(result: &StepResult) -> &'static str {
    match result {
        StepResult::Applied { .. } => "applied",
        StepResult::AlreadyPresent { .. } => "already present",
        StepResult::NotDone => "NOT DONE",
    }
}

/// Lines for the first objects, then the run's summary.
pub fn print_report(report: &IngestReport) {
    println!("source: {}", report.source);
    for object in &report.shown_objects {
        let version = object.version_id.as_deref().unwrap_or("null");
        println!("  {} @ {version}", object.key);
        if let Some((sha256, size)) = &object.sha256 {
            println!("      sha256 {sha256} ({size} bytes)");
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
                format!(" for {}", object.matters.join(", "))
            };
            println!("      hold{matters}: {}", steps.join(", "));
        }
        for finding in &object.findings {
            println!("      ! {finding}");
        }
    }
    if report.objects > report.shown_objects.len() {
        println!(
            "  ... {} more object(s) not listed (the first {SHOWN} are)",
            report.objects - report.shown_objects.len()
        );
        // Findings of the objects not listed above, up to the report's bound.
        let listed = report.shown_objects.len();
        let findings_listed: usize = report.shown_objects.iter().map(|o| o.findings.len()).sum();
        for shown in report.shown_findings.iter().skip(findings_listed) {
            let version = shown.version_id.as_deref().unwrap_or("null");
            println!("  ! {} @ {version}: {}", shown.key, shown.finding);
        }
        if report.findings_not_shown > 0 {
            println!(
                "  ... {} more finding(s) not listed (the ledger holds them all; objects listed: {listed})",
                report.findings_not_shown
            );
        }
    }
    for rejected in &report.rejected_entries {
        println!("  ! manifest entry rejected: {rejected}");
    }
    if report.skipped > 0 {
        println!(
            "  {} object version(s) already recorded: skipped, not read",
            report.skipped
        );
    }
    match &report.ledger {
        Ok(ledger) => println!(
            "ledger: {ledger}{}",
            ledger
                .block
                .map(|b| format!(" (newest block {b})"))
                .unwrap_or_default()
        ),
        Err(e) => println!("ledger: NOT WRITTEN: {e}"),
    }
    println!("{}", report.summary());
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
