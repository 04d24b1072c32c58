//! The block file: one header line of JSON, one line per record, a blank line, then the block's
//! signed checkpoint note.
//!
//! ```text
//! {"format":"custody-block/1","index":3,"prev":"<64 hex>","first_leaf":7,"count":2,"tree_size":9,"root":"<b64>","frontier":["<b64>","<b64>"],"created":"2024-05-01T10:00:00.000Z"}\n
//! <record JSON>\n          (count lines, count >= 1; leaf = the line's bytes without "\n")
//! \n
//! <origin>\n<tree size>\n<base64 root>\n\n— <key name> <base64 signature>\n
//! ```
//!
//! The header has one canonical form, and [`BlockView::parse`] accepts no other: exactly the
//! fields above in that order, compact JSON (no spaces, `serde_json`'s string escaping), `prev`
//! as 64 lower-case hex digits, `root` and `frontier` as padded standard base64 of 32 bytes, and
//! `count` at least 1, `created` as RFC 3339 UTC with milliseconds. A header is accepted only when it is byte-identical to the re-encoding of
//! what it parses to, so its bytes (which the next block's `prev` hashes) carry nothing a reader
//! does not see. A block file is at most [`MAX_BLOCK_BYTES`] long: the writer never writes a
//! larger one and readers refuse one without reading it whole.
//!
//! The block hash, which the next block's `prev` names, is SHA-256 over the header line (without
//! its newline). The header commits to the records through `root` and to its predecessor through
//! `prev`, so the chain binds every record without hashing record bytes twice.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::checkpoint::{Checkpoint, CheckpointError};
use super::keys::Signer;
use super::merkle::{Frontier, Hash, leaf_hash};

pub const BLOCK_FORMAT: &str = "custody-block/1";

/// The largest block file the writer writes, and so the largest a reader accepts: 64 MiB (about
/// 90,000 records of a typical 700 bytes; an append of more records writes several blocks).
pub const MAX_BLOCK_BYTES: u64 = 64 << 20;

/// The `prev` of block 0.
pub const GENESIS_PREV: Hash = [0; 32];

/// Why bytes are not a block, or a block cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("the block is {size} bytes, above the {max}-byte cap", max = MAX_BLOCK_BYTES)]
    TooLarge { size: u64 },
    #[error("no header line")]
    NoHeaderLine,
    #[error("the header is not a block header: {0}")]
    Header(String),
    #[error("unknown block format {0:?}")]
    Format(String),
    #[error("count is 0: a block holds at least one record")]
    NoRecords,
    #[error("{field} {value:?} is not 64 lower-case hex digits")]
    Hex { field: &'static str, value: String },
    #[error("{field} {value:?} is not the canonical base64 of a SHA-256 hash")]
    Base64 { field: &'static str, value: String },
    #[error(
        "the header is not in its canonical form (fields in order, compact JSON); canonical: {canonical}"
    )]
    NotCanonical { canonical: String },
    #[error(
        "created {0:?} is not an RFC 3339 UTC time with milliseconds (2024-05-01T10:00:00.000Z)"
    )]
    Created(String),
    #[error("no blank line between the records and the checkpoint")]
    NoBlankLine,
    #[error("record {0} is empty or spans lines")]
    RecordLine(usize),
    #[error("first leaf {first_leaf} + count {count} does not fit in 64 bits")]
    LeafOverflow { first_leaf: u64, count: u64 },
    #[error("tree size {tree_size} is not first leaf {first_leaf} + count {count}")]
    LeafRange {
        first_leaf: u64,
        count: u64,
        tree_size: u64,
    },
    #[error("the frontier does not fit the tree size")]
    FrontierShape,
    #[error("the frontier does not hash to the root")]
    FrontierRoot,
    #[error("the header says {count} records, the block holds {held}")]
    Count { count: u64, held: usize },
    #[error("the checkpoint does not match the header")]
    CheckpointMismatch,
    #[error("the checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
}

/// The block header, fields in their canonical order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockHeader {
    pub format: String,
    pub index: u64,
    /// Hex SHA-256 of the previous block's header line (64 zeros for block 0).
    pub prev: String,
    /// Leaf index of the first record of this block (= tree size before it).
    pub first_leaf: u64,
    pub count: u64,
    /// Tree size after this block.
    pub tree_size: u64,
    /// Base64 RFC 6962 root after this block.
    pub root: String,
    /// Base64 right frontier after this block, largest subtree first.
    pub frontier: Vec<String>,
    /// When the block was written (RFC 3339, UTC).
    pub created: String,
}

impl BlockHeader {
    /// The canonical header line (without its newline).
    pub fn to_line(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a header always serializes")
    }

