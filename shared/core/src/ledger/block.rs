//! The block file: one header line of JSON, one line per record, a blank line, then the block's
//! signed checkpoint note.
//!
//! ```text
//! {"format":"custody-block/1","index":3,"prev":"<hex>",...}\n
//! <record JSON>\n          (count lines; leaf = the line's bytes without "\n")
//! \n
//! <origin>\n<tree size>\n<base64 root>\n\n— <key name> <base64 signature>\n
//! ```
//!
//! The block hash, which the next block's `prev` names, is SHA-256 over the header line (without
//! its newline). The header commits to the records through `root` and to its predecessor through
//! `prev`, so the chain binds every record without hashing record bytes twice.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::checkpoint::Checkpoint;
use super::keys::Signer;
use super::merkle::{Frontier, Hash, leaf_hash};

pub const BLOCK_FORMAT: &str = "custody-block/1";

/// The `prev` of block 0.
pub const GENESIS_PREV: Hash = [0; 32];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
        self.index.map_or(0, |i| i + 1)
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
) -> Result<NewBlock, String> {
    if records.is_empty() {
        return Err("a block holds at least one record".into());
    }
    if let Some(bad) = records
        .iter()
        .position(|r| r.is_empty() || r.contains(&b'\n'))
    {
        return Err(format!("record {bad} is empty or spans lines"));
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
        count: records.len() as u64,
        tree_size: frontier.size(),
        root: BASE64.encode(root),
        frontier: frontier.hashes().iter().map(|h| BASE64.encode(h)).collect(),
        created: created.to_string(),
    };
    let checkpoint = Checkpoint::sign(origin, frontier.size(), root, signer)?;
    let header_line = serde_json::to_vec(&header).expect("a header always serializes");
    let bytes = encode_block(&header_line, records, checkpoint.note().as_bytes());
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
    pub records: Vec<&'a [u8]>,
    pub note: &'a [u8],
}

impl<'a> BlockView<'a> {
    /// Split a block file. Fails when the header is not JSON of the block format or the layout
    /// (header, records, blank line, note) is broken; the note itself is parsed later.
    pub fn parse(bytes: &'a [u8]) -> Result<BlockView<'a>, String> {
        let header_end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("no header line")?;
        let header_line = &bytes[..header_end];
        let header: BlockHeader = serde_json::from_slice(header_line)
            .map_err(|e| format!("header is not a block header: {e}"))?;
        if header.format != BLOCK_FORMAT {
            return Err(format!("unknown block format {:?}", header.format));
        }
        let mut records = Vec::with_capacity(header.count.min(1 << 20) as usize);
        let mut pos = header_end + 1;
        loop {
            let rest = &bytes[pos..];
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or("no blank line between the records and the checkpoint")?;
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
            records,
            note: &bytes[pos..],
        })
    }

    pub fn hash(&self) -> Hash {
        header_hash(self.header_line)
    }

    /// The stored root, frontier and prev, decoded.
    pub fn decoded(&self) -> Result<DecodedHeader, String> {
        let root = decode_hash(&self.header.root).map_err(|e| format!("root: {e}"))?;
        let frontier = self
            .header
            .frontier
            .iter()
            .map(|h| decode_hash(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("frontier: {e}"))?;
        let prev: Hash = hex::decode(&self.header.prev)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or("prev is not 64 hex digits")?;
        Ok(DecodedHeader {
            root,
            frontier,
            prev,
        })
    }

    pub fn checkpoint(&self) -> Result<Checkpoint, String> {
        Checkpoint::parse(self.note)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedHeader {
    pub root: Hash,
    pub frontier: Vec<Hash>,
    pub prev: Hash,
}

pub fn decode_hash(b64: &str) -> Result<Hash, String> {
    BASE64
        .decode(b64)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| format!("{b64:?} is not a base64 SHA-256 hash"))
}

/// The tip after a parsed block, for the writer appending on top of it.
pub fn tip_of(view: &BlockView<'_>) -> Result<Tip, String> {
    let decoded = view.decoded()?;
    let frontier = Frontier::from_parts(view.header.tree_size, decoded.frontier)
        .ok_or("the frontier does not fit the tree size")?;
    if frontier.root() != decoded.root {
        return Err("the frontier does not hash to the root".into());
    }
    if view.records.len() as u64 != view.header.count {
        return Err("the record count does not match the header".into());
    }
    let checkpoint = view.checkpoint()?;
    if checkpoint.size != view.header.tree_size || checkpoint.root != decoded.root {
        return Err("the checkpoint does not match the header".into());
    }
    Ok(Tip {
        index: Some(view.header.index),
        hash: view.hash(),
        frontier,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_block_parses_back() {
        let signer = Signer::generate("o").unwrap();
        let records = vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()];
        let b0 = build_block(&Tip::genesis(), &records, "o", &signer, "t").unwrap();
        let view = BlockView::parse(&b0.bytes).unwrap();
        assert_eq!(view.records, vec![&records[0][..], &records[1][..]]);
        assert_eq!(view.header.index, 0);
        assert_eq!(tip_of(&view).unwrap(), b0.tip_after);
        let b1 = build_block(&b0.tip_after, &records[..1], "o", &signer, "t").unwrap();
        let view1 = BlockView::parse(&b1.bytes).unwrap();
        assert_eq!(view1.header.first_leaf, 2);
        assert_eq!(view1.header.tree_size, 3);
        assert_eq!(view1.decoded().unwrap().prev, view.hash());
        assert!(build_block(&Tip::genesis(), &[b"a\nb".to_vec()], "o", &signer, "t").is_err());
    }
}
