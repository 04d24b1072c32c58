//! Reads and bytes per proof from the tiles of a large ledger on a folder store, against reading
//! the whole ledger (what a proof without tiles needs). A figure, not a timed test:
//!
//! ```text
//! cargo run -p custody-core --example bench-tiles \
//!   --config 'profile.dev.package."*".opt-level=3' -- --records 1000000 --per-block 2000
//! ```
//!
//! Options: `--records N` (leaves), `--per-block K` (records per block), `--line-bytes B` (bytes
//! per record line, default 700 like a typical custody record), `--proofs P` (random leaves
//! proven), `--dir D` (folder to use; default a temporary one, removed afterwards).

use std::time::Instant;

use custody_core::ledger::merkle::leaf_hash;
use custody_core::ledger::tiles::{TileLog, publish_block};
use custody_core::ledger::{BlockView, Checkpoint, Layout, Signer, Tip, TrustedKeys, build_block};
use custody_core::store::fs::FsStore;
use custody_core::store::{PutRequest, StoreRead, StoreWrite};

const ORIGIN: &str = "bench.custody.test/ledger";

struct Args {
    records: u64,
    per_block: u64,
    line_bytes: usize,
    proofs: u64,
    dir: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        records: 1_000_000,
        per_block: 2_000,
        line_bytes: 700,
        proofs: 200,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let number = || {
            value
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{flag} {value}"))
        };
        match flag.as_str() {
            "--records" => a.records = number(),
            "--per-block" => a.per_block = number().max(1),
            "--line-bytes" => a.line_bytes = number() as usize,
            "--proofs" => a.proofs = number(),
            "--dir" => a.dir = Some(value),
            other => panic!("unknown option {other}"),
        }
    }
    a
}

fn line(leaf: u64, bytes: usize) -> Vec<u8> {
    let head = format!(r#"{{"schema":2,"leaf":{leaf},"pad":""#);
    let pad = bytes.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad)).into_bytes()
}

/// A deterministic spread of leaves (xorshift).
fn spread(seed: u64, n: u64, count: u64) -> Vec<u64> {
    let mut x = seed | 1;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let a = args();
    let temp = tempfile::tempdir().expect("a temporary folder");
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().display().to_string());
    std::fs::create_dir_all(&dir).expect("the folder");
    let store = FsStore::open(&dir).expect("a folder store");
    let layout = Layout::new("ledger");
    let signer = Signer::generate(ORIGIN).expect("a key");
    let trusted = TrustedKeys::new(vec![signer.verifier_key()]);

    let started = Instant::now();
    let mut tip = Tip::genesis();
    let mut ledger_bytes = 0u64;
    let mut publish_secs = 0f64;
    let mut blocks = 0u64;
    let mut checkpoints = Vec::new();
    while tip.tree_size() < a.records {
        let first = tip.tree_size();
        let count = a.per_block.min(a.records - first);
        let records: Vec<Vec<u8>> = (first..first + count)
            .map(|i| line(i, a.line_bytes))
            .collect();
        let created = "2026-12-02T00:00:00.000Z";
        let block = build_block(&tip, &records, ORIGIN, &signer, created).expect("a block");
        let key = layout.block(block.header.index);
        store
            .put(PutRequest::new(key, block.bytes.clone()).create_only())
            .await
            .expect("the block written");
        ledger_bytes += block.bytes.len() as u64;
        let view = BlockView::parse(&block.bytes).expect("a block");
        let t = Instant::now();
        publish_block(&store, &layout, &view)
            .await
            .expect("tiles published");
        publish_secs += t.elapsed().as_secs_f64();
        checkpoints.push(Checkpoint::parse(view.note).expect("a checkpoint"));
        tip = block.tip_after;
        blocks += 1;
    }
    let tiles: Vec<_> = store
        .list(&layout.tiles_prefix())
        .await
        .expect("the tiles listed");
    let tile_bytes: u64 = tiles.iter().map(|t| t.size).sum();
    println!(
        "ledger: {} records of {} bytes in {blocks} blocks, {:.1} MB of blocks; built in {:.1} s, \
         tiles published in {publish_secs:.1} s ({:.1} ms per block); {} tile objects, {:.1} MB",
        a.records,
        a.line_bytes,
        ledger_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        publish_secs * 1e3 / blocks as f64,
        tiles.len(),
        tile_bytes as f64 / 1e6
    );

    let newest = checkpoints.last().expect("a checkpoint");
    newest.verify(&trusted).expect("a signed checkpoint");
    let (n, root) = (newest.size, newest.root);
    let log = TileLog::new(&store, &layout, n);
    let (mut reads, mut bytes, mut most_reads, mut most_bytes) = (0u64, 0u64, 0u64, 0u64);
    let t = Instant::now();
    for leaf in spread(7, n, a.proofs) {
        let p = log.inclusion_proof(leaf, n, &root).await.expect("a proof");
        let proof: Vec<_> = p.proof.iter().map(|h| tlog_tiles::Hash(*h)).collect();
        let hash = tlog_tiles::Hash(leaf_hash(&line(leaf, a.line_bytes)));
        tlog_tiles::check_record(&proof, n, tlog_tiles::Hash(root), leaf, hash)
            .expect("the proof checks against the signed checkpoint");
        reads += p.reads;
        bytes += p.bytes;
        most_reads = most_reads.max(p.reads);
        most_bytes = most_bytes.max(p.bytes);
    }
    let per = a.proofs.max(1) as f64;
    println!(
        "inclusion proof at size {n}, {} leaves: {:.2} reads and {:.1} KiB per proof (most {most_reads} reads, \
         {:.1} KiB), {:.2} ms each; whole ledger {:.1} MB: ratio 1 : {:.0}",
        a.proofs,
        reads as f64 / per,
        bytes as f64 / per / 1024.0,
        most_bytes as f64 / 1024.0,
        t.elapsed().as_secs_f64() * 1e3 / per,
        ledger_bytes as f64 / 1e6,
        ledger_bytes as f64 / (bytes as f64 / per)
    );

    let (mut reads, mut bytes, mut most_reads) = (0u64, 0u64, 0u64);
    let picks = spread(11, checkpoints.len() as u64, a.proofs.min(50));
    for &k in &picks {
        let old = &checkpoints[k as usize];
        let p = log
            .consistency_proof(old.size, n, &root)
            .await
            .expect("a proof");
        let proof: Vec<_> = p.proof.iter().map(|h| tlog_tiles::Hash(*h)).collect();
        tlog_tiles::check_tree(
            &proof,
            n,
            tlog_tiles::Hash(root),
            old.size,
            tlog_tiles::Hash(old.root),
        )
        .expect("the proof checks");
        reads += p.reads;
        bytes += p.bytes;
        most_reads = most_reads.max(p.reads);
    }
    let per = picks.len().max(1) as f64;
    println!(
        "consistency proof from {} earlier block checkpoints to size {n}: {:.2} reads and {:.1} KiB \
         per proof (most {most_reads} reads); ratio to the whole ledger 1 : {:.0}",
        picks.len(),
        reads as f64 / per,
        bytes as f64 / per / 1024.0,
        ledger_bytes as f64 / (bytes as f64 / per)
    );
}