    /// Parse a header line, accepting only its canonical form.
    pub fn parse(line: &[u8]) -> Result<(BlockHeader, DecodedHeader), BlockError> {
        let header: BlockHeader =
            serde_json::from_slice(line).map_err(|e| BlockError::Header(e.to_string()))?;
        if header.format != BLOCK_FORMAT {
            return Err(BlockError::Format(header.format));
        }
        if header.count == 0 {
            return Err(BlockError::NoRecords);
        }
        check_created(&header.created)?;
        let prev = decode_hex("prev", &header.prev)?;
        let root = decode_canonical_hash("root", &header.root)?;
        let frontier = header
            .frontier
            .iter()
            .map(|h| decode_canonical_hash("frontier", h))
            .collect::<Result<Vec<_>, _>>()?;
        let canonical = header.to_line();
        if canonical != line {
            return Err(BlockError::NotCanonical {
                canonical: String::from_utf8(canonical).expect("JSON is UTF-8"),
            });
        }
        Ok((
            header,
            DecodedHeader {
                root,
                frontier,
                prev,
            },
        ))
    }
}

/// The state a new block builds on: the predecessor's index, hash, and tree after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tip {
    pub index: Option<u64>,
    pub hash: Hash,
    pub frontier: Frontier,
}

impl Tip {
    pub fn genesis() -> Tip {
        Tip {
            index: None,
            hash: GENESIS_PREV,
            frontier: Frontier::empty(),
        }
    }

    pub fn next_index(&self) -> u64 {
        self.index.map_or(0, |i| i.saturating_add(1))
    }

    pub fn tree_size(&self) -> u64 {
        self.frontier.size()
    }
}

/// A block ready to be written.
#[derive(Debug, Clone)]
pub struct NewBlock {
    pub header: BlockHeader,
    pub bytes: Vec<u8>,
    pub tip_after: Tip,
}

/// Build and sign block `tip.next_index()` holding `records` (each one JSON line, no newline).
pub fn build_block(
    tip: &Tip,
    records: &[Vec<u8>],
    origin: &str,
    signer: &Signer,
    created: &str,
) -> Result<NewBlock, BlockError> {
    if records.is_empty() {
        return Err(BlockError::NoRecords);
    }
    check_created(created)?;
    if let Some(bad) = records
        .iter()
        .position(|r| r.is_empty() || r.contains(&b'\n'))
    {
        return Err(BlockError::RecordLine(bad));
    }
    let count = records.len() as u64;
    if tip.tree_size().checked_add(count).is_none() || tip.index == Some(u64::MAX) {
        return Err(BlockError::LeafOverflow {
            first_leaf: tip.tree_size(),
            count,
        });
    }
    let mut frontier = tip.frontier.clone();
    for r in records {
        frontier.push(leaf_hash(r));
    }
    let root = frontier.root();
    let header = BlockHeader {
        format: BLOCK_FORMAT.to_string(),
        index: tip.next_index(),
        prev: hex::encode(tip.hash),
        first_leaf: tip.tree_size(),
        count,
        tree_size: frontier.size(),
        root: BASE64.encode(root),
        frontier: frontier.hashes().iter().map(|h| BASE64.encode(h)).collect(),
        created: created.to_string(),
    };
    let checkpoint = Checkpoint::sign(origin, frontier.size(), root, signer)?;
    let header_line = header.to_line();
    let bytes = encode_block(&header_line, records, checkpoint.note().as_bytes());
    if bytes.len() as u64 > MAX_BLOCK_BYTES {
        return Err(BlockError::TooLarge {
            size: bytes.len() as u64,
        });
    }
    Ok(NewBlock {
        tip_after: Tip {
            index: Some(header.index),
            hash: header_hash(&header_line),
            frontier,
        },
        header,
        bytes,
    })
}

/// Lay out a block file from its parts.
pub fn encode_block(header_line: &[u8], records: &[Vec<u8>], note: &[u8]) -> Vec<u8> {
    let len = header_line.len() + records.iter().map(|r| r.len() + 1).sum::<usize>() + note.len();
    let mut out = Vec::with_capacity(len + 2);
    out.extend_from_slice(header_line);
    out.push(b'\n');
    for r in records {
        out.extend_from_slice(r);
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(note);
    out
}

pub fn header_hash(header_line: &[u8]) -> Hash {
    Sha256::digest(header_line).into()
}

/// A block file split into its parts, borrowing the bytes.
#[derive(Debug)]
pub struct BlockView<'a> {
    pub header_line: &'a [u8],
    pub header: BlockHeader,
    pub decoded: DecodedHeader,
    pub records: Vec<&'a [u8]>,
    pub note: &'a [u8],
}

