//! Tiles over ledgers of many sizes, checked independently of the code that wrote them: the
//! root of every block is recomputed from the stored tiles with `tlog_tiles::tree_hash`, proofs
//! are checked with `tlog_tiles::check_record` / `check_tree` against signed checkpoints.

mod catch_up;
mod pinned;
mod proofs;
mod publish;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use tlog_tiles::{HashReader, Tile};

use crate::ledger::block::{NewBlock, Tip, build_block};
use crate::ledger::keys::Signer;
use crate::ledger::layout::Layout;
use crate::ledger::merkle::Hash;
use crate::ledger::tiles::{TILE_HEIGHT, TILE_WIDTH, decode_bundle, entry_bundle, tile_at_size};
use crate::store::memory::MemoryStore;
use crate::store::{BucketSpec, ObjectStore, StoreRead};

pub(super) const ORIGIN: &str = "custody.test/ledger";
const CREATED: &str = "2024-05-01T10:00:00.000Z";

/// A small deterministic generator (xorshift), so a failing size can be replayed.
pub(super) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform-ish in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo + 1)
    }
}

/// The record line of leaf `leaf`: lengths vary so bundles are not uniform.
pub(super) fn line(leaf: u64) -> Vec<u8> {
    format!(
        r#"{{"leaf":{leaf},"pad":"{}"}}"#,
        "x".repeat((leaf % 37) as usize)
    )
    .into_bytes()
}

/// A chain of signed blocks holding `sizes[i]` records each.
pub(super) struct Chain {
    pub signer: Signer,
    pub blocks: Vec<NewBlock>,
}

impl Chain {
    pub fn new(sizes: &[u64]) -> Chain {
        let signer = Signer::generate(ORIGIN).unwrap();
        let mut chain = Chain {
            signer,
            blocks: Vec::new(),
        };
        chain.extend(sizes);
        chain
    }

    pub fn extend(&mut self, sizes: &[u64]) {
        let mut tip = self
            .blocks
            .last()
            .map_or_else(Tip::genesis, |b| b.tip_after.clone());
        for &count in sizes {
            let first = tip.tree_size();
            let records: Vec<Vec<u8>> = (first..first + count).map(line).collect();
            let block = build_block(&tip, &records, ORIGIN, &self.signer, CREATED).unwrap();
            tip = block.tip_after.clone();
            self.blocks.push(block);
        }
    }

    /// Random block sizes in `1..=max_block` until the tree holds at least `total` leaves.
    pub fn random(seed: u64, total: u64, max_block: u64) -> Chain {
        let mut rng = Rng::new(seed);
        let mut sizes = Vec::new();
        let mut sum = 0;
        while sum < total {
            let n = rng.range(1, max_block).min(total - sum);
            sizes.push(n);
            sum += n;
        }
        Chain::new(&sizes)
    }

    pub fn size(&self) -> u64 {
        self.blocks.last().map_or(0, |b| b.header.tree_size)
    }
}

pub(super) fn memory() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new("ledger-bucket", BucketSpec::default()))
}

/// Every object under `prefix`, read.
pub(super) async fn objects(store: &dyn StoreRead, prefix: &str) -> BTreeMap<String, Bytes> {
    let mut out = BTreeMap::new();
    for o in store.list(prefix).await.unwrap() {
        let bytes = store.get_bytes(&o.key, None).await.unwrap();
        out.insert(o.key, bytes);
    }
    out
}

/// The stored tiles as a plain (unauthenticating) `tlog_tiles::HashReader` for the tree of
/// `size` leaves, reading each tile at exactly the width it has at that size.
pub(super) struct StoredTiles<'a> {
    pub objects: &'a BTreeMap<String, Bytes>,
    pub layout: &'a Layout,
    pub size: u64,
}

