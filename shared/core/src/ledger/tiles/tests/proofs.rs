use tlog_tiles::{check_record, check_tree, record_hash};

use crate::ledger::block::BlockView;
use crate::ledger::checkpoint::Checkpoint;
use crate::ledger::keys::TrustedKeys;
use crate::ledger::layout::Layout;
use crate::ledger::merkle::{Frontier, Hash, PartialTree, leaf_hash};
use crate::ledger::tiles::{TileLog, TilesError, hash_tile, level_width, partial_tile_at_size};
use crate::store::PutRequest;
use crate::store::faulty::FaultyStore;
use crate::store::{StoreRead, StoreWrite};

use super::publish::publish_all;
use super::{Chain, Rng, StoredTiles, line, memory, objects};

fn tlog(proof: &[Hash]) -> Vec<tlog_tiles::Hash> {
    proof.iter().map(|h| tlog_tiles::Hash(*h)).collect()
}

/// Every block's checkpoint, its signature verified: (size, root).
fn signed_checkpoints(chain: &Chain) -> Vec<(u64, Hash)> {
    let trusted = TrustedKeys::new(vec![chain.signer.verifier_key()]);
    chain
        .blocks
        .iter()
        .map(|b| {
            let view = BlockView::parse(&b.bytes).unwrap();
            let cp = Checkpoint::parse(view.note).unwrap();
            cp.verify(&trusted).unwrap();
            (cp.size, cp.root)
        })
        .collect()
}

fn leaves(size: u64) -> Vec<Hash> {
    (0..size).map(|i| leaf_hash(&line(i))).collect()
}

#[tokio::test]
async fn proofs_from_tiles_check_against_the_signed_checkpoints() {
    let chain = Chain::random(3, 1_800, 500);
    let layout = Layout::new("ledger");
    let store = memory();
    publish_all(store.as_ref(), &layout, &chain).await;
    let (log, newest) = TileLog::open(store.as_ref(), &layout).await.unwrap();
    assert_eq!(log.published(), chain.size());
    assert_eq!(newest.size, chain.size());

    let all = leaves(chain.size());
    let empty = Frontier::empty();
    let checkpoints = signed_checkpoints(&chain);
    let mut rng = Rng::new(9);
    for (k, &(n, root)) in checkpoints.iter().enumerate() {
        let tree = PartialTree {
            base: &empty,
            leaves: &all[..n as usize],
        };
        for i in [0, n - 1, rng.range(0, n - 1), rng.range(0, n - 1)] {
            let p = log.inclusion_proof(i, n, &root).await.unwrap();
            check_record(
                &tlog(&p.proof),
                n,
                tlog_tiles::Hash(root),
                i,
                record_hash(&line(i)),
            )
            .unwrap_or_else(|e| panic!("leaf {i} at size {n}: {e}"));
            assert_eq!(
                p.proof,
                tree.inclusion_proof(i).unwrap(),
                "leaf {i} at size {n}"
            );
        }
        for &(m, old_root) in &checkpoints[..=k] {
            let p = log.consistency_proof(m, n, &root).await.unwrap();
            check_tree(
                &tlog(&p.proof),
                n,
                tlog_tiles::Hash(root),
                m,
                tlog_tiles::Hash(old_root),
            )
            .unwrap_or_else(|e| panic!("{m} -> {n}: {e}"));
            assert_eq!(p.proof, tree.consistency_proof(m).unwrap(), "{m} -> {n}");
        }
    }

    // A tree size inside a block (no checkpoint, no partial tile of its own): the wider
    // published tiles are cut to width.
    let n = checkpoints[0].0 + 1 + (checkpoints[1].0 - checkpoints[0].0) / 2;
    let tree = PartialTree {
        base: &empty,
        leaves: &all[..n as usize],
    };
    let root = tree.subtree(0, n).unwrap();
    let p = log.inclusion_proof(n / 3, n, &root).await.unwrap();
    assert_eq!(p.proof, tree.inclusion_proof(n / 3).unwrap());

    // A proof against a checkpoint the log does not reach is refused, not guessed.
    let beyond = log
        .inclusion_proof(0, chain.size() + 1, &root)
        .await
        .unwrap_err();
    assert!(
        matches!(beyond, TilesError::NotPublished { .. }),
        "{beyond}"
    );
}

