//! `custody ingest` (the main job on an export, local or in S3), `custody query` (what the ledger
//! holds about a conversation, matter, key or recording) and `custody demo` (the whole job on the
//! bundled samples, with no AWS account).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use custody_aws::open;
use custody_aws::services::{self, Settings};
use custody_core::export::{Manifest, StartingPoint};
use custody_core::hold::{Finding, RunContext, StepResult};
use custody_core::ingest::{IngestReport, ingest};
use custody_core::ledger::{Ledger, LedgerConfig, Signer, TrustedKeys, Who};
use custody_core::query::{RecordFilter, find, parse_event};
use custody_core::store::fs::FsStore;
use custody_core::store::{BucketSpec, ObjectStore, PutRequest, StoreWrite};

/// Where the S3 API is, when it is not AWS's (a local server, for instance).
#[derive(Args, Debug, Clone, Default)]
pub struct Endpoint {
    /// S3 endpoint URL, e.g. http://127.0.0.1:8333.
    #[arg(long, env = services::ENV_S3_ENDPOINT, global = true)]
    pub endpoint_url: Option<String>,
    /// Address buckets by path (endpoint/bucket) rather than by host name.
    #[arg(long, env = services::ENV_S3_PATH_STYLE, global = true)]
    pub path_style: bool,
}

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
    #[command(flatten)]
    pub endpoint: Endpoint,
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
            s3_endpoint: self.endpoint.endpoint_url.clone(),
            s3_path_style: self.endpoint.path_style,
            ..Settings::default()
        }
    }
}

/// Exit 0 when everything was recorded and nothing was found wrong, 1 when findings were recorded,
/// 2 when the run could not record.
pub async fn ingest_cmd(args: IngestArgs) -> Result<ExitCode> {
    let settings = args.settings();
    let runtime = settings.services().await?;
    let export = runtime.export.clone();
    let (start, source) =
        starting_point(&args, export.as_ref(), &runtime.config.scope.prefix).await?;
    let mut ctx = RunContext::new(source);
    ctx.who = local_who();
    let report = ingest(export, &runtime.ledger, &runtime.config, &start, &ctx).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report_json(&report))?);
    } else {
        print_report(&report);
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

fn local_who() -> Who {
    Who {
        principal: std::env::var("USER").ok().map(|u| format!("local:{u}")),
        function: Some("custody-cli".to_string()),
        request_id: None,
    }
}

fn exit_of(report: &IngestReport) -> ExitCode {
    if !report.recorded() {
        ExitCode::from(2)
    } else if report.objects_with_findings() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn step_text(result: &StepResult) -> &'static str {
    match result {
        StepResult::Applied { .. } => "applied",
        StepResult::AlreadyPresent { .. } => "already present",
        StepResult::NotDone => "NOT DONE",
    }
}

fn finding_text(finding: &Finding) -> String {
    match finding {
        Finding::Missing { named_by } => format!("missing (named by {named_by})"),
        Finding::Unreferenced { reason } => format!("unreferenced: {reason}"),
        Finding::OutOfScope { reason } => format!("refused: {reason}"),
        Finding::Failed {
            action,
            code,
            likely_permission,
            message,
        } => format!(
            "{action} failed{}: {message}{}",
            code.as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default(),
            likely_permission
                .as_deref()
                .map(|p| format!("; likely missing permission: {p}"))
                .unwrap_or_default()
        ),
        Finding::Overwritten { newer_version } => {
            format!("overwritten during the run; newer version {newer_version:?} not marked")
        }
        Finding::CannotMark { mechanism, reason } => {
            format!("cannot mark with {}: {reason}", mechanism.as_str())
        }
        Finding::InvalidMetadata { field, problem } => format!(
            "invalid metadata{}: {problem}",
            field
                .as_deref()
                .map(|f| format!(" (field {f})"))
                .unwrap_or_default()
        ),
        Finding::Mismatch {
            what,
            expected,
            actual,
        } => {
            format!("MISMATCH of {what}: expected {expected}, found {actual}")
        }
    }
}

fn print_report(report: &IngestReport) {
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
            println!("      ! {}", finding_text(finding));
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
    println!(
        "{} object(s), {} with findings",
        report.hold.outcomes.len(),
        report.objects_with_findings()
    );
}

fn report_json(report: &IngestReport) -> serde_json::Value {
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
            "findings": o.findings.iter().map(finding_text).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "ledger": match &report.ledger {
            Ok(outcome) => serde_json::to_value(outcome).unwrap_or_default(),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        },
    })
}

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

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where the demo writes its bucket copy, ledger, key and receipt (replaced if it exists).
    #[arg(long, default_value = "target/custody-demo")]
    pub workdir: PathBuf,
    /// The bundled samples folder.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples"))]
    pub samples: PathBuf,
}

