//! `custody ingest`: the main job on an export, local or in S3.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use custody_aws::services::{self, Settings};
use custody_core::export::{Manifest, StartingPoint};
use custody_core::hold::RunContext;
use custody_core::ingest::{IngestReport, Integration, ingest};
use custody_core::ledger::Who;
use custody_core::store::ObjectStore;

use super::ingest_report::{ReportView, report_json};
use crate::output::OutputFormat;
use crate::progress::RunProgress;
use crate::store_flags::StoreFlags;

#[derive(Args, Debug)]
pub struct IngestArgs {
    /// The export: s3://bucket[/prefix] or a folder standing in for the bucket.
    #[arg(long)]
    pub export: String,
    /// Only this key prefix of the export is touched (the export scope).
    #[arg(long, env = services::ENV_EXPORT_PREFIX, default_value = "")]
    pub prefix: String,
    /// Start from one *_metadata.json key (default: every conversation under the prefix).
    #[arg(long, conflicts_with_all = ["conversation", "manifest"])]
    pub metadata: Option<String>,
    /// Start from one conversation folder (…/conversation_id=<id>/).
    #[arg(long, conflicts_with = "manifest")]
    pub conversation: Option<String>,
    /// Start from a manifest: the project's JSON format (a key in the export, or a local file),
    /// or an S3 Batch Operations CSV (a local file ending in .csv).
    #[arg(long)]
    pub manifest: Option<String>,
    /// The ledger: s3://bucket/prefix or a folder.
    #[arg(long, env = services::ENV_LEDGER)]
    pub ledger: String,
    /// The checkpoint origin (also the signing key's name).
    #[arg(long, env = services::ENV_LEDGER_ORIGIN)]
    pub origin: Option<String>,
    /// The Ed25519 signing key: arn:aws:secretsmanager:…, env:VAR, file:PATH or a path.
    #[arg(long)]
    pub signing_key: String,
    /// What is held: all | matters:<s3://bucket/key or path to a matter register> |
    /// field:<dotted.path>=<value> (e.g. field:participantData.legalHold=true).
    #[arg(long, env = services::ENV_HOLD_SELECT, default_value = "all")]
    pub hold: String,
    /// The marking, comma-separated: tags, metadata, object-lock (or all).
    #[arg(long, env = services::ENV_HOLD_MARKING, default_value = "tags")]
    pub marking: String,
    /// The matter named on holds when the selection names none.
    #[arg(long, env = services::ENV_MATTER)]
    pub matter: Option<String>,
    /// Objects above this size are copied in parts (e.g. 5GiB).
    #[arg(long, env = services::ENV_COPY_MULTIPART_THRESHOLD)]
    pub copy_multipart_threshold: Option<String>,
    /// Print the full report as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Only submit the records (chunk by chunk); leave integrating them into blocks to the
    /// integrator (`custody integrate`, the sequencer function).
    #[arg(long)]
    pub submit_only: bool,
    /// Process versions the ledger already records instead of skipping them (to apply a changed
    /// hold policy, a new matter or mechanism, to them).
    #[arg(long)]
    pub revisit: bool,
    /// No progress on standard error.
    #[arg(long)]
    pub quiet: bool,
    /// One block per object (its version, digest, hold steps and findings) before the summary.
    #[arg(long, short)]
    pub verbose: bool,
    /// The findings as rows: table (default on a terminal, with the summary), json (one finding
    /// per line; the default otherwise) or csv. The summary then goes to standard error.
    #[arg(long, value_enum, conflicts_with = "json")]
    pub output: Option<OutputFormat>,
    #[command(flatten)]
    pub store: StoreFlags,
}

impl IngestArgs {
    fn settings(&self) -> Settings {
        Settings {
            export: self.export.clone(),
            export_prefix: self.prefix.clone(),
            ledger: self.ledger.clone(),
            origin: self.origin.clone(),
            hold_select: self.hold.clone(),
            hold_marking: self.marking.clone(),
            matter: self.matter.clone(),
            signing_key: Some(self.signing_key.clone()),
            copy_multipart_threshold: self.copy_multipart_threshold.clone(),
            copy_part_size: None,
            s3_endpoint: self.store.endpoint_url.clone(),
            s3_path_style: self.store.path_style(),
            s3_region: self.store.region.clone(),
            ..Settings::default()
        }
    }
}

