//! The identity set's snapshot, `<prefix>state/identities`: the set saved so that the next
//! process does not re-read the ledger (`docs/ledger.md`, "Submissions and the integrator").
//!
//! ```text
//! <decimal length of the note>\n
//! <signed note>                       C2SP signed note by the ledger's key, text:
//!                                       custody-identities/1
//!                                       <origin>
//!                                       <block index>
//!                                       <tree size>
//!                                       <base64 root>
//!                                       <hex SHA-256 of the body>
//! <body>                              u64 BE block count, that many u64 BE first leaves,
//!                                     u64 BE entry count, that many (u64 BE prefix, u64 BE leaf)
//!                                     sorted by prefix
//! ```
//!
//! Anyone who can write the bucket can edit the snapshot, so it is believed only when it is
//! signed by the ledger's own key (or a trusted key), names this origin, its body hashes to the
//! signed hash, it holds exactly one entry per leaf (the leaves are a permutation of
//! `0..tree size`), its block boundaries increase, and the block it names exists with that tree
//! size and root. Otherwise it is reported and the set is rebuilt from the blocks. Blocks written
//! after the snapshot are read and chained onto it (`prev`, `first_leaf`, the root recomputed
//! from the frontier), so a stale snapshot costs reads, never a duplicate.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use crate::store::{PutRequest, StoreErrorKind};

use super::super::super::block::{BlockView, tip_of};
use super::super::super::error::LedgerError;
use super::super::super::keys::TrustedKeys;
use super::super::Ledger;
use super::IdentitySet;

/// The first line of a snapshot note's text.
pub const SNAPSHOT_FORMAT: &str = "custody-identities/1";

/// What a snapshot's signed text states.
#[derive(Debug, PartialEq, Eq)]
struct SnapshotClaim {
    origin: String,
    block: u64,
    tree_size: u64,
    root: String,
    body_sha256: String,
}

impl SnapshotClaim {
    fn text(&self) -> String {
        format!(
            "{SNAPSHOT_FORMAT}\n{}\n{}\n{}\n{}\n{}\n",
            self.origin, self.block, self.tree_size, self.root, self.body_sha256
        )
    }

    fn parse(text: &str) -> Result<SnapshotClaim, String> {
        let lines: Vec<&str> = text
            .strip_suffix('\n')
            .unwrap_or(text)
            .split('\n')
            .collect();
        let [format, origin, block, size, root, body] = lines[..] else {
            return Err(format!("the signed text has {} lines, not 6", lines.len()));
        };
        if format != SNAPSHOT_FORMAT {
            return Err(format!("format {format:?}, not {SNAPSHOT_FORMAT:?}"));
        }
        let number = |what: &str, s: &str| {
            s.parse::<u64>()
                .map_err(|_| format!("{what} {s:?} is not a number"))
        };
        Ok(SnapshotClaim {
            origin: origin.to_string(),
            block: number("block", block)?,
            tree_size: number("tree size", size)?,
            root: root.to_string(),
            body_sha256: body.to_string(),
        })
    }
}

/// Split a stored snapshot into its note and body.
fn split_snapshot(bytes: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let nl = bytes
        .iter()
        .take(12)
        .position(|&b| b == b'\n')
        .ok_or("no note length line")?;
    let len: usize = std::str::from_utf8(&bytes[..nl])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or("the note length is not a number")?;
    let rest = &bytes[nl + 1..];
    if len > rest.len() {
        return Err(format!("the note is {len} bytes, the object ends before"));
    }
    Ok(rest.split_at(len))
}

/// A decoded snapshot body: the first leaf of every block, and the (prefix, leaf) entries.
type SnapshotBody = (Vec<u64>, Vec<(u64, u64)>);