impl<'a> BlockView<'a> {
    /// Split a block file. Fails when it is larger than [`MAX_BLOCK_BYTES`], the header is not
    /// the canonical header of the block format, or the layout (header, records, blank line,
    /// note) is broken; the note itself is parsed later, and the record count is compared with
    /// the header by the verifier.
    pub fn parse(bytes: &'a [u8]) -> Result<BlockView<'a>, BlockError> {
        if bytes.len() as u64 > MAX_BLOCK_BYTES {
            return Err(BlockError::TooLarge {
                size: bytes.len() as u64,
            });
        }
        let header_end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(BlockError::NoHeaderLine)?;
        let header_line = &bytes[..header_end];
        let (header, decoded) = BlockHeader::parse(header_line)?;
        let mut records = Vec::with_capacity(header.count.min(1 << 16) as usize);
        let mut pos = header_end + 1;
        loop {
            let rest = &bytes[pos..];
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or(BlockError::NoBlankLine)?;
            if end == 0 {
                pos += 1;
                break;
            }
            records.push(&rest[..end]);
            pos += end + 1;
        }
        Ok(BlockView {
            header_line,
            header,
            decoded,
            records,
            note: &bytes[pos..],
        })
    }

    pub fn hash(&self) -> Hash {
        header_hash(self.header_line)
    }

    /// The stored root, frontier and prev, decoded.
    pub fn decoded(&self) -> &DecodedHeader {
        &self.decoded
    }

    pub fn checkpoint(&self) -> Result<Checkpoint, CheckpointError> {
        Checkpoint::parse(self.note)
    }

    /// The leaf index of the block's `k`th record; `None` when it does not fit in 64 bits.
    pub fn leaf_index(&self, k: usize) -> Option<u64> {
        self.header.first_leaf.checked_add(k as u64)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedHeader {
    pub root: Hash,
    pub frontier: Vec<Hash>,
    pub prev: Hash,
}

/// A base64 SHA-256 hash as found in receipts and proofs (any valid padded base64).
pub fn decode_hash(b64: &str) -> Result<Hash, BlockError> {
    BASE64
        .decode(b64)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| BlockError::Base64 {
            field: "hash",
            value: b64.to_string(),
        })
}

/// A base64 hash in its one canonical encoding (the one the writer produces).
fn decode_canonical_hash(field: &'static str, b64: &str) -> Result<Hash, BlockError> {
    let bad = || BlockError::Base64 {
        field,
        value: b64.to_string(),
    };
    let hash: Hash = BASE64
        .decode(b64)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(bad)?;
    if BASE64.encode(hash) != b64 {
        return Err(bad());
    }
    Ok(hash)
}

/// `created` in its one form: RFC 3339, UTC, milliseconds, `T` and `Z` upper-case.
fn check_created(created: &str) -> Result<(), BlockError> {
    chrono::DateTime::parse_from_rfc3339(created)
        .ok()
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        })
        .filter(|canonical| canonical == created)
        .map(|_| ())
        .ok_or_else(|| BlockError::Created(created.to_string()))
}

fn decode_hex(field: &'static str, value: &str) -> Result<Hash, BlockError> {
    let lower = value.len() == 64
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    lower
        .then(|| hex::decode(value).ok()?.try_into().ok())
        .flatten()
        .ok_or_else(|| BlockError::Hex {
            field,
            value: value.to_string(),
        })
}

/// The tip after a parsed block, for the writer appending on top of it.
pub fn tip_of(view: &BlockView<'_>) -> Result<Tip, BlockError> {
    let h = &view.header;
    if h.first_leaf.checked_add(h.count) != Some(h.tree_size) {
        return Err(BlockError::LeafRange {
            first_leaf: h.first_leaf,
            count: h.count,
            tree_size: h.tree_size,
        });
    }
    let frontier = Frontier::from_parts(h.tree_size, view.decoded.frontier.clone())
        .ok_or(BlockError::FrontierShape)?;
    if frontier.root() != view.decoded.root {
        return Err(BlockError::FrontierRoot);
    }
    if view.records.len() as u64 != h.count {
        return Err(BlockError::Count {
            count: h.count,
            held: view.records.len(),
        });
    }
    let checkpoint = view.checkpoint()?;
    if checkpoint.size != h.tree_size || checkpoint.root != view.decoded.root {
        return Err(BlockError::CheckpointMismatch);
    }
    Ok(Tip {
        index: Some(h.index),
        hash: view.hash(),
        frontier,
    })
}

#[cfg(test)]
#[path = "block_tests.rs"]
mod tests;
