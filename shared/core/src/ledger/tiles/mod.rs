//! The ledger's tree published as C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>) beside the
//! blocks, so that an inclusion or consistency proof costs O(log n) small reads, and any
//! tlog-tiles client can read the log. The tiles are derived from the blocks: the blocks stay the
//! ledger, a verifier never depends on the tiles, and every tile read here is checked against a
//! root the reader trusts.
//!
//! Objects under the ledger's prefix (C2SP tlog-tiles, "Checkpoints", "Merkle Tree", "Log
//! entries"):
//!
//! ```text
//! checkpoint                    the newest published block's signed checkpoint note (C2SP
//!                               tlog-checkpoint in a signed note), overwritten after each block
//! tile/<L>/<N>[.p/<W>]          hash tile: hashes N*256 .. N*256+W-1 of tree level 8*L, 32 bytes
//!                               each, concatenated; full tiles (W = 256) have no .p/ suffix
//! tile/entries/<N>[.p/<W>]      entry bundle: leaves N*256 .. N*256+W-1, each a big-endian
//!                               uint16 length then the record line (the leaf data)
//! ```
//!
//! `<N>` is written in groups of three digits, all but the last prefixed with `x`
//! (`1234067` -> `x001/x234/067`). A level-0 hash is the leaf hash `SHA-256(0x00 || line)`; a
//! level-`L+1` hash is the RFC 6962 root of the full level-`L` tile below it. Full and partial
//! tiles are written create-only and never change (a partial tile of width W stays when the full
//! tile comes, so the tiles of every published block boundary remain); only `checkpoint` is
//! overwritten, last.
//!
//! One concept per file:
//!
//! - `coords`: tile coordinates and their C2SP paths;
//! - `bundle`: the entry-bundle codec and [`MAX_ENTRY_BYTES`];
//! - `publish`: [`publish_block`], one block's tiles and the checkpoint;
//! - `catch_up`: [`catch_up`], every block not yet covered;
//! - `proofs`: [`TileLog`], inclusion and consistency proofs from tiles;
//! - `pinned`: [`check_pinned`], a pinned checkpoint against the newest block, from tiles;
//! - `objects`: create-only writes and capped reads of tile objects.
//!
//! `tlog_tiles` (0.2, Cloudflare's port of Go's `sumdb/tlog`) does the tile coordinates
//! (`Tile`, `Tile::new_tiles`, `Tile::from_index`), the hashing (`Tile::subtree_hash`,
//! `hash_at_index`, `stored_hash_index`), the proofs (`prove_record`, `prove_tree` over
//! `TileHashReader`, which authenticates the right-edge tiles against the root) and their checks
//! (`check_record`, `check_tree`). Written here, because tlog_tiles 0.2 lacks them or gets them
//! wrong: the C2SP path prefix (it writes Go's `tile/8/...` and `tile/8/data/...`, see
//! [`c2sp_path`]), the entry-bundle codec, the asynchronous store I/O around its synchronous
//! readers, and the check of every full tile against its parent, which its `TileHashReader`
//! skips for some tiles (`proofs`).

mod bundle;
mod catch_up;
mod coords;
mod error;
mod objects;
mod pinned;
mod proofs;
mod publish;

#[cfg(test)]
mod tests;

pub use bundle::{MAX_ENTRY_BYTES, decode_bundle, encode_bundle};
pub use catch_up::{CaughtUp, CoveredBy, catch_up};
pub use coords::{
    TILE_HEIGHT, TILE_WIDTH, c2sp_path, entry_bundle, hash_tile, last_tiles, level_width,
    partial_tile_at_size, tile_at_size,
};
pub use error::TilesError;
pub use pinned::{PinnedVerdict, check_pinned};
pub use proofs::{TileLog, TileProof};
pub use publish::{TilesPublished, publish_block};