/// Decode a body into a set whose structure is checked: one entry per leaf of `tree_size`,
/// increasing block boundaries starting at leaf 0.
fn decode_body(body: &[u8], blocks_expected: u64, tree_size: u64) -> Result<SnapshotBody, String> {
    let mut words = body
        .chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap()));
    if !body.len().is_multiple_of(8) {
        return Err("the body is not a whole number of 8-byte words".into());
    }
    let n_blocks = words.next().ok_or("the body is empty")?;
    if n_blocks != blocks_expected {
        return Err(format!(
            "it lists {n_blocks} blocks, the note names block {}",
            blocks_expected.saturating_sub(1)
        ));
    }
    let words_left = (body.len() / 8) as u64 - 1;
    if n_blocks > words_left {
        return Err("the body ends inside the block list".into());
    }
    let first_leaves: Vec<u64> = words.by_ref().take(n_blocks as usize).collect();
    if first_leaves.first() != Some(&0)
        || first_leaves.windows(2).any(|w| w[0] >= w[1])
        || first_leaves.last().is_some_and(|l| *l >= tree_size)
    {
        return Err("its block boundaries do not increase from leaf 0 within the tree".into());
    }
    let n_entries = words.next().ok_or("the body ends before the entry count")?;
    if n_entries != tree_size {
        return Err(format!(
            "it holds {n_entries} entries for a tree of {tree_size} leaves"
        ));
    }
    if words_left - n_blocks - 1 != 2 * n_entries {
        return Err("the body's length does not match its entry count".into());
    }
    let mut seen = vec![0u64; tree_size.div_ceil(64) as usize];
    let mut entries = Vec::with_capacity(n_entries as usize);
    let mut last = 0u64;
    while let (Some(p), Some(l)) = (words.next(), words.next()) {
        if p < last {
            return Err("its entries are not sorted".into());
        }
        if l >= tree_size || seen[(l / 64) as usize] & (1 << (l % 64)) != 0 {
            return Err(format!("leaf {l} is outside the tree or listed twice"));
        }
        seen[(l / 64) as usize] |= 1 << (l % 64);
        last = p;
        entries.push((p, l));
    }
    Ok((first_leaves, entries))
}

impl Ledger {
    /// The keys a snapshot must be signed by: the writer's own key, else the trusted keys.
    async fn snapshot_keys(&self) -> Result<TrustedKeys, LedgerError> {
        match &self.signer {
            Some(s) => Ok(TrustedKeys::new(vec![s.verifier_key()])),
            None => Ok(self.trusted_keys().await?.0),
        }
    }

