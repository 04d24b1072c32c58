//! `custody keygen`, `custody verify`, `custody receipt`, `custody verify-receipt`.
//!
//! Exit status of `verify`: 0 intact (or empty, with no pinned checkpoint), 1 evidence of
//! tampering or damage (an empty ledger against a pinned checkpoint is truncation), 2 could not
//! run (no verdict at all; `--require-pinned` without `--key` is one).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use custody_aws::open;
use custody_aws::s3::S3Options;
use custody_core::ledger::tiles::{PinnedVerdict, check_pinned};
use custody_core::ledger::{
    BlockView, Checkpoint, Layout, Ledger, LedgerConfig, Receipt, Signer, Trust, TrustedKeys,
    Verdict, VerifierKey, VerifyReport,
};
use custody_core::store::ObjectStore;

use crate::commands::verify_checks;
use crate::store_flags::StoreFlags;
use crate::verify_progress::VerifyDisplay;

/// Exit status: 0 intact, 1 evidence of tampering or mismatch, 2 could not run.
const COULD_NOT_RUN: u8 = 2;

#[derive(Args)]
pub struct KeygenArgs {
    /// The ledger origin, used as the key name (e.g. custody.example.com/ledger).
    #[arg(long)]
    origin: String,
    /// Folder to write `<origin>-<id>.key` (secret, mode 0600) and `<origin>-<id>.vkey` into.
    #[arg(long, default_value = ".")]
    out: PathBuf,
}

/// Where a ledger is and which keys to trust.
#[derive(Args)]
pub struct LedgerArgs {
    /// `s3://bucket/prefix` or a local folder holding the ledger.
    pub(crate) ledger: String,
    /// Checkpoint origin every checkpoint must name; default: the one name of the keys given
    /// with --key (required when they carry several names).
    #[arg(long)]
    pub(crate) origin: Option<String>,
    /// A verifier key file (C2SP vkey) to trust; repeatable. Without it, the keys published
    /// beside the ledger are trusted.
    #[arg(long = "key")]
    pub(crate) keys: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) store: StoreFlags,
}

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    ledger: LedgerArgs,
    /// A signed checkpoint saved earlier: the ledger must extend it (no truncation, no fork).
    #[arg(long)]
    pinned: Option<PathBuf>,
    /// Write the newest signed checkpoint here, to pin next time: only when the ledger is
    /// intact, and only a checkpoint whose signature a trusted key verified.
    #[arg(long)]
    save_checkpoint: Option<PathBuf>,
    /// Refuse to verify against keys published in the bucket: without --key, exit 2.
    #[arg(long)]
    require_pinned: bool,
    /// With --pinned: check only that the newest block's signed checkpoint extends the pinned
    /// one, by a consistency proof from the tiles published beside the blocks (O(log n) reads)
    /// instead of verifying every block. Says nothing about the blocks or the records.
    #[arg(long, requires = "pinned", conflicts_with = "save_checkpoint")]
    tiles: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// No progress display on standard error.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    objects: verify_checks::ObjectChecks,
}

#[derive(Args)]
pub struct ReceiptArgs {
    #[command(flatten)]
    ledger: LedgerArgs,
    /// The record id (64 hex).
    #[arg(long)]
    id: String,
    /// Write the receipt here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
pub struct VerifyReceiptArgs {
    /// The receipt file.
    receipt: PathBuf,
    /// A verifier key file (C2SP vkey) to trust; at least one.
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
}

pub fn keygen(args: KeygenArgs) -> ExitCode {
    match run_keygen(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => could_not_run(e),
    }
}

fn run_keygen(args: &KeygenArgs) -> Result<()> {
    let signer = Signer::generate(&args.origin)?;
    let vkey = signer.verifier_key();
    let stem = format!(
        "{}-{:08x}",
        args.origin.replace(['/', ':'], "_"),
        signer.key_id()
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let secret = args.out.join(format!("{stem}.key"));
    write_secret(&secret, &format!("{}\n", signer.to_text()))?;
    let public = args.out.join(format!("{stem}.vkey"));
    std::fs::write(&public, format!("{}\n", vkey.to_text()))
        .with_context(|| format!("writing {}", public.display()))?;
    println!("key id      {:08x}", signer.key_id());
    println!("key name    {}", signer.name());
    println!("verifier    {}", vkey.to_text());
    println!(
        "secret key  {}  (keep it secret: a file, an env var or AWS Secrets Manager)",
        secret.display()
    );
    println!("public key  {}", public.display());
    Ok(())
}

pub(crate) fn write_secret(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

pub async fn verify(args: VerifyArgs) -> ExitCode {
    // With --json, a run that cannot start still prints a report whose verdict says so.
    let refuse = |e: anyhow::Error| {
        if args.json {
            let report = VerifyReport::could_not_run(
                args.ledger.ledger.clone(),
                args.ledger.origin.clone().unwrap_or_default(),
                format!("{e:#}"),
            );
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("a report serializes")
            );
        }
        could_not_run(e)
    };
    if args.require_pinned && args.ledger.keys.is_empty() {
        return refuse(anyhow!(
            "--require-pinned: give the keys to trust with --key (the keys published in the \
             bucket can be replaced by anyone who can write it)"
        ));
    }
    let ledger = match open_ledger(&args.ledger).await {
        Ok(l) => l,
        Err(e) => return refuse(e),
    };
    let pinned = match &args.pinned {
        None => None,
        Some(path) => match read_checkpoint(path) {
            Ok(c) => Some(c),
            Err(e) => return refuse(e),
        },
    };
    if args.tiles {
        let pinned = pinned.expect("clap requires --pinned with --tiles");
        return match pinned_by_tiles(&ledger, &pinned, args.json).await {
            Ok(code) => code,
            Err(e) => refuse(e),
        };
    }
    let display = VerifyDisplay::start(args.quiet, "verify");
    let report = ledger
        .verify_with_progress(pinned.as_ref(), display.counters())
        .await;
    display.finish();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("a report serializes")
        );
    } else {
        print!("{report}");
    }
    if let Some(path) = &args.save_checkpoint {
        match (&report.verdict(), &report.latest_checkpoint) {
            (Verdict::Intact, Some(cp)) => {
                if let Err(e) = std::fs::write(path, cp) {
                    eprintln!("error: writing {}: {e}", path.display());
                    return ExitCode::from(COULD_NOT_RUN);
                }
            }
            _ => eprintln!(
                "checkpoint not saved to {}: only the checkpoint of an intact ledger is saved",
                path.display()
            ),
        }
    }
    let mut code = exit_code(&report);
    // On an intact ledger: the attestations, and the objects where --export is given.
    if report.verdict() == Verdict::Intact {
        let s3 = s3_options(&args.ledger);
        let checks =
            verify_checks::after_intact(&ledger, &args.objects, &s3, args.json, args.quiet).await;
        code = code.max(checks);
    }
    ExitCode::from(code)
}

