//! Tile coordinates and their C2SP paths (<https://c2sp.org/tlog-tiles>, "Merkle Tree" and
//! "Log entries").
//!
//! Tiles are 8 levels high: a hash tile at tile level `L` holds up to 256 consecutive hashes of
//! tree level `8 * L`; an entry bundle holds up to 256 consecutive entries. The coordinates, the
//! `x`-prefixed three-digit encoding of `N` and the hashing are `tlog_tiles::Tile`'s; only the
//! path's first elements differ: tlog_tiles 0.2 writes Go `sumdb/tlog` paths, which name the
//! height and call entry bundles `data`:
//!
//! ```text
//! tlog_tiles 0.2 (Go sumdb)        C2SP tlog-tiles (what custody stores)
//! tile/8/0/x001/234                tile/0/x001/234
//! tile/8/1/005.p/17                tile/1/005.p/17
//! tile/8/data/x001/234.p/3         tile/entries/x001/234.p/3
//! ```
//!
//! so [`c2sp_path`] rewrites that prefix of `Tile::path()` and changes nothing else.

use tlog_tiles::Tile;

/// Tile height of C2SP tlog-tiles: 8 tree levels, 256 hashes (or entries) in a full tile.
pub const TILE_HEIGHT: u8 = 8;

/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// The hash tile at tile level `level`, index `n`, `width` hashes wide (1..=256).
pub fn hash_tile(level: u8, n: u64, width: u32) -> Tile {
    Tile::new(TILE_HEIGHT, level, n, width, false)
}

/// The entry bundle `n`, `width` entries wide (1..=256).
pub fn entry_bundle(n: u64, width: u32) -> Tile {
    Tile::new(TILE_HEIGHT, 0, n, width, true)
}

/// The tile `(level, n)` as it exists for a tree of `size` leaves: full when the tree covers all
/// its 256 slots, else partial with the width the tree gives it; `None` when the tree does not
/// reach it. `data` picks the entry bundle (level 0) rather than the hash tile.
pub fn tile_at_size(level: u8, n: u64, size: u64, data: bool) -> Option<Tile> {
    let count = level_width(level, size);
    let start = n.checked_mul(TILE_WIDTH)?;
    if count <= start {
        return None;
    }
    let width = (count - start).min(TILE_WIDTH) as u32;
    Some(Tile::new(TILE_HEIGHT, level, n, width, data))
}

/// The right-edge partial tile of `level` for a tree of `size` leaves, `None` when the level's
/// hashes fill whole tiles (or there are none).
pub fn partial_tile_at_size(level: u8, size: u64, data: bool) -> Option<Tile> {
    let count = level_width(level, size);
    let width = (count % TILE_WIDTH) as u32;
    (width > 0).then(|| Tile::new(TILE_HEIGHT, level, count / TILE_WIDTH, width, data))
}

/// The last tile of every level, and the last entry bundle, of a tree of `size` leaves: the
/// objects the publication of the block ending at `size` writes last at each level. A tree's tiles
/// are complete when these exist (publications run in order, each checking its predecessor's).
pub fn last_tiles(size: u64) -> Vec<Tile> {
    let mut tiles = Vec::new();
    if size == 0 {
        return tiles;
    }
    tiles.push(Tile::new(
        TILE_HEIGHT,
        0,
        (size - 1) / TILE_WIDTH,
        ((size - 1) % TILE_WIDTH + 1) as u32,
        true,
    ));
    let mut level = 0u8;
    loop {
        let count = level_width(level, size);
        if count == 0 {
            break;
        }
        let n = (count - 1) / TILE_WIDTH;
        tiles.push(hash_tile(level, n, ((count - 1) % TILE_WIDTH + 1) as u32));
        level += 1;
    }
    tiles
}

/// How many hashes tree level `8 * level` has in a tree of `size` leaves.
pub fn level_width(level: u8, size: u64) -> u64 {
    size.checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))
        .unwrap_or(0)
}

/// The C2SP tlog-tiles path of a hash tile or entry bundle, relative to the log's prefix:
/// `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
///
/// # Panics
///
/// When the tile is not 8 levels high (every tile of this module is).
pub fn c2sp_path(tile: &Tile) -> String {
    assert_eq!(tile.height(), TILE_HEIGHT, "C2SP tiles are 8 levels high");
    let go = tile.path();
    let rest = go
        .strip_prefix("tile/8/")
        .expect("tlog_tiles paths start with tile/<height>/");
    match rest.strip_prefix("data/") {
        Some(n) => format!("tile/entries/{n}"),
        None => format!("tile/{rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_c2sp_examples() {
        // The examples of c2sp.org/tlog-tiles, "Merkle Tree" and "Log entries".
        assert_eq!(
            c2sp_path(&hash_tile(0, 1_234_067, 256)),
            "tile/0/x001/x234/067"
        );
        assert_eq!(
            c2sp_path(&hash_tile(0, 1_234_067, 8)),
            "tile/0/x001/x234/067.p/8"
        );
        assert_eq!(c2sp_path(&hash_tile(2, 5, 17)), "tile/2/005.p/17");
        assert_eq!(
            c2sp_path(&entry_bundle(1_234_067, 256)),
            "tile/entries/x001/x234/067"
        );
        assert_eq!(c2sp_path(&entry_bundle(0, 3)), "tile/entries/000.p/3");
    }

    #[test]
    fn tiles_at_a_size() {
        assert_eq!(tile_at_size(0, 0, 0, false), None);
        assert_eq!(tile_at_size(0, 0, 5, false), Some(hash_tile(0, 0, 5)));
        assert_eq!(tile_at_size(0, 0, 700, false), Some(hash_tile(0, 0, 256)));
        assert_eq!(tile_at_size(0, 2, 700, true), Some(entry_bundle(2, 188)));
        assert_eq!(tile_at_size(0, 3, 700, false), None);
        assert_eq!(tile_at_size(1, 0, 700, false), Some(hash_tile(1, 0, 2)));
        assert_eq!(tile_at_size(1, 0, 255, false), None);
        assert_eq!(partial_tile_at_size(0, 512, false), None);
        assert_eq!(
            partial_tile_at_size(1, 512, false),
            Some(hash_tile(1, 0, 2))
        );
        assert_eq!(partial_tile_at_size(0, 513, true), Some(entry_bundle(2, 1)));
        assert_eq!(level_width(9, u64::MAX), 0);
        assert_eq!(last_tiles(0), vec![]);
        assert_eq!(last_tiles(1), vec![entry_bundle(0, 1), hash_tile(0, 0, 1)]);
        assert_eq!(
            last_tiles(512),
            vec![
                entry_bundle(1, 256),
                hash_tile(0, 1, 256),
                hash_tile(1, 0, 2)
            ]
        );
        assert_eq!(
            last_tiles(65_536 + 3),
            vec![
                entry_bundle(256, 3),
                hash_tile(0, 256, 3),
                hash_tile(1, 0, 256),
                hash_tile(2, 0, 1)
            ]
        );
    }
}