/// The whole job on the bundled samples, offline: upload the sample export into a local
/// versioned, Object-Lock-enabled bucket folder, ingest it twice (the second run must add
/// nothing), verify the ledger, and write and check a receipt for one record.
pub async fn demo_cmd(args: DemoArgs) -> Result<ExitCode> {
    let work = &args.workdir;
    if work.exists() {
        std::fs::remove_dir_all(work).with_context(|| format!("clearing {}", work.display()))?;
    }
    std::fs::create_dir_all(work)?;
    let bucket_dir = work.join("genesys-exports-example");
    let bucket = FsStore::create(
        &bucket_dir,
        BucketSpec {
            versioned: true,
            object_lock: true,
        },
    )?;
    let uploaded = upload_folder(&bucket, &args.samples.join("export")).await?;
    println!(
        "1. uploaded {uploaded} sample export file(s) into the local bucket {}",
        bucket_dir.display()
    );

    let origin = services::DEFAULT_ORIGIN;
    let key_path = work.join("ledger-signing.key");
    let signer = Signer::generate(origin)?;
    write_private(&key_path, &signer.to_text())?;
    println!(
        "2. generated ledger signing key {} (key id {:08x}) in {}",
        signer.name(),
        signer.key_id(),
        key_path.display()
    );

    let ledger_dir = work.join("ledger");
    let settings = Settings {
        export: bucket_dir.display().to_string(),
        ledger: ledger_dir.display().to_string(),
        origin: Some(origin.to_string()),
        hold_select: format!("matters:{}", args.samples.join("matters.json").display()),
        hold_marking: "tags,metadata,object-lock".to_string(),
        signing_key: Some(format!("file:{}", key_path.display())),
        ..Settings::default()
    };
    let runtime = settings.services().await?;
    let start = StartingPoint::ExportPrefix(String::new());
    for round in 1..=2 {
        let mut ctx = RunContext::new(format!("{}/", runtime.export.location()));
        ctx.who = local_who();
        let report = ingest(
            runtime.export.clone(),
            &runtime.ledger,
            &runtime.config,
            &start,
            &ctx,
        )
        .await;
        println!(
            "{}. ingest run {round} (hold policy: matter register; marking: tags, metadata, object lock):",
            round + 2
        );
        print_report(&report);
        if !report.recorded() {
            bail!("the demo could not write its ledger");
        }
    }

    let report = runtime.ledger.verify(None).await;
    println!(
        "5. custody verify {}: {}",
        ledger_dir.display(),
        if report.is_intact() {
            "INTACT"
        } else {
            "TAMPERED"
        }
    );
    for failure in &report.failures {
        println!("   ! {failure:?}");
    }
    let mut first_hashed = None;
    runtime
        .ledger
        .for_each_record(|entry| {
            if first_hashed.is_none()
                && let Ok(record) = entry.record
                && record.event == custody_core::ledger::EventKind::Hashed
            {
                first_hashed = Some(record);
            }
        })
        .await?;
    if let Some(record) = first_hashed {
        let receipt = runtime.ledger.receipt(&record.id).await?;
        let receipt_path = work.join("receipt.json");
        std::fs::write(&receipt_path, serde_json::to_string_pretty(&receipt)?)?;
        let trusted = TrustedKeys::new(vec![signer.verifier_key()]);
        let checked = receipt.verify(&trusted);
        println!(
            "6. receipt for {} ({}) written to {}; offline check: {}",
            record.what.key,
            record.id,
            receipt_path.display(),
            if checked.is_ok() { "VALID" } else { "INVALID" }
        );
    }
    println!(
        "\nTry: custody verify {}  |  custody query {} --event missing",
        ledger_dir.display(),
        ledger_dir.display()
    );
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Put every file under `folder` into `bucket` under its relative path; returns how many.
async fn upload_folder(bucket: &FsStore, folder: &Path) -> Result<usize> {
    let mut stack = vec![folder.to_path_buf()];
    let mut count = 0;
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.path());
        for entry in entries {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let key = path
                .strip_prefix(folder)?
                .to_string_lossy()
                .replace('\\', "/");
            let body = std::fs::read(&path)?;
            let mut request = PutRequest::new(key, body);
            request.checksum_sha256 = true;
            bucket.put(request).await?;
            count += 1;
        }
    }
    Ok(count)
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}
