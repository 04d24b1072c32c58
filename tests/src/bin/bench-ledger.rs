//! Verification throughput of the custody ledger.
//!
//! For each block size in `--per-block` (default `100,20,5`: the first is the baseline), builds a
//! ledger of `--records` custody records in blocks of that size in a folder (written as plain
//! files, the layout `FsStore` reads), then times: verification of the blocks in memory (the CPU
//! work: parse, leaf hashes, record identities, roots, signatures, duplicates; with the time of
//! each phase), the same against a pinned checkpoint (consistency proof), and `Ledger::verify`
//! from the folder (listing and reading every block as well; skipped with `--no-folder`). Prints
//! records per second and, for each block size, the ratio of its rate to the baseline's measured
//! in the same process. Real ledgers written by Lambda invocations have small blocks (a few
//! records per invocation), hence blocks of 20 and 5.
//!
//! Then, with `--signatures N` (default 50,000; 0 skips it), the checkpoint signature checks
//! alone, three ways on the same signatures in the same process: `verify_strict` one signature
//! at a time over all cores (what `custody verify` does), ed25519-dalek's `verify_batch` (its
//! `batch` feature) in batches of 64 over all cores, and the hand-written batch verification
//! custody used before (kept here, out of the trust path, only as the baseline), with ratios.
//!
//! `cargo run --release --workspace --bin bench-ledger -- [--records 1000000]
//! [--per-block 100,20,5] [--no-folder] [--keep] [--signatures 50000]` (`--keep` keeps the last
//! ledger built)

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use chrono::{TimeZone, Utc};
use custody_core::ledger::{
    Checkpoint, CustodyRecord, EventKind, How, Layout, Ledger, LedgerConfig, Outcome, Signer, Tip,
    Trust, TrustedKeys, VerifyInput, What, Where, Who, Why, build_block, verify_blocks_timed,
};
use custody_core::store::fs::FsStore;

const ORIGIN: &str = "custody.bench/ledger";

