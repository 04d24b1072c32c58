//! The identity set: what the integrator knows about every record already in the ledger, so that
//! a record whose identity a block holds is never appended again (`docs/ledger.md`, "Submissions
//! and the integrator"), at no store request per record.
//!
//! In memory it keeps, per leaf, the first 8 bytes of the record's identity and the leaf index
//! (16 bytes a record), the first leaf of every block, and the tip it covers. A prefix is only a
//! candidate: before a record is called *present*, the block holding the candidate leaf is read
//! and the record there must carry exactly that identity (the exact fallback: two identities
//! sharing a prefix are told apart; a record is never dropped because of a collision).
//!
//! The set is built from the blocks and saved as a **snapshot**, `<prefix>state/identities`,
//! so that the next process does not re-read the ledger:
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

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::{StreamExt, stream};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::store::{ByteRange, PutRequest, StoreErrorKind};

use super::super::block::{BlockView, Tip, header_hash, tip_of};
use super::super::error::LedgerError;
use super::super::keys::TrustedKeys;
use super::super::merkle::leaf_hash;
use super::{Ledger, Placed};

/// The first line of a snapshot note's text.
pub const SNAPSHOT_FORMAT: &str = "custody-identities/1";

/// Bytes read from the start of the tip block to check its header line (a header with the
/// largest frontier, 64 hashes, is about 3.5 KiB).
const HEADER_READ: u64 = 8 << 10;

/// The in-memory identity set, covering every block up to `tip`.
#[derive(Debug, Clone)]
pub(crate) struct IdentitySet {
    tip: Tip,
    /// First leaf of block `i`, for every block up to the tip.
    first_leaves: Vec<u64>,
    /// (prefix, leaf), sorted.
    base: Vec<(u64, u64)>,
    /// Entries added since `base` was last merged.
    recent: HashMap<u64, u64>,
    /// Entries of `recent` whose prefix was already taken there (rare).
    recent_collisions: Vec<(u64, u64)>,
    /// The block the stored snapshot covers (`None`: no usable snapshot).
    saved_block: Option<u64>,
    saved_size: u64,
}

/// How the identity set was obtained, for the append's report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityLoad {
    /// Blocks read because no snapshot covered them.
    pub blocks_read: u64,
    /// Why a stored snapshot was not believed (it was then rebuilt from the blocks).
    pub snapshot_refused: Option<String>,
}

/// The 8-byte prefix of an identity: its first 16 hex digits, or (for an id that is not hex,
/// which only a damaged or foreign record carries) the first 8 bytes of its SHA-256.
pub(crate) fn prefix_of(id: &str) -> u64 {
    match id.get(..16).and_then(|h| u64::from_str_radix(h, 16).ok()) {
        Some(p) if id.bytes().take(16).all(|b| b.is_ascii_hexdigit()) => p,
        _ => {
            let digest = Sha256::digest(id.as_bytes());
            u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
        }
    }
}

#[derive(Deserialize)]
struct IdOnly<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
}

/// The id field of a stored record line.
pub(crate) fn record_id(line: &[u8]) -> Result<String, serde_json::Error> {
    serde_json::from_slice::<IdOnly<'_>>(line).map(|r| r.id.into_owned())
}

impl IdentitySet {
    pub(crate) fn empty() -> IdentitySet {
        IdentitySet {
            tip: Tip::genesis(),
            first_leaves: Vec::new(),
            base: Vec::new(),
            recent: HashMap::new(),
            recent_collisions: Vec::new(),
            saved_block: None,
            saved_size: 0,
        }
    }

    pub(crate) fn tip(&self) -> &Tip {
        &self.tip
    }

    pub(crate) fn tree_size(&self) -> u64 {
        self.tip.tree_size()
    }