/// 0 intact or empty, 1 tampering or damage, 2 could not run.
fn exit_code(report: &VerifyReport) -> u8 {
    match report.verdict() {
        Verdict::Intact | Verdict::Empty => 0,
        Verdict::Tampered => 1,
        Verdict::CouldNotRun => COULD_NOT_RUN,
    }
}

pub async fn receipt(args: ReceiptArgs) -> ExitCode {
    let ledger = match open_ledger(&args.ledger).await {
        Ok(l) => l,
        Err(e) => return could_not_run(e),
    };
    let receipt = match ledger.receipt_checked(&args.id).await {
        Ok((r, index_note)) => {
            if let Some(why) = index_note {
                eprintln!("note: found by scanning the blocks: {why}");
            }
            r
        }
        Err(custody_core::ledger::LedgerError::RecordNotFound(id)) => {
            eprintln!("record {id} is not in the ledger {}", ledger.location());
            return ExitCode::from(1);
        }
        Err(e) => return could_not_run(e.into()),
    };
    // Check it before handing it out, against the same keys a verifier would use.
    match ledger.trusted_keys().await {
        Ok((trusted, _)) => {
            if let Err(e) = receipt.verify(&trusted) {
                eprintln!("the ledger gave a receipt that does not verify: {e}");
                return ExitCode::from(1);
            }
        }
        Err(e) => return could_not_run(e.into()),
    }
    let json = serde_json::to_string_pretty(&receipt).expect("a receipt serializes");
    match &args.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, format!("{json}\n")) {
                return could_not_run(anyhow!("writing {}: {e}", path.display()));
            }
            println!(
                "receipt for leaf {} (block {}, tree size {}) written to {}",
                receipt.leaf_index,
                receipt.block,
                receipt.tree_size,
                path.display()
            );
        }
        None => println!("{json}"),
    }
    ExitCode::SUCCESS
}

