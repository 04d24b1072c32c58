//! `custody witness`: countersign the ledger's checkpoints as an independent witness
//! (`custody_core::ledger::witness`, C2SP tlog-cosignature v1), and the check `custody verify
//! --witness-key` makes of the cosignatures.
//!
//! ```text
//! custody witness keygen --name witness.example.org/w1 --out keys/
//! custody witness cosign s3://ledger-bucket/ledger --key ledger.vkey \
//!     --signing-key keys/witness.example.org_w1-1a2b3c4d.witness.key --state witness.state [--init]
//! ```
//!
//! Exit status of `cosign`: 0 cosigned (or already cosigned), 1 refused (the ledger does not
//! extend the checkpoint last cosigned: a fork or a rollback), 2 could not run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use custody_core::ledger::cosignature::{WitnessKey, WitnessSigner};
use custody_core::ledger::witness::{WitnessError, WitnessVerdict, check_witnessed, witness};
use custody_core::ledger::{Ledger, TrustedKeys};

use crate::ledger_cmds::{LedgerArgs, open_ledger, write_secret};

#[derive(Args)]
pub struct WitnessArgs {
    #[command(subcommand)]
    command: WitnessCommand,
}

#[derive(Subcommand)]
enum WitnessCommand {
    /// Generate a witness key pair (Ed25519, cosignature/v1 type 0x04).
    Keygen(KeygenArgs),
    /// Cosign the ledger's newest checkpoint if it extends the one last cosigned.
    Cosign(CosignArgs),
}

#[derive(Args)]
struct KeygenArgs {
    /// The witness's name, a schema-less URL (e.g. witness.example.org/w1).
    #[arg(long)]
    name: String,
    /// Folder to write `<name>-<id>.witness.key` (secret, mode 0600) and `.witness.vkey` into.
    #[arg(long, default_value = ".")]
    out: PathBuf,
}

#[derive(Args)]
struct CosignArgs {
    /// The ledger, and the ledger keys to trust (--key, required: a witness never trusts the
    /// keys published in the bucket).
    #[command(flatten)]
    ledger: LedgerArgs,
    /// The witness's secret key file.
    #[arg(long)]
    signing_key: PathBuf,
    /// The witness's state: the last checkpoint it cosigned (kept by the witness, outside the
    /// ledger bucket; rewritten after each cosignature).
    #[arg(long)]
    state: PathBuf,
    /// First run: no state yet, trust the ledger's newest checkpoint as it is.
    #[arg(long)]
    init: bool,
}

pub async fn witness_cmd(args: WitnessArgs) -> Result<ExitCode> {
    match args.command {
        WitnessCommand::Keygen(args) => keygen(&args).map(|()| ExitCode::SUCCESS),
        WitnessCommand::Cosign(args) => cosign(&args).await,
    }
}

fn keygen(args: &KeygenArgs) -> Result<()> {
    let signer = WitnessSigner::generate(&args.name).map_err(|e| anyhow!("--name: {e}"))?;
    let key = signer.verifier();
    let stem = format!(
        "{}-{:08x}",
        args.name.replace(['/', ':'], "_"),
        key.key_id()
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let secret = args.out.join(format!("{stem}.witness.key"));
    write_secret(&secret, &format!("{}\n", signer.to_text()))?;
    let public = args.out.join(format!("{stem}.witness.vkey"));
    std::fs::write(&public, format!("{}\n", key.to_text()))
        .with_context(|| format!("writing {}", public.display()))?;
    println!("witness     {}", key.label());
    println!("verifier    {}", key.to_text());
    println!("secret key  {}  (keep it secret)", secret.display());
    println!(
        "public key  {}  (give it to auditors: verify --witness-key)",
        public.display()
    );
    Ok(())
}

async fn cosign(args: &CosignArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.signing_key)
        .with_context(|| format!("--signing-key {}", args.signing_key.display()))?;
    let signer = WitnessSigner::from_text(&text)
        .map_err(|e| anyhow!("--signing-key {}: {e}", args.signing_key.display()))?;
    let state = read_state(&args.state, args.init)?;
    let ledger = open_ledger(&args.ledger).await?;
    if ledger.config().trusted_keys.is_empty() {
        bail!(
            "--key: give the ledger's public key; a witness never trusts keys published in the bucket"
        );
    }
    let log_keys = TrustedKeys::new(ledger.config().trusted_keys.clone());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    match witness(&ledger, &log_keys, &signer, state.as_deref(), now).await {
        Ok(done) => {
            write_state(&args.state, &done.cosigned)?;
            let from = done
                .previous
                .map_or("first use".to_string(), |p| format!("from tree size {p}"));
            let what = if done.already_published {
                "already cosigned"
            } else {
                "COSIGNED"
            };
            println!(
                "{what}: tree size {} ({from}) by {}, published at {}",
                done.size,
                signer.verifier().label(),
                done.published
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(WitnessError::Refused(why)) => {
            println!("REFUSED: {why}; nothing was cosigned, the state is kept");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(anyhow!(e)),
    }
}

fn read_state(path: &Path, init: bool) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) if init => bail!(
            "--init: {} exists ({} bytes); a witness starts over only by removing its state by hand",
            path.display(),
            bytes.len()
        ),
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && init => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "--state {}: no state; the first run needs --init (it trusts the newest checkpoint as it is)",
            path.display()
        ),
        Err(e) => Err(anyhow!("--state {}: {e}", path.display())),
    }
}

/// Replace the state atomically (write beside, then rename).
fn write_state(path: &Path, cosigned: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, cosigned).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

/// `custody verify --witness-key`: each witness's largest cosigned checkpoint must be one the
/// ledger extends. 0 witnessed, 1 not witnessed or contradicted, 2 could not check.
pub async fn check_witnesses(ledger: &Ledger, paths: &[PathBuf], say: &impl Fn(String)) -> u8 {
    let log_keys = match ledger.trusted_keys().await {
        Ok((keys, _)) => keys,
        Err(e) => {
            eprintln!("error: the ledger keys: {e}");
            return 2;
        }
    };
    let mut code = 0;
    for path in paths {
        let key = match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| WitnessKey::parse(&t).map_err(|e| e.to_string()))
        {
            Ok(key) => key,
            Err(e) => {
                eprintln!("error: --witness-key {}: {e}", path.display());
                code = 2;
                continue;
            }
        };
        match check_witnessed(ledger, &log_keys, &key).await {
            Ok(WitnessVerdict::Witnessed { size, time, newest }) => {
                let when = chrono::DateTime::from_timestamp(time as i64, 0)
                    .map_or(time.to_string(), |t| t.to_rfc3339());
                let rest = if newest > size {
                    format!("; records {size}..{newest} are not witnessed yet")
                } else {
                    String::new()
                };
                say(format!(
                    "witness {}: WITNESSED up to tree size {size} (cosigned {when}){rest}",
                    key.label()
                ));
            }
            Ok(WitnessVerdict::NotWitnessed(why)) => {
                say(format!("witness {}: NOT WITNESSED: {why}", key.label()));
                code = code.max(1);
            }
            Ok(WitnessVerdict::Contradicted(why)) => {
                say(format!("witness {}: CONTRADICTED: {why}", key.label()));
                code = code.max(1);
            }
            Err(e) => {
                eprintln!("error: witness {}: {e}", key.label());
                code = 2;
            }
        }
    }
    code
}