impl HashReader for StoredTiles<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&index| {
                let holder = Tile::from_index(TILE_HEIGHT, index);
                let tile = tile_at_size(holder.level(), holder.level_index(), self.size, false)
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)?;
                let data = self
                    .objects
                    .get(&self.layout.tile(&tile))
                    .ok_or(tlog_tiles::Error::InvalidTile)?;
                tile.hash_at_index(data, index)
            })
            .collect()
    }
}

/// The keys the tiles of `chain` must have, exactly: for every block, the hash tiles
/// `Tile::new_tiles` names and the entry bundles its leaves touch, and `checkpoint`.
pub(super) fn expected_keys(chain: &Chain, layout: &Layout) -> BTreeSet<String> {
    let mut keys = BTreeSet::from([layout.checkpoint()]);
    for b in &chain.blocks {
        let (old, new) = (b.header.first_leaf, b.header.tree_size);
        for tile in Tile::new_tiles(TILE_HEIGHT, old, new) {
            keys.insert(layout.tile(&tile));
        }
        for n in old / TILE_WIDTH..=(new - 1) / TILE_WIDTH {
            let width = (new - n * TILE_WIDTH).min(TILE_WIDTH) as u32;
            keys.insert(layout.tile(&entry_bundle(n, width)));
        }
    }
    keys
}

/// Check the stored tiles of `chain` independently: exactly the expected objects; at every
/// block boundary, `tlog_tiles::tree_hash` over the tiles of that size is the block's root;
/// every entry of the newest bundles is its record line; `checkpoint` is the newest block's note.
pub(super) async fn assert_tiles_match(store: &dyn ObjectStore, layout: &Layout, chain: &Chain) {
    let mut stored = objects(store, &layout.tiles_prefix()).await;
    let checkpoint = store.get_bytes(&layout.checkpoint(), None).await.unwrap();
    stored.insert(layout.checkpoint(), checkpoint.clone());
    let keys: BTreeSet<String> = stored.keys().cloned().collect();
    assert_eq!(keys, expected_keys(chain, layout), "tile keys");
    for b in &chain.blocks {
        let size = b.header.tree_size;
        let reader = StoredTiles {
            objects: &stored,
            layout,
            size,
        };
        let root = tlog_tiles::tree_hash(size, &reader).unwrap();
        let expected: Hash = crate::ledger::decode_hash(&b.header.root).unwrap();
        assert_eq!(
            root.0, expected,
            "root of block {} at size {size}",
            b.header.index
        );
    }
    let size = chain.size();
    for n in 0..size.div_ceil(TILE_WIDTH) {
        let tile = tile_at_size(0, n, size, true).unwrap();
        let bytes = &stored[&layout.tile(&tile)];
        let entries = decode_bundle("bundle", bytes, tile.width() as usize).unwrap();
        for (k, entry) in entries.iter().enumerate() {
            assert_eq!(
                *entry,
                line(n * TILE_WIDTH + k as u64).as_slice(),
                "leaf {}",
                n * TILE_WIDTH + k as u64
            );
        }
    }
    let last = chain.blocks.last().unwrap();
    let view = crate::ledger::BlockView::parse(&last.bytes).unwrap();
    assert_eq!(
        &checkpoint[..],
        view.note,
        "checkpoint is the newest block's note"
    );
}

/// The integrator runs these on a multi-threaded runtime: their futures must be `Send`.
#[allow(dead_code)]
fn futures_are_send(
    store: &dyn crate::store::StoreWrite,
    layout: &Layout,
    view: &crate::ledger::BlockView<'_>,
    ledger: &crate::ledger::Ledger,
    log: &crate::ledger::tiles::TileLog<'_>,
) {
    fn send<T: Send>(_: T) {}
    send(crate::ledger::tiles::publish_block(store, layout, view));
    send(crate::ledger::tiles::catch_up(ledger));
    send(log.inclusion_proof(0, 1, &[0; 32]));
    send(log.consistency_proof(1, 2, &[0; 32]));
}