pub fn verify_receipt(args: VerifyReceiptArgs) -> ExitCode {
    let loaded = (|| -> Result<(Receipt, TrustedKeys)> {
        let text = std::fs::read_to_string(&args.receipt)
            .with_context(|| format!("reading {}", args.receipt.display()))?;
        let receipt: Receipt = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a custody receipt", args.receipt.display()))?;
        Ok((receipt, TrustedKeys::new(read_keys(&args.keys)?)))
    })();
    let (receipt, trusted) = match loaded {
        Ok(x) => x,
        Err(e) => return could_not_run(e),
    };
    match receipt.verify(&trusted) {
        Ok(ok) => {
            println!(
                "VALID: record {} is leaf {} of {} at tree size {}, signed by {}",
                ok.record.id, ok.leaf_index, ok.origin, ok.tree_size, ok.signed_by
            );
            println!(
                "  {} s3://{}/{}{}",
                ok.record.event.as_str(),
                ok.record.what.bucket,
                ok.record.what.key,
                ok.record
                    .what
                    .version_id
                    .as_deref()
                    .map(|v| format!(" version {v}"))
                    .unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("INVALID: {e}");
            ExitCode::from(1)
        }
    }
}

/// `verify --pinned FILE --tiles`: the pinned checkpoint against the newest block's, with one
/// consistency proof from the tiles. Exit 0 when the newest signed tree extends the pinned one,
/// 1 when it does not (or a checkpoint is not trusted); errors (tiles not published up to the
/// newest block, an altered tile, the store) are "could not run".
async fn pinned_by_tiles(ledger: &Ledger, pinned: &Checkpoint, json: bool) -> Result<ExitCode> {
    let (trusted, trust) = ledger.trusted_keys().await?;
    let verdict = check_pinned(ledger, pinned, &trusted)
        .await
        .context("checking the pinned checkpoint with the tiles")?;
    let (consistent, message, reads) = match &verdict {
        PinnedVerdict::Consistent {
            newest,
            block,
            proof,
        } => (
            true,
            format!(
                "block {block}'s signed checkpoint ({} records) extends the pinned one ({} \
                 records): consistency proof from {} tiles, {} bytes",
                newest.size, pinned.size, proof.reads, proof.bytes
            ),
            proof.reads,
        ),
        PinnedVerdict::Truncated { pinned, size } => (
            false,
            format!("truncated: the pinned checkpoint covers {pinned} records, the ledger {size}"),
            0,
        ),
        PinnedVerdict::Forked { pinned, size } => (
            false,
            format!(
                "forked: the ledger's signed tree of {size} records does not extend the pinned \
                 tree of {pinned}"
            ),
            0,
        ),
        PinnedVerdict::PinnedRefused(why) => (false, format!("the pinned checkpoint: {why}"), 0),
        PinnedVerdict::NewestRefused { block, reason } => {
            (false, format!("block {block}'s checkpoint: {reason}"), 0)
        }
    };
    let trust = match trust {
        Trust::PinnedKeys => "pinned-keys",
        Trust::PublishedKeys => "published-keys",
    };
    if json {
        let report = serde_json::json!({
            "verdict": if consistent { "consistent" } else { "tampered" },
            "trust": trust,
            "pinned_size": pinned.size,
            "tile_reads": reads,
            "message": message,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("JSON serializes")
        );
    } else {
        let verdict = if consistent { "CONSISTENT" } else { "TAMPERED" };
        println!("{verdict} ({trust}): {message}");
        println!("blocks and records not verified: run without --tiles for that");
    }
    Ok(if consistent {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn could_not_run(e: anyhow::Error) -> ExitCode {
    eprintln!("could not run: {e:#}");
    ExitCode::from(COULD_NOT_RUN)
}

fn read_keys(paths: &[PathBuf]) -> Result<Vec<VerifierKey>> {
    paths
        .iter()
        .map(|p| VerifierKey::from_file(p).map_err(Into::into))
        .collect()
}

fn read_checkpoint(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Checkpoint::parse(&bytes)
        .map_err(|e| anyhow!("{} is not a signed checkpoint: {e}", path.display()))
}

/// The S3 client options the store flags give.
fn s3_options(args: &LedgerArgs) -> S3Options {
    args.store.s3_options()
}

/// The store and prefix a ledger argument names.
async fn open_store(args: &LedgerArgs) -> Result<(Arc<dyn ObjectStore>, String)> {
    let opened = open(&args.ledger, &s3_options(args))
        .await
        .map_err(|e| anyhow!("opening the ledger {}: {e}", args.ledger))?;
    Ok((opened.store, opened.prefix))
}

pub(crate) async fn open_ledger(args: &LedgerArgs) -> Result<Ledger> {
    let (store, prefix) = open_store(args).await?;
    let keys = read_keys(&args.keys)?;
    let origin = match &args.origin {
        Some(o) => o.clone(),
        None => discover_origin(&store, &prefix, &keys).await?,
    };
    let mut config = LedgerConfig::new(origin);
    config.trusted_keys = keys;
    Ok(Ledger::open(store, &prefix, config, None).await?)
}

/// The origin when not given: the one name of the given keys (several names need `--origin`);
/// without keys (unpinned), the one name of the published keys, else what block 0 says.
async fn discover_origin(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    keys: &[VerifierKey],
) -> Result<String> {
    let mut names: Vec<String> = keys.iter().map(|k| k.name().to_string()).collect();
    names.sort();
    names.dedup();
    match names.as_slice() {
        [one] => return Ok(one.clone()),
        [] => {}
        several => {
            return Err(anyhow!(
                "the keys given carry several names ({}): say which origin the ledger must have \
                 with --origin",
                several.join(", ")
            ));
        }
    }
    let layout = Layout::new(prefix);
    let mut published = Vec::new();
    for obj in store.list(&layout.keys_prefix()).await? {
        let bytes = store.get_bytes(&obj.key, None).await?;
        if let Ok(k) = VerifierKey::parse(&String::from_utf8_lossy(&bytes)) {
            published.push(k.name().to_string());
        }
    }
    published.sort();
    published.dedup();
    if let [one] = published.as_slice() {
        return Ok(one.clone());
    }
    let bytes = store
        .get_bytes(&layout.block(0), None)
        .await
        .context("no --origin, no --key, and block 0 is unreadable")?;
    let view = BlockView::parse(&bytes).map_err(|e| anyhow!("block 0: {e}"))?;
    Ok(view
        .checkpoint()
        .map_err(|e| anyhow!("block 0: {e}"))?
        .origin)
}