fn record(i: usize) -> CustodyRecord {
    CustodyRecord::new(
        EventKind::Hashed,
        Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap()
            + chrono::Duration::milliseconds(i as i64),
        Who {
            principal: Some("arn:aws:sts::123456789012:assumed-role/custody-tagger/fn".into()),
            function: Some("custody-tagger".into()),
            request_id: Some(format!("8f1c2d7e-{i:012}")),
        },
        What {
            bucket: "genesys-exports".into(),
            key: format!(
                "org-1/year=2024/month=05/day=01/hour=10/conversation_id=c{:08}/r{i:010}.opus",
                i / 4
            ),
            version_id: Some(format!("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY{i:010}")),
            size: Some(1_000_000 + i as u64),
            sha256: Some(format!("{:064x}", i as u128 * 0x9e37_79b9_7f4a_7c15)),
            etag: Some(format!("{:032x}", i)),
            ..Default::default()
        },
        Where {
            region: Some("eu-west-1".into()),
            account: Some("123456789012".into()),
        },
        Why {
            export_job: Some("job-2024-05".into()),
            conversation_id: Some(format!("c{:08}", i / 4)),
            recording_id: Some(format!("r{i:010}")),
            matter: Some("M-2024-001".into()),
            source: format!("s3://genesys-exports/org-1/r{i:010}.opus_metadata.json#v1"),
        },
        How::default(),
        Outcome::default(),
    )
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    Some(args.get(i + 1).cloned().unwrap_or_default())
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// Records per second of each timed run of one block size.
struct Rates {
    per_block: usize,
    memory: f64,
    pinned: f64,
    folder: Option<f64>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let total: usize = match arg("--records") {
        Some(v) => v.parse().context("--records takes a number")?,
        None => 1_000_000,
    };
    let sizes: Vec<usize> = arg("--per-block")
        .unwrap_or_else(|| "100,20,5".into())
        .split(',')
        .map(|v| v.trim().parse::<usize>().map(|n| n.max(1)))
        .collect::<Result<_, _>>()
        .context("--per-block takes block sizes separated by commas")?;
    if total == 0 || sizes.is_empty() {
        bail!("nothing to measure: --records must be above 0 and --per-block name a size");
    }
    println!(
        "cores: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let started = Instant::now();
    let lines: Vec<Vec<u8>> = (0..total).map(|n| record(n).to_line()).collect();
    println!(
        "{total} records serialized in {:.1} s, {:.0} bytes each on average",
        started.elapsed().as_secs_f64(),
        lines.iter().map(Vec::len).sum::<usize>() as f64 / total as f64
    );

    let mut all = Vec::new();
    for (n, &per_block) in sizes.iter().enumerate() {
        let keep = flag("--keep") && n + 1 == sizes.len();
        all.push(measure(&lines, per_block, keep).await?);
    }

    let signatures: usize = match arg("--signatures") {
        Some(v) => v.parse().context("--signatures takes a number")?,
        None => 50_000,
    };
    if signatures > 0 {
        signature_strategies(signatures)?;
    }

    let base = &all[0];
    println!(
        "\nsummary: records/s, and the ratio to blocks of {} measured in this process",
        base.per_block
    );
    for r in &all {
        let folder = match (r.folder, base.folder) {
            (Some(f), Some(b)) => format!("{f:>9.0} ({:.2})", f / b),
            _ => "-".into(),
        };
        println!(
            "  blocks of {:<4} in memory {:>9.0} ({:.2})   pinned {:>9.0} ({:.2})   folder {folder}   1M records in {:.2} s",
            r.per_block,
            r.memory,
            r.memory / base.memory,
            r.pinned,
            r.pinned / base.pinned,
            1_000_000.0 / r.memory
        );
    }
    Ok(())
}

async fn measure(lines: &[Vec<u8>], per_block: usize, keep: bool) -> Result<Rates> {
    let total = lines.len();
    let dir = tempfile::tempdir()?;
    let signer = Signer::generate(ORIGIN)?;
    let layout = Layout::new("");
    std::fs::create_dir_all(dir.path().join("blocks"))?;
    let folder = !flag("--no-folder");

    let started = Instant::now();
    let mut tip = Tip::genesis();
    let mut blocks: Vec<(u64, Bytes)> = Vec::new();
    let mut pinned_tip = None;
    for chunk in lines.chunks(per_block) {
        let block = build_block(&tip, chunk, ORIGIN, &signer, "2024-05-01T10:00:00.000Z")
            .map_err(anyhow::Error::msg)?;
        if folder {
            std::fs::write(
                dir.path().join(layout.block(block.header.index)),
                &block.bytes,
            )?;
        }
        blocks.push((block.header.index, Bytes::from(block.bytes)));
        tip = block.tip_after;
        if pinned_tip.is_none() && tip.tree_size() >= total as u64 / 2 {
            pinned_tip = Some(tip.clone());
        }
    }
    let pinned_tip = pinned_tip.context("an empty ledger")?;
    let pinned = Checkpoint::sign(
        ORIGIN,
        pinned_tip.tree_size(),
        pinned_tip.frontier.root(),
        &signer,
    )
    .map_err(anyhow::Error::msg)?;
    let bytes: usize = blocks.iter().map(|(_, b)| b.len()).sum();
    println!(
        "\nblocks of {per_block}: {total} records in {} blocks ({:.0} MB) built in {:.1} s{}",
        blocks.len(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        if folder {
            format!(" in {}", dir.path().display())
        } else {
            String::new()
        }
    );

    let trusted = TrustedKeys::new(vec![signer.verifier_key()]);
    let mut rates = Vec::new();
    for (label, pin) in [
        ("in memory", None),
        ("in memory, pinned at half", Some(&pinned)),
    ] {
        let input = VerifyInput {
            location: "memory".into(),
            origin: ORIGIN,
            trusted: &trusted,
            trust: Trust::PinnedKeys,
            pinned: pin,
            found: Vec::new(),
            blocks: blocks.clone(),
        };
        let t = Instant::now();
        let (report, phases) = verify_blocks_timed(input);
        rates.push(report_line(
            label,
            total,
            t.elapsed().as_secs_f64(),
            report.is_intact(),
            report.records,
        )?);
        let phases: Vec<String> = phases
            .iter()
            .map(|(phase, d)| format!("{phase} {:.2}", d.as_secs_f64()))
            .collect();
        println!("    phases (s): {}", phases.join(", "));
    }
    drop(blocks);

    let mut folder_rate = None;
    if folder {
        let store = Arc::new(FsStore::open(dir.path())?);
        let mut config = LedgerConfig::new(ORIGIN);
        config.trusted_keys = vec![signer.verifier_key()];
        let ledger = Ledger::open(store, "", config, None).await?;
        let t = Instant::now();
        let report = ledger.verify(None).await;
        folder_rate = Some(report_line(
            "from the folder (list + read + verify)",
            total,
            t.elapsed().as_secs_f64(),
            report.is_intact(),
            report.records,
        )?);
    }
    if keep && folder {
        let kept = dir.keep();
        let vkey = kept.join("bench.vkey");
        std::fs::write(&vkey, format!("{}\n", signer.verifier_key().to_text()))?;
        println!(
            "kept the ledger in {} and its public key in {}",
            kept.display(),
            vkey.display()
        );
    }
    Ok(Rates {
        per_block,
        memory: rates[0],
        pinned: rates[1],
        folder: folder_rate,
    })
}

/// Print one timed run; returns its records per second.
fn report_line(label: &str, total: usize, secs: f64, intact: bool, records: u64) -> Result<f64> {
    if !intact || records != total as u64 {
        bail!("{label}: verification did not pass ({records} records)");
    }
    let rate = total as f64 / secs;
    println!(
        "  {label:<40} {total} records in {secs:.2} s = {rate:.0} records/s; 1M records in {:.2} s",
        1_000_000.0 / rate
    );
    Ok(rate)
}

/// The checkpoint signature checks alone, three ways, on the same signatures.
fn signature_strategies(n: usize) -> Result<()> {
    use ed25519_dalek::{Signature, VerifyingKey};
    use rayon::prelude::*;
    use signed_note::Signer as _;

    let signer = Signer::generate(ORIGIN)?;
    let key: VerifyingKey = *signer.verifier_key().ed25519();
    let messages: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("{ORIGIN}\n{}\n{:044}\n", i * 20, i).into_bytes())
        .collect();
    let signatures: Vec<Signature> = messages
        .iter()
        .map(|m| Signature::from_slice(&signer.sign(m).expect("signs")).expect("64 bytes"))
        .collect();
    println!("\nsignatures: {n} checkpoint signatures by one key, the same ones each way");

    let time = |label: &str, run: &dyn Fn() -> bool| -> Result<f64> {
        let t = Instant::now();
        let ok = run();
        let secs = t.elapsed().as_secs_f64();
        if !ok {
            bail!("{label}: a valid signature was refused");
        }
        let rate = n as f64 / secs;
        println!("  {label:<52} {secs:>6.2} s = {rate:>9.0} signatures/s");
        Ok(rate)
    };
    let strict = time(
        "verify_strict, one at a time, all cores (custody now)",
        &|| {
            messages
                .par_iter()
                .zip(&signatures)
                .all(|(m, s)| key.verify_strict(m, s).is_ok())
        },
    )?;
    let dalek = time(
        "ed25519-dalek verify_batch, 64 per batch, all cores",
        &|| {
            let keys = vec![key; 64];
            messages
                .par_chunks(64)
                .zip(signatures.par_chunks(64))
                .all(|(m, s)| {
                    let m: Vec<&[u8]> = m.iter().map(Vec::as_slice).collect();
                    ed25519_dalek::verify_batch(&m, s, &keys[..s.len()]).is_ok()
                })
        },
    )?;
    let handwritten = time(
        "hand-written batch, 64 per batch, all cores (before)",
        &|| {
            messages
                .par_chunks(64)
                .zip(signatures.par_chunks(64))
                .all(|(m, s)| handwritten_batch::holds(&key, m, s))
        },
    )?;
    println!(
        "  ratios: verify_strict / hand-written {:.2}, verify_batch / hand-written {:.2}, \
         verify_strict / verify_batch {:.2}",
        strict / handwritten,
        dalek / handwritten,
        strict / dalek
    );
    Ok(())
}

/// The batch equation custody checked by hand before (removed from the trust path: its random
/// coefficients gave a signature whose `R` has a torsion component different verdicts in
/// different runs). Kept only to measure against.
mod handwritten_batch {
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::scalar::Scalar;
    use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
    use ed25519_dalek::{Signature, VerifyingKey};
    use rand::RngCore;
    use sha2::{Digest, Sha512};

    pub fn holds(key: &VerifyingKey, messages: &[Vec<u8>], signatures: &[Signature]) -> bool {
        let mut rng = rand::rngs::OsRng;
        let mut scalars = Vec::with_capacity(messages.len() + 2);
        let mut points = Vec::with_capacity(messages.len() + 2);
        let mut key_coefficient = Scalar::ZERO;
        let mut base_coefficient = Scalar::ZERO;
        for (m, sig) in messages.iter().zip(signatures) {
            let r_bytes = sig.r_bytes();
            let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*sig.s_bytes()))
            else {
                return false;
            };
            let Some(r) = CompressedEdwardsY(*r_bytes).decompress() else {
                return false;
            };
            if r.is_small_order() {
                return false;
            }
            let h = Scalar::from_hash(
                Sha512::new()
                    .chain_update(r_bytes)
                    .chain_update(key.as_bytes())
                    .chain_update(m),
            );
            let mut z = [0u8; 16];
            rng.fill_bytes(&mut z);
            let z = Scalar::from(u128::from_le_bytes(z));
            key_coefficient += z * h;
            base_coefficient += z * s;
            scalars.push(z);
            points.push(r);
        }
        scalars.push(key_coefficient);
        points.push(key.to_edwards());
        scalars.push(-base_coefficient);
        points.push(ED25519_BASEPOINT_POINT);
        EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
    }
}
