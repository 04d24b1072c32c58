//! The custody report as one self-contained HTML page: no script, no network (a Content Security
//! Policy of `default-src 'none'` forbids any fetch), the CSS inline, laid out to print on A4 or
//! Letter. Every value from the ledger (keys are chosen by whoever wrote the export) goes
//! through maud's escaping; nothing is concatenated into markup by hand.
//!
//! Sections, in order: the verdict banner, the summary, one row per conversation
//! (`tr.conversation[data-conversation=<id>]`), each conversation's objects with their SHA-256
//! (`td.sha256`) and findings, the attestations, the signed checkpoint with its verification,
//! and the commands that re-check the report.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::model::{Conversation, CustodyReport};

const CSS: &str = r#"
:root { --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 2rem auto; max-width: 72rem; padding: 0 1.5rem; background: #fff; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; border-bottom: 2px solid var(--line); padding-bottom: .2rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .3rem; }
.meta { color: var(--muted); margin: 0 0 1rem; }
.banner { padding: .8rem 1rem; border-radius: 6px; font-weight: 600; margin: 1rem 0; border: 2px solid; }
.banner.ok { background: #dafbe1; border-color: var(--ok); color: #0f5323; }
.banner.warn { background: #fff8c5; border-color: var(--warn); color: #4d2d00; }
.banner.bad { background: #ffebe9; border-color: var(--bad); color: #82071e; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; }
th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .sha256, .id, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.sha256, .id, .key { word-break: break-all; }
.finding { color: var(--bad); }
.none { color: var(--muted); }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: .6rem; white-space: pre-wrap; word-break: break-all; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1.2rem; margin: 0; }
dl.summary dt { color: var(--muted); }
dl.summary dd { margin: 0; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { break-after: avoid; }
  tr, .banner, pre { break-inside: avoid; }
  .banner { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

/// The page.
pub fn render(report: &CustodyReport) -> String {
    let v = &report.verification;
    let banner = if !v.holds() {
        "bad"
    } else if v.unpinned {
        "warn"
    } else {
        "ok"
    };
    let title = format!(
        "Custody report: {} {}",
        report.subject.kind.replace('_', " "),
        report.subject.value
    );
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                h1 { (title) }
                p.meta {
                    "Ledger " code { (report.ledger) } " (origin " code { (report.origin) } "), made "
                    (report.generated_at) " by custody " (report.tool_version) "."
                }
                div class={ "banner " (banner) } id="verdict" {
                    "Ledger verification: " (v.headline)
                    @if v.checkpoint_signed_by.is_none() { br; "The newest checkpoint's signature was NOT verified." }
                    @if !v.attestation_failures.is_empty() { br; (v.attestation_failures.len()) " attestation(s) do NOT hold." }
                }
                (summary(report))
                (conversations(report))
                @for c in &report.conversations { (conversation_detail(c)) }
                (attestations(report))
                (checkpoint(report))
                h2 { "Re-verify independently" }
                p { "Each command below re-checks part of this report with nothing but the ledger, the public keys and the export bucket." }
                @for r in &report.reverify {
                    h3 { (r.purpose) }
                    pre.command { (r.command) }
                }
            }
        }
    };
    page.into_string()
}

fn summary(report: &CustodyReport) -> Markup {
    let s = &report.summary;
    html! {
        h2 { "Summary" }
        dl.summary id="summary" {
            dt { "Conversations" } dd { (s.conversations) }
            dt { "Object versions" } dd { (s.objects) }
            dt { "Hashed" } dd { (s.hashed) " (" (s.bytes) " bytes)" }
            dt { "Under legal hold" } dd { (s.held) @if s.released > 0 { ", " (s.released) " released" } }
            dt { "Findings" } dd {
                @if s.findings.is_empty() { span.none { "none" } }
                @for (kind, n) in &s.findings { span.finding { (kind) " " (n) } " " }
            }
            dt { "Records" } dd { (s.records)
                @if let (Some(first), Some(last)) = (&s.first_at, &s.last_at) { ", " (first) " to " (last) } }
            dt { "Matters" } dd { (s.matters.join(", ")) }
            @if !s.export_jobs.is_empty() { dt { "Export jobs" } dd { (s.export_jobs.join(", ")) } }
        }
    }
}

fn conversations(report: &CustodyReport) -> Markup {
    html! {
        h2 { "Conversations" }
        table id="conversations" {
            thead { tr { th { "Conversation" } th { "Objects" } th { "Hashed" } th { "Held" } th { "Marks" } th { "Matters" } th { "Findings" } th { "Attestation (SHA-256)" } } }
            tbody {
                @for c in &report.conversations {
                    tr.conversation data-conversation=(c.conversation_id) {
                        td.id { a href={ "#c-" (c.conversation_id) } { (c.conversation_id) } }
                        td.num { (c.objects.len()) }
                        td.num { (c.objects.iter().filter(|o| o.sha256.is_some()).count()) }
                        td.num { (c.objects.iter().filter(|o| o.held).count()) }
                        td { (c.marks.join(", ")) }
                        td { (c.matters.join(", ")) }
                        td { @if c.findings.is_empty() { span.none { "none" } } @else { span.finding { (c.findings.len()) } } }
                        td.sha256 { @if let Some(d) = &c.attestation { (d) } @else { span.none { "not attested" } } }
                    }
                }
            }
        }
    }
}

fn conversation_detail(c: &Conversation) -> Markup {
    html! {
        section.conversation-detail id={ "c-" (c.conversation_id) } {
            h3 { "Conversation " (c.conversation_id) }
            p.meta { "Folder " code.key { (c.folder) } ", " (c.records) " record(s)." }
            table.objects {
                thead { tr { th { "Object" } th { "Version" } th { "Bytes" } th { "SHA-256" } th { "Hold" } } }
                tbody {
                    @for o in &c.objects {
                        tr.object data-key=(o.key) {
                            td.key { (o.name) }
                            td.id { (o.version_id.as_deref().unwrap_or("null")) }
                            td.num { @if let Some(size) = o.size { (size) } }
                            td.sha256 { @if let Some(d) = &o.sha256 { (d) } @else { span.finding { "not hashed" } } }
                            td { @if o.released { "released" } @else if o.held { "held" } @else { span.none { "not held" } } }
                        }
                    }
                }
            }
            @if !c.findings.is_empty() {
                table.findings {
                    thead { tr { th { "Finding" } th { "Object" } th { "Detail" } th { "Recorded" } th { "Block / leaf" } } }
                    tbody {
                        @for f in &c.findings {
                            tr.finding-row {
                                td.finding { (f.event) }
                                td.key { (f.key) @if let Some(v) = &f.version_id { " @ " (v) } }
                                td { (f.detail) }
                                td { (f.at) }
                                td.num { (f.block) " / " (f.leaf_index) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn attestations(report: &CustodyReport) -> Markup {
    html! {
        h2 { "Attestations" }
        p { "Each attestation is a signed statement, in the ledger, of everything one conversation folder contained; "
            code { "custody verify" } " checks it against the records it summarises." }
        @if report.attestations.is_empty() { p.none { "No attestation names this " (report.subject.kind.replace('_', " ")) "." } }
        @else {
            table id="attestations" {
                thead { tr { th { "Scope" } th { "Present" } th { "Missing" } th { "Unreferenced" } th { "Digest (SHA-256)" } th { "Record" } th { "Block / leaf" } } }
                tbody {
                    @for a in &report.attestations {
                        tr.attestation {
                            td.key { (a.scope) }
                            td.num { (a.present) } td.num { (a.missing) } td.num { (a.unreferenced) }
                            td.sha256 { (a.digest) }
                            td.id { (a.record_id) }
                            td.num { (a.block) " / " (a.leaf_index) }
                        }
                    }
                }
            }
        }
    }
}

fn checkpoint(report: &CustodyReport) -> Markup {
    let v = &report.verification;
    html! {
        h2 { "Signed checkpoint" }
        dl.summary id="checkpoint" {
            dt { "Verdict" } dd { strong { (v.headline) } }
            dt { "Blocks / records" } dd { (v.blocks) " / " (v.records) ", tree size " (v.tree_size) }
            @if let Some(root) = &v.root { dt { "Merkle root" } dd.sha256 { (root) } }
            dt { "Trusted keys" } dd { @if v.unpinned { strong.finding { "UNPINNED: " } } (v.trusted_keys.join(", ")) }
            dt { "Newest block" } dd { @if let Some(b) = v.checkpoint_block { (b) } @else { span.none { "none" } } }
            dt { "Checkpoint signature" } dd {
                @if let Some(signer) = &v.checkpoint_signed_by { "verified, signed by " code { (signer) } }
                @else { strong.finding { "NOT verified" } @if let Some(p) = &v.checkpoint_problem { ": " (p) } }
            }
            dt { "Attestations" } dd { (v.attestations_checked) " checked, " (v.attestation_failures.len()) " failure(s)" }
            @if let Some(e) = &v.error { dt { "Error" } dd.finding { (e) } }
        }
        @for f in v.failures.iter().chain(&v.attestation_failures) { p.finding { (f) } }
        @if let Some(note) = &v.checkpoint { pre id="checkpoint-note" { (note) } }
    }
}
