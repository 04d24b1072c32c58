//! How `custody ingest` shows a run: per-object lines and the run's summary, or JSON.

use custody_core::hold::StepResult;
use custody_core::ingest::IngestReport;

fn step_text(result: &StepResult) -> &'static str {
    match result {
        StepResult::Applied { .. } => "applied",
        StepResult::AlreadyPresent { .. } => "already present",
        StepResult::NotDone => "NOT DONE",
    }
}

/// Per-object lines, then the run's summary.
pub fn print_report(report: &IngestReport) {
    println!("source: {}", report.source);
    for (outcome, digest) in report.hold.outcomes.iter().zip(&report.digests) {
        let observed = &outcome.observed;
        let version = observed.version_id.as_deref().unwrap_or("null");
        println!("  {} @ {version}", observed.key);
        if let Some(Ok(digest)) = digest {
            println!("      sha256 {} ({} bytes)", digest.sha256_hex, digest.size);
        }
        if outcome.held {
            let steps: Vec<String> = outcome
                .steps
                .iter()
                .map(|s| format!("{} {}", s.mechanism.as_str(), step_text(&s.result)))
                .collect();
            let matters = if outcome.matters.is_empty() {
                String::new()
            } else {
                format!(" for {}", outcome.matters.join(", "))
            };
            println!("      hold{matters}: {}", steps.join(", "));
        }
        for finding in &outcome.findings {
            println!("      ! {}", finding);
        }
    }
    for rejected in &report.hold.rejected_entries {
        println!("  ! manifest entry rejected: {rejected}");
    }
    match &report.ledger {
        Ok(outcome) => println!(
            "ledger: {} record(s) appended{}, {} already present, tree size {}",
            outcome.appended.len(),
            outcome
                .block
                .map(|b| format!(" in block {b}"))
                .unwrap_or_default(),
            outcome.already_present.len(),
            outcome.tree_size
        ),
        Err(e) => println!("ledger: NOT WRITTEN: {e}"),
    }
    println!("{}", report.summary());
}

pub fn report_json(report: &IngestReport) -> serde_json::Value {
    serde_json::json!({
        "source": report.source,
        "objects": report.hold.outcomes.iter().zip(&report.digests).map(|(o, d)| serde_json::json!({
            "key": o.observed.key,
            "version_id": o.observed.version_id,
            "held": o.held,
            "matters": o.matters,
            "steps": o.steps.iter().map(|s| serde_json::json!({
                "mechanism": s.mechanism.as_str(), "result": step_text(&s.result)
            })).collect::<Vec<_>>(),
            "new_version_id": o.new_version_id,
            "sha256": d.as_ref().and_then(|d| d.as_ref().ok()).map(|d| d.sha256_hex.clone()),
            "findings": o.findings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "ledger": match &report.ledger {
            Ok(outcome) => serde_json::to_value(outcome).unwrap_or_default(),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        },
    })
}
