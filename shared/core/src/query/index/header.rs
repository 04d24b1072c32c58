//! Reading only what the index needs of a block: its header line (one ranged read), or a byte
//! range of it. The header is at most a few KiB (64 frontier hashes at most), so the first
//! [`HEADER_READ`] bytes always hold it.

use bytes::Bytes;

use crate::ledger::{BlockHeader, Layout, header_hash};
use crate::store::{ByteRange, StoreErrorKind, StoreRead};

use super::error::QueryIndexError;

/// Bytes read from the start of a block to find its header line.
pub const HEADER_READ: u64 = 8 * 1024;

/// `first..=last` of an object (the end is clamped to the object by the store).
pub async fn read_range(
    store: &dyn StoreRead,
    key: &str,
    first: u64,
    last: u64,
) -> Result<Bytes, crate::store::StoreError> {
    store
        .get(key, None, Some(ByteRange { first, last }))
        .await?
        .collect()
        .await
}

/// A block's header and hash, read with one ranged read; `None` when there is no such block.
pub async fn read_header(
    store: &dyn StoreRead,
    layout: &Layout,
    block: u64,
) -> Result<Option<(BlockHeader, String)>, QueryIndexError> {
    let key = layout.block(block);
    let bytes = match read_range(store, &key, 0, HEADER_READ - 1).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind == StoreErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    parse_header(&key, &bytes).map(Some)
}

/// The header line at the start of `bytes` (the first bytes of block `key`).
pub fn parse_header(key: &str, bytes: &[u8]) -> Result<(BlockHeader, String), QueryIndexError> {
    let damaged = |message: String| QueryIndexError::Block {
        block: key.to_string(),
        message,
    };
    let end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| damaged(format!("no header line in its first {} bytes", bytes.len())))?;
    let line = &bytes[..end];
    let (header, _) = BlockHeader::parse(line).map_err(|e| damaged(e.to_string()))?;
    Ok((header, hex::encode(header_hash(line))))
}