    /// Leaves that may hold `id` (same prefix); confirm before believing.
    fn candidates(&self, id: &str) -> Vec<u64> {
        let p = prefix_of(id);
        let lo = self.base.partition_point(|(q, _)| *q < p);
        let mut out: Vec<u64> = self.base[lo..]
            .iter()
            .take_while(|(q, _)| *q == p)
            .map(|(_, l)| *l)
            .collect();
        out.extend(self.recent.get(&p));
        out.extend(
            self.recent_collisions
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|(_, l)| *l),
        );
        out
    }

    pub(super) fn insert(&mut self, id: &str, leaf: u64) {
        let p = prefix_of(id);
        if let Some(taken) = self.recent.insert(p, leaf) {
            self.recent_collisions.push((p, taken));
        }
        if self.recent.len() > (1 << 16) && self.recent.len() > self.base.len() / 8 {
            self.merge();
        }
    }

    fn merge(&mut self) {
        self.base.extend(self.recent.drain());
        self.base.append(&mut self.recent_collisions);
        self.base.sort_unstable();
    }

    /// The block holding `leaf`.
    fn block_of(&self, leaf: u64) -> Option<u64> {
        if leaf >= self.tree_size() {
            return None;
        }
        let after = self.first_leaves.partition_point(|f| *f <= leaf);
        after.checked_sub(1).map(|b| b as u64)
    }

    /// Chain block `view` (read from `key`) onto the tip and add its identities. Refuses a block
    /// that does not follow the tip: a writer never appends over a ledger it cannot chain.
    pub(crate) fn apply(&mut self, key: &str, view: &BlockView<'_>) -> Result<(), LedgerError> {
        let damaged = |message: String| LedgerError::Damaged {
            key: key.to_string(),
            message,
        };
        let h = &view.header;
        if h.index != self.tip.next_index() {
            return Err(damaged(format!(
                "says it is block {}, expected block {}",
                h.index,
                self.tip.next_index()
            )));
        }
        if view.decoded.prev != self.tip.hash {
            return Err(damaged(format!(
                "does not chain onto block {:?}: its prev is not that block's hash",
                self.tip.index
            )));
        }
        if h.first_leaf != self.tree_size() {
            return Err(damaged(format!(
                "starts at leaf {}, the ledger before it ends at {}",
                h.first_leaf,
                self.tree_size()
            )));
        }
        let tip = tip_of(view).map_err(|e| damaged(e.to_string()))?;
        let mut frontier = self.tip.frontier.clone();
        for line in &view.records {
            frontier.push(leaf_hash(line));
        }
        if frontier.root() != view.decoded.root {
            return Err(damaged(
                "its records do not hash to its root over the ledger before it".into(),
            ));
        }
        let mut ids = Vec::with_capacity(view.records.len());
        for (k, line) in view.records.iter().enumerate() {
            ids.push(record_id(line).map_err(|e| damaged(format!("record {k}: {e}")))?);
        }
        for (k, id) in ids.iter().enumerate() {
            self.insert(id, h.first_leaf + k as u64);
        }
        self.first_leaves.push(h.first_leaf);
        self.tip = tip;
        Ok(())
    }

    /// Add a block this process just wrote (its records, from `first_leaf` on).
    pub(crate) fn apply_written(&mut self, ids: &[String], first_leaf: u64, tip_after: Tip) {
        for (k, id) in ids.iter().enumerate() {
            self.insert(id, first_leaf + k as u64);
        }
        self.first_leaves.push(first_leaf);
        self.tip = tip_after;
    }

    pub(crate) fn blocks_since_saved(&self) -> u64 {
        let covered = self.saved_block.map_or(0, |b| b + 1);
        self.first_leaves.len() as u64 - covered.min(self.first_leaves.len() as u64)
    }

    pub(crate) fn records_since_saved(&self) -> u64 {
        self.tree_size().saturating_sub(self.saved_size)
    }

    /// The snapshot body (merges the recent entries first).
    fn body(&mut self) -> Vec<u8> {
        self.merge();
        let mut out = Vec::with_capacity(16 + 8 * self.first_leaves.len() + 16 * self.base.len());
        out.extend_from_slice(&(self.first_leaves.len() as u64).to_be_bytes());
        for f in &self.first_leaves {
            out.extend_from_slice(&f.to_be_bytes());
        }
        out.extend_from_slice(&(self.base.len() as u64).to_be_bytes());
        for (p, l) in &self.base {
            out.extend_from_slice(&p.to_be_bytes());
            out.extend_from_slice(&l.to_be_bytes());
        }
        out
    }
}

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
    async fn read_snapshot(&self) -> Result<Option<Result<IdentitySet, String>>, LedgerError> {
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

    /// The identity set covering every block: the snapshot (when believable) and the blocks
    /// after it.
    pub(crate) async fn load_identities(&self) -> Result<(IdentitySet, IdentityLoad), LedgerError> {
        let mut load = IdentityLoad::default();
        let mut set = match self.read_snapshot().await? {
            Some(Ok(set)) => set,
            Some(Err(reason)) => {
                tracing::warn!(snapshot = %self.layout.identity_snapshot(), %reason,
                    "identity snapshot refused: rebuilding from the blocks");
                load.snapshot_refused = Some(reason);
                IdentitySet::empty()
            }
            None => IdentitySet::empty(),
        };
        load.blocks_read = self.catch_up(&mut set).await?;
        Ok((set, load))
    }

    /// Check that the block the set's tip stands on is still the block it was: one ranged read
    /// of its header line (ETags are not enough: a folder edited in place keeps its recorded
    /// ETag). A writer never chains onto a block replaced after it was written or read.
    async fn check_tip(&self, set: &IdentitySet) -> Result<(), LedgerError> {
        let Some(index) = set.tip.index else {
            return Ok(());
        };
        let key = self.layout.block(index);
        let damaged = |message: &str| LedgerError::Damaged {
            key: key.clone(),
            message: message.to_string(),
        };
        let range = ByteRange {
            first: 0,
            last: HEADER_READ - 1,
        };
        let head = match self.store.get(&key, None, Some(range)).await {
            Ok(body) => body.collect().await?,
            Err(e) if e.kind == StoreErrorKind::NotFound => {
                return Err(damaged("missing, while this writer chained onto it"));
            }
            Err(e) => return Err(e.into()),
        };
        let bytes = match head.iter().position(|&b| b == b'\n') {
            Some(_) => head,
            None => self.read_block(index).await?,
        };
        let end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len());
        if header_hash(&bytes[..end]) != set.tip.hash {
            return Err(damaged(
                "replaced after this writer wrote or read it: its header is not the one the \
                 ledger chains onto",
            ));
        }
        Ok(())
    }

    /// Read and chain every block after the set's tip. Returns the number of blocks read.
    pub(crate) async fn catch_up(&self, set: &mut IdentitySet) -> Result<u64, LedgerError> {
        self.check_tip(set).await?;
        let Some(head) = self.head_index().await? else {
            return if set.tip.index.is_some() {
                Err(LedgerError::Damaged {
                    key: self.layout.block(0),
                    message: "missing, while the identity snapshot covers blocks".into(),
                })
            } else {
                Ok(0)
            };
        };
        let from = set.tip.next_index();
        if from > head {
            return Ok(0);
        }
        let reads = (from..=head).map(|index| async move {
            let bytes = self.read_block(index).await.map_err(|e| match e {
                LedgerError::Store(s) if s.kind == StoreErrorKind::NotFound => {
                    LedgerError::Damaged {
                        key: self.layout.block(index),
                        message: format!("missing, while block {head} exists (a gap)"),
                    }
                }
                other => other,
            })?;
            Ok::<_, LedgerError>((index, bytes))
        });
        let mut fetched = stream::iter(reads).buffered(self.config.concurrency.clamp(1, 8));
        let mut read = 0;
        while let Some(item) = fetched.next().await {
            let (index, bytes) = item?;
            let key = self.layout.block(index);
            let view = BlockView::parse(&bytes).map_err(|e| LedgerError::Damaged {
                key: key.clone(),
                message: e.to_string(),
            })?;
            set.apply(&key, &view)?;
            read += 1;
        }
        Ok(read)
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

    /// Where `id` is, among the set's candidates, confirmed by reading the blocks they name:
    /// the candidates are grouped by block, and each block is read and parsed once per call.
    pub(crate) async fn confirm(
        &self,
        set: &IdentitySet,
        ids: &[String],
    ) -> Result<HashMap<String, Placed>, LedgerError> {
        let mut by_block: BTreeMap<u64, Vec<(u64, usize)>> = BTreeMap::new();
        for (n, id) in ids.iter().enumerate() {
            for leaf in set.candidates(id) {
                if let Some(block) = set.block_of(leaf) {
                    by_block.entry(block).or_default().push((leaf, n));
                }
            }
        }
        let mut found = HashMap::new();
        for (block, candidates) in by_block {
            let bytes = self.read_block(block).await?;
            let view = BlockView::parse(&bytes).map_err(|e| LedgerError::Damaged {
                key: self.layout.block(block),
                message: e.to_string(),
            })?;
            for (leaf, n) in candidates {
                let id = &ids[n];
                if found.contains_key(id) {
                    continue;
                }
                let holds = leaf
                    .checked_sub(view.header.first_leaf)
                    .and_then(|at| view.records.get(at as usize))
                    .and_then(|line| record_id(line).ok())
                    .is_some_and(|have| &have == id);
                if holds {
                    found.insert(
                        id.clone(),
                        Placed {
                            id: id.clone(),
                            block,
                            leaf_index: leaf,
                        },
                    );
                }
            }
        }
        Ok(found)
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
    use super::super::super::merkle::Frontier;
    use super::*;

    #[test]
    fn prefixes_of_hex_ids_are_their_first_eight_bytes() {
        let id = format!("0123456789abcdef{}", "0".repeat(48));
        assert_eq!(prefix_of(&id), 0x0123_4567_89ab_cdef);
        // A non-hex id still gets a stable prefix.
        assert_eq!(prefix_of("not hex at all"), prefix_of("not hex at all"));
    }

    #[test]
    fn colliding_prefixes_keep_every_candidate() {
        let mut set = IdentitySet::empty();
        let a = format!("00000000000000aa{}", "1".repeat(48));
        let b = format!("00000000000000aa{}", "2".repeat(48));
        set.insert(&a, 3);
        set.insert(&b, 7);
        let mut c = set.candidates(&a);
        c.sort();
        assert_eq!(c, vec![3, 7]);
        set.merge();
        let mut c = set.candidates(&b);
        c.sort();
        assert_eq!(c, vec![3, 7]);
        assert!(set.candidates(&format!("ff{}", "0".repeat(62))).is_empty());
    }

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