/// Exit 0 when everything was recorded and nothing was found wrong, 1 when findings were recorded,
/// 2 when the run could not record.
pub async fn ingest_cmd(args: IngestArgs) -> Result<ExitCode> {
    let settings = args.settings();
    let runtime = settings
        .services()
        .await
        .map_err(|e| anyhow::anyhow!("{}: {}", flag_of(&e.setting), e.problem))?;
    let mut config = runtime.config.clone();
    if args.submit_only {
        config.integration = Integration::SubmitOnly;
    }
    config.skip_recorded = !args.revisit;
    let progress = RunProgress::start(args.quiet);
    config.progress = progress.output();
    config.progress_counters = Some(progress.counters());
    let export = runtime.export.clone();
    let (start, source) =
        starting_point(&args, export.as_ref(), &runtime.config.scope.prefix).await?;
    let mut ctx = RunContext::new(source);
    ctx.who = local_who();
    let report = ingest(export, &runtime.ledger, &config, &start, &ctx).await;
    let ended = progress.finish().await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report_json(&report))?);
    } else {
        let view = ReportView {
            prefix: runtime.config.scope.prefix.clone(),
            verbose: args.verbose,
            output: OutputFormat::resolve(args.output),
            elapsed_secs: ended.elapsed_secs,
        };
        view.print(&report)?;
    }
    if let Some(error) = &report.run_error {
        eprintln!("custody: {error}; nothing was recorded");
    } else if report.nothing_found() {
        eprintln!(
            "custody: nothing to ingest: {} names no object (check --export, --prefix, --metadata, --conversation or --manifest)",
            report.source
        );
    } else if report.needs_retry() {
        eprintln!(
            "custody: {} step(s) failed transiently and were not recorded; run the same command again to finish them",
            report.retries_total
        );
    }
    if let Ok(ledger) = &report.ledger
        && ledger.integration == Integration::SubmitOnly
        && !ledger.pending.is_empty()
    {
        eprintln!(
            "custody: {} submission(s) wait for the integrator",
            ledger.pending.len()
        );
    }
    Ok(exit_of(&report))
}

async fn starting_point(
    args: &IngestArgs,
    export: &dyn ObjectStore,
    prefix: &str,
) -> Result<(StartingPoint, String)> {
    let location = export.location();
    if let Some(key) = &args.metadata {
        return Ok((
            StartingPoint::MetadataKey(key.clone()),
            format!("{location}/{key}"),
        ));
    }
    if let Some(folder) = &args.conversation {
        return Ok((
            StartingPoint::ConversationFolder(folder.clone()),
            format!("{location}/{folder}"),
        ));
    }
    if let Some(manifest) = &args.manifest {
        let path = Path::new(manifest);
        let (bytes, source) = if path.is_file() {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading manifest {manifest}"))?;
            (bytes, format!("file://{}", path.canonicalize()?.display()))
        } else {
            let bytes = export
                .get_bytes(manifest, None)
                .await
                .with_context(|| format!("reading manifest {manifest} from {location}"))?;
            (bytes.to_vec(), format!("{location}/{manifest}"))
        };
        let parsed = if manifest.ends_with(".csv") {
            Manifest::from_batch_csv(&source, &String::from_utf8_lossy(&bytes))
        } else {
            Manifest::from_json(&source, &bytes)?
        };
        return Ok((StartingPoint::Manifest(parsed), source));
    }
    Ok((
        StartingPoint::ExportPrefix(prefix.to_string()),
        format!("{location}/{prefix}"),
    ))
}

pub fn local_who() -> Who {
    Who {
        principal: std::env::var("USER").ok().map(|u| format!("local:{u}")),
        function: Some("custody-cli".to_string()),
        request_id: None,
    }
}

/// The flag a user typed for a setting the services name by its environment variable.
fn flag_of(setting: &str) -> &str {
    match setting {
        services::ENV_EXPORT_BUCKET => "--export",
        services::ENV_EXPORT_PREFIX => "--prefix",
        services::ENV_LEDGER => "--ledger",
        services::ENV_LEDGER_ORIGIN => "--origin",
        services::ENV_HOLD_SELECT => "--hold",
        services::ENV_HOLD_MARKING => "--marking",
        services::ENV_MATTER => "--matter",
        services::ENV_SIGNING_KEY_SECRET_ARN | services::ENV_SIGNING_KEY => "--signing-key",
        services::ENV_COPY_MULTIPART_THRESHOLD => "--copy-multipart-threshold",
        services::ENV_S3_ENDPOINT => "--endpoint-url",
        other => other,
    }
}

/// 2: a mistake about the run, a ledger not written, or steps to retry; 1: findings recorded,
/// or nothing found; 0: everything recorded, nothing wrong.
pub fn exit_of(report: &IngestReport) -> ExitCode {
    if !report.recorded() || report.needs_retry() {
        ExitCode::from(2)
    } else if report.nothing_found() || report.objects_with_findings() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