    /// The stored snapshot, checked; `Ok(None)` when there is none, `Err(reason)` inside when it
    /// must not be believed.
    pub(super) async fn read_snapshot(
        &self,
    ) -> Result<Option<Result<IdentitySet, String>>, LedgerError> {
        let key = self.layout.identity_snapshot();
        let bytes = match self.store.get_bytes(&key, None).await {
            Ok(b) => b,
            Err(e) if e.kind == StoreErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let keys = self.snapshot_keys().await?;
        let claim = match check_note(&bytes, &keys, &self.config.origin) {
            Ok(c) => c,
            Err(reason) => return Ok(Some(Err(reason))),
        };
        let (_, body) = split_snapshot(&bytes).expect("checked by check_note");
        let (first_leaves, entries) = match decode_body(body, claim.block + 1, claim.tree_size) {
            Ok(parts) => parts,
            Err(reason) => return Ok(Some(Err(reason))),
        };
        // The block it names must exist with that size and root, and gives the tip.
        let block_key = self.layout.block(claim.block);
        let block = match self.read_block(claim.block).await {
            Ok(b) => b,
            Err(LedgerError::Store(e)) if e.kind == StoreErrorKind::NotFound => {
                return Ok(Some(Err(format!(
                    "it names block {}, which is missing",
                    claim.block
                ))));
            }
            Err(e) => return Err(e),
        };
        let view = match BlockView::parse(&block) {
            Ok(v) => v,
            Err(e) => {
                return Err(LedgerError::Damaged {
                    key: block_key,
                    message: e.to_string(),
                });
            }
        };
        let tip = tip_of(&view).map_err(|e| LedgerError::Damaged {
            key: block_key.clone(),
            message: e.to_string(),
        })?;
        if view.header.index != claim.block
            || view.header.tree_size != claim.tree_size
            || view.header.root != claim.root
            || first_leaves.last() != Some(&view.header.first_leaf)
        {
            return Ok(Some(Err(format!(
                "it claims block {} with tree size {} and root {}, the block says otherwise",
                claim.block, claim.tree_size, claim.root
            ))));
        }
        Ok(Some(Ok(IdentitySet {
            tip,
            first_leaves,
            base: entries,
            recent: HashMap::new(),
            recent_collisions: Vec::new(),
            saved_block: Some(claim.block),
            saved_size: claim.tree_size,
        })))
    }

    /// Write the snapshot of `set` (signed with the writer's key).
    pub(crate) async fn save_identities(&self, set: &mut IdentitySet) -> Result<(), LedgerError> {
        let signer = self.signer.as_ref().ok_or(LedgerError::ReadOnly)?;
        let Some(block) = set.tip.index else {
            return Ok(());
        };
        let body = set.body();
        let claim = SnapshotClaim {
            origin: self.config.origin.clone(),
            block,
            tree_size: set.tree_size(),
            root: BASE64.encode(set.tip.frontier.root()),
            body_sha256: hex::encode(Sha256::digest(&body)),
        };
        let mut note = signed_note::Note::new(claim.text().as_bytes(), &[])
            .map_err(|e| LedgerError::Config(format!("identity snapshot note: {e}")))?;
        note.add_sigs(&[signer])
            .map_err(|e| LedgerError::Config(format!("signing the identity snapshot: {e}")))?;
        let note = note.to_bytes();
        let mut bytes = format!("{}\n", note.len()).into_bytes();
        bytes.extend_from_slice(&note);
        bytes.extend_from_slice(&body);
        self.store
            .put(PutRequest::new(self.layout.identity_snapshot(), bytes))
            .await?;
        set.saved_block = Some(block);
        set.saved_size = set.tree_size();
        Ok(())
    }
}

/// Check a snapshot's note: signed by one of `keys`, for `origin`, over its body.
fn check_note(bytes: &[u8], keys: &TrustedKeys, origin: &str) -> Result<SnapshotClaim, String> {
    let (note, body) = split_snapshot(bytes)?;
    let note =
        signed_note::Note::from_bytes(note).map_err(|e| format!("not a signed note: {e}"))?;
    note.verify(keys)
        .map_err(|e| format!("not signed by the ledger's key: {e}"))?;
    let text = std::str::from_utf8(note.text()).map_err(|_| "the note is not UTF-8")?;
    let claim = SnapshotClaim::parse(text)?;
    if claim.origin != origin {
        return Err(format!(
            "it is for origin {:?}, not {origin:?}",
            claim.origin
        ));
    }
    if hex::encode(Sha256::digest(body)) != claim.body_sha256 {
        return Err("its body does not hash to the signed hash".into());
    }
    Ok(claim)
}

#[cfg(test)]
mod tests {
    use super::super::super::super::merkle::Frontier;
    use super::*;

    #[test]
    fn a_body_must_list_every_leaf_once() {
        let mut set = IdentitySet::empty();
        set.first_leaves = vec![0, 2];
        set.tip.frontier = Frontier::from_parts(3, vec![[0u8; 32], [1u8; 32]]).unwrap();
        for (k, id) in ["aa", "bb", "cc"].iter().enumerate() {
            set.insert(&format!("{id}{}", "0".repeat(62)), k as u64);
        }
        let body = set.body();
        assert!(decode_body(&body, 2, 3).is_ok());
        assert!(decode_body(&body, 2, 4).unwrap_err().contains("entries"));
        assert!(decode_body(&body, 3, 3).unwrap_err().contains("blocks"));
        // Leaf 2 listed twice instead of leaf 1.
        let mut twice = body.clone();
        let at = twice.len() - 16 - 8;
        twice[at..at + 8].copy_from_slice(&2u64.to_be_bytes());
        let err = decode_body(&twice, 2, 3).unwrap_err();
        assert!(err.contains("twice") || err.contains("sorted"), "{err}");
    }
}