#[tokio::test]
async fn a_tampered_tile_fails_the_check_against_the_signed_checkpoint() {
    let chain = Chain::random(5, 1_200, 300);
    let layout = Layout::new("ledger");
    let store = memory();
    publish_all(store.as_ref(), &layout, &chain).await;
    let &(n, root) = signed_checkpoints(&chain).last().unwrap();
    let log = TileLog::new(store.as_ref(), &layout, n);
    let leaf = 10;
    let good = log.inclusion_proof(leaf, n, &root).await.unwrap();
    let leaf_hash = record_hash(&line(leaf));
    check_record(
        &tlog(&good.proof),
        n,
        tlog_tiles::Hash(root),
        leaf,
        leaf_hash,
    )
    .unwrap();

    // Alter one hash in each tile the proof uses, one at a time: the right edge (checked
    // against the root by tlog_tiles), the level-1 tile, and the full level-0 tile (checked
    // against their parents). Leaf 11's hash is leaf 10's sibling.
    let right_edge = partial_tile_at_size(0, n, false).unwrap();
    let level1 = partial_tile_at_size(1, n, false).unwrap();
    let key = layout.tile(&hash_tile(0, 0, 256));
    for (tampered, at) in [
        (layout.tile(&right_edge), 0),
        (layout.tile(&level1), 32),
        (key.clone(), 11 * 32),
    ] {
        let intact = store.get_bytes(&tampered, None).await.unwrap();
        let mut tile = intact.to_vec();
        tile[at] ^= 0x80;
        store.put(PutRequest::new(&tampered, tile)).await.unwrap();
        // The tiles are authenticated against the signed root before a proof is made of them.
        let err = log.inclusion_proof(leaf, n, &root).await.unwrap_err();
        assert!(
            matches!(&err, TilesError::Inconsistent { tree_size, keys } if *tree_size == n && keys.contains(&tampered)),
            "{tampered}: {err}"
        );
        if tampered != key {
            store.put(PutRequest::new(&tampered, intact)).await.unwrap();
            log.inclusion_proof(leaf, n, &root).await.unwrap();
        }
    }

    // And were they not, the proof made from the altered tile fails exactly the check against
    // the signed checkpoint, which the same proof from the intact tiles passed above.
    let stored = objects(store.as_ref(), &layout.tiles_prefix()).await;
    let unauthenticated = StoredTiles {
        objects: &stored,
        layout: &layout,
        size: n,
    };
    let forged = tlog_tiles::prove_record(n, leaf, &unauthenticated).unwrap();
    assert_ne!(forged, tlog(&good.proof));
    let rejected = check_record(&forged, n, tlog_tiles::Hash(root), leaf, leaf_hash);
    assert!(
        matches!(rejected, Err(tlog_tiles::Error::InvalidProof)),
        "{rejected:?}"
    );
}

/// Tile levels of a tree of `n` leaves.
fn levels(n: u64) -> u64 {
    (0..8u8).take_while(|&l| level_width(l, n) > 0).count() as u64
}

#[tokio::test]
async fn a_proof_costs_at_most_two_reads_per_tile_level() {
    let layout = Layout::new("ledger");
    for (seed, total, max_block) in [(1, 200, 50), (2, 3_000, 700), (3, 70_000, 5_000)] {
        let chain = Chain::random(seed, total, max_block);
        let inner = memory();
        publish_all(inner.as_ref(), &layout, &chain).await;
        let blocks_bytes: u64 = chain.blocks.iter().map(|b| b.bytes.len() as u64).sum();
        let store = FaultyStore::new(inner.clone());
        let checkpoints = signed_checkpoints(&chain);
        let (n, root) = *checkpoints.last().unwrap();
        let (m, old_root) = checkpoints[checkpoints.len() / 2];
        let log = TileLog::new(&store, &layout, n);
        let mut rng = Rng::new(seed);
        let mut most = 0;
        for leaf in [0, n - 1, rng.range(0, n - 1), rng.range(0, n - 1)] {
            let before = store.calls("GetObject");
            let p = log.inclusion_proof(leaf, n, &root).await.unwrap();
            assert_eq!((store.calls("GetObject") - before) as u64, p.reads);
            assert!(p.reads <= 2 * levels(n), "{} reads for size {n}", p.reads);
            assert!(p.bytes <= p.reads * 256 * 32);
            check_record(
                &tlog(&p.proof),
                n,
                tlog_tiles::Hash(root),
                leaf,
                record_hash(&line(leaf)),
            )
            .unwrap();
            most = most.max(p.bytes);
        }
        let before = store.calls("GetObject");
        let p = log.consistency_proof(m, n, &root).await.unwrap();
        assert_eq!((store.calls("GetObject") - before) as u64, p.reads);
        assert!(p.reads <= 2 * levels(n), "{} reads for {m} -> {n}", p.reads);
        check_tree(
            &tlog(&p.proof),
            n,
            tlog_tiles::Hash(root),
            m,
            tlog_tiles::Hash(old_root),
        )
        .unwrap();
        // Against reading every block, which is what a proof without tiles needs.
        assert!(
            most * 10 < blocks_bytes || n < 10_000,
            "{most} bytes of {blocks_bytes}"
        );
    }
}
