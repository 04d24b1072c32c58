//! Where the ledger's objects live under its prefix.
//!
//! ```text
//! <prefix>blocks/00000000000000000042   block 42 (20-digit zero-padded: keys sort in ledger order)
//! <prefix>head.json                     hint of the newest block index (may lag; never trusted)
//! <prefix>keys/<key id>.vkey            published verifier keys (C2SP vkey text)
//! <prefix>submissions/<2 hex>/<64 hex>  records waiting for the integrator (JSON lines), named by
//!                                       the SHA-256 of their content, create-only
//! <prefix>rejected/<2 hex>/<64 hex>     a submission holding lines the integrator refused, kept
//!                                       with the reasons (`.json`) instead of being deleted
//! <prefix>state/identities              the integrator's signed identity snapshot (a cache)
//! <prefix>checkpoint                    the newest block's signed checkpoint, as C2SP tlog-tiles names it
//! <prefix>tile/<L>/<N>[.p/<W>]          C2SP tlog-tiles hash tiles (create-only), see [`super::tiles`]
//! <prefix>tile/entries/<N>[.p/<W>]      C2SP tlog-tiles entry bundles: the record lines (create-only)
//! ```

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    prefix: String,
}

impl Layout {
    /// `prefix` is used as given, with a `/` added when it is non-empty and lacks one.
    pub fn new(prefix: &str) -> Layout {
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_string()
        } else {
            format!("{prefix}/")
        };
        Layout { prefix }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn blocks_prefix(&self) -> String {
        format!("{}blocks/", self.prefix)
    }

    pub fn block(&self, index: u64) -> String {
        format!("{}blocks/{index:020}", self.prefix)
    }

    /// The block index a listed key names, when it is a block key.
    pub fn block_index(&self, key: &str) -> Option<u64> {
        let digits = key.strip_prefix(&self.blocks_prefix())?;
        if digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
            digits.parse().ok()
        } else {
            None
        }
    }

    pub fn head_hint(&self) -> String {
        format!("{}head.json", self.prefix)
    }

    pub fn submissions_prefix(&self) -> String {
        format!("{}submissions/", self.prefix)
    }

    /// The key of a submission whose content hashes to `sha256_hex`, sharded by its first byte
    /// so that no prefix is hot.
    pub fn submission(&self, sha256_hex: &str) -> String {
        let shard = sha256_hex.get(..2).unwrap_or("__");
        format!("{}submissions/{shard}/{sha256_hex}", self.prefix)
    }

    /// Where a submission with refused lines is set aside (`suffix` is `""` for its bytes,
    /// `".json"` for the reasons).
    pub fn rejected_submission(&self, submission_key: &str, suffix: &str) -> String {
        let name = submission_key
            .strip_prefix(&self.submissions_prefix())
            .unwrap_or(submission_key);
        format!("{}rejected/{name}{suffix}", self.prefix)
    }

    pub fn identity_snapshot(&self) -> String {
        format!("{}state/identities", self.prefix)
    }

    pub fn keys_prefix(&self) -> String {
        format!("{}keys/", self.prefix)
    }

    pub fn key(&self, key_id: u32) -> String {
        format!("{}keys/{key_id:08x}.vkey", self.prefix)
    }

    /// Where a witness's cosigned checkpoints are published: `witness/<key id>/`.
    pub fn cosignatures_prefix(&self, witness_key_id: u32) -> String {
        format!("{}witness/{witness_key_id:08x}/", self.prefix)
    }

    /// The checkpoint of tree size `size`, cosigned by the witness with `witness_key_id`.
    pub fn cosignature(&self, witness_key_id: u32, size: u64) -> String {
        format!("{}{size:020}", self.cosignatures_prefix(witness_key_id))
    }

    /// The tlog-tiles `checkpoint` object: the newest block whose tiles are published.
    pub fn checkpoint(&self) -> String {
        format!("{}checkpoint", self.prefix)
    }

    pub fn tiles_prefix(&self) -> String {
        format!("{}tile/", self.prefix)
    }

    /// A hash tile or entry bundle (8 levels high) at its C2SP path:
    /// `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
    pub fn tile(&self, tile: &tlog_tiles::Tile) -> String {
        format!("{}{}", self.prefix, super::tiles::c2sp_path(tile))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_keys_sort_in_ledger_order_and_round_trip() {
        let l = Layout::new("ledger");
        assert_eq!(l.block(42), "ledger/blocks/00000000000000000042");
        assert!(l.block(9) < l.block(10));
        assert!(l.block(99_999) < l.block(100_000));
        assert_eq!(l.block_index(&l.block(u64::MAX)), Some(u64::MAX));
        assert_eq!(l.block_index("ledger/blocks/42"), None);
        assert_eq!(Layout::new("").block(1), "blocks/00000000000000000001");
    }

    #[test]
    fn tile_keys_are_c2sp_paths_under_the_prefix() {
        let l = Layout::new("ledger");
        assert_eq!(l.checkpoint(), "ledger/checkpoint");
        let tile = crate::ledger::tiles::hash_tile(1, 1_234_067, 3);
        assert_eq!(l.tile(&tile), "ledger/tile/1/x001/x234/067.p/3");
        let bundle = crate::ledger::tiles::entry_bundle(7, 256);
        assert_eq!(l.tile(&bundle), "ledger/tile/entries/007");
        assert!(l.tile(&bundle).starts_with(&l.tiles_prefix()));
    }
}
