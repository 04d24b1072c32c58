//! `custody demo`: the whole job on the bundled samples, offline, with no AWS account.
//!
//! The samples (`samples/` of the source tree: `export/`, `matters.json`, `manifests/`,
//! `events/`) are built into the binary, so an installed `custody demo` works in any folder: they
//! are written to `<workdir>/samples/` and used from there. `--samples DIR` uses a folder of the
//! same layout instead.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use custody_aws::services::{self, Settings};
use custody_core::export::StartingPoint;
use custody_core::hold::RunContext;
use custody_core::ingest::ingest;
use custody_core::ledger::{Signer, TrustedKeys};
use custody_core::store::fs::FsStore;
use custody_core::store::{BucketSpec, PutRequest, StoreWrite};

use super::ingest::local_who;
use super::ingest_report::print_report;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where the demo writes its bucket copy, ledger, key and receipt (replaced if it exists).
    #[arg(long, default_value = "target/custody-demo")]
    pub workdir: PathBuf,
    /// A samples folder (export/ and matters.json) to use instead of the samples built into
    /// the binary.
    #[arg(long, value_name = "DIR")]
    pub samples: Option<PathBuf>,
}

/// The source tree's `samples/` folder, built into the binary (cli/build.rs rebuilds on change).
static BUILT_IN_SAMPLES: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../samples");

/// The samples folder to use: `--samples DIR` (checked), or the built-in samples written to
/// `<work>/samples`.
fn samples_folder(args: &DemoArgs, work: &Path) -> Result<PathBuf> {
    let dir = match &args.samples {
        Some(dir) => dir.clone(),
        None => {
            let dir = work.join("samples");
            BUILT_IN_SAMPLES
                .extract(&dir)
                .with_context(|| format!("writing the built-in samples to {}", dir.display()))?;
            dir
        }
    };
    for needed in ["export", "matters.json"] {
        if !dir.join(needed).exists() {
            bail!(
                "--samples {}: no {needed} in it (a samples folder holds export/ and matters.json)",
                dir.display()
            );
        }
    }
    Ok(dir)
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
    let samples = samples_folder(&args, work)?;
    let uploaded = upload_folder(&bucket, &samples.join("export")).await?;
    println!(
        "1. uploaded {uploaded} sample export file(s) from {} into the local bucket {}",
        samples.display(),
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
        hold_select: format!("matters:{}", samples.join("matters.json").display()),
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
