//! Reading and writing tile objects: create-only writes that accept an identical object already
//! there (a re-run) and refuse a different one, and size-capped reads.

use bytes::Bytes;
use tlog_tiles::{HASH_SIZE, Tile};

use crate::store::{PutOutcome, PutRequest, StoreErrorKind, StoreRead, StoreWrite};

use super::bundle::MAX_ENTRY_BYTES;
use super::coords::TILE_WIDTH;
use super::error::TilesError;

/// What a create-only write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Written {
    Created,
    /// The object was there with the same bytes (a re-run after a crash).
    Unchanged,
}

/// The most bytes a stored tile may have: `width` hashes, or `width` entries of at most
/// [`MAX_ENTRY_BYTES`] each with their length prefixes.
pub(super) fn max_tile_bytes(tile: &Tile) -> u64 {
    let width = u64::from(tile.width()).min(TILE_WIDTH);
    if tile.is_data() {
        width * (2 + MAX_ENTRY_BYTES as u64)
    } else {
        width * HASH_SIZE as u64
    }
}

/// Write `body` under `key` create-only (`If-None-Match: *`). An existing object with the same
/// bytes is [`Written::Unchanged`]; one with other bytes is [`TilesError::Conflict`].
pub(super) async fn put_create_only(
    store: &dyn StoreWrite,
    key: &str,
    body: Bytes,
    reads: &mut u64,
) -> Result<Written, TilesError> {
    let mut request = PutRequest::new(key, body.clone()).create_only();
    request.content_type = Some("application/octet-stream".to_string());
    request.checksum_sha256 = true;
    match store.put(request).await {
        Ok(PutOutcome::Created { .. }) => Ok(Written::Created),
        Ok(PutOutcome::AlreadyExists) => {
            *reads += 1;
            let existing = fetch(store, key, body.len() as u64).await;
            match existing {
                Ok(existing) if existing == body => Ok(Written::Unchanged),
                Ok(_) | Err(TilesError::Malformed { .. }) => Err(TilesError::Conflict {
                    key: key.to_string(),
                }),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(TilesError::store(key, e)),
    }
}

/// Read `key` whole, refusing it when it is longer than `max` bytes (from the served length,
/// before reading the body) or absent ([`TilesError::Missing`]).
pub(super) async fn fetch(store: &dyn StoreRead, key: &str, max: u64) -> Result<Bytes, TilesError> {
    let body = match store.get(key, None, None).await {
        Ok(body) => body,
        Err(e) if e.kind == StoreErrorKind::NotFound => {
            return Err(TilesError::Missing {
                key: key.to_string(),
            });
        }
        Err(e) => return Err(TilesError::store(key, e)),
    };
    if body.content_length > max {
        return Err(TilesError::Malformed {
            key: key.to_string(),
            message: format!(
                "{} bytes, more than the {max} it can have",
                body.content_length
            ),
        });
    }
    let bytes = body
        .collect()
        .await
        .map_err(|e| TilesError::store(key, e))?;
    if bytes.len() as u64 > max {
        return Err(TilesError::Malformed {
            key: key.to_string(),
            message: format!("{} bytes, more than the {max} it can have", bytes.len()),
        });
    }
    Ok(bytes)
}

/// Read a hash tile of exactly `tile.width()` hashes.
pub(super) async fn fetch_hash_tile(
    store: &dyn StoreRead,
    key: &str,
    tile: &Tile,
) -> Result<Bytes, TilesError> {
    let expected = max_tile_bytes(tile);
    let bytes = fetch(store, key, expected).await?;
    if bytes.len() as u64 != expected {
        return Err(TilesError::Malformed {
            key: key.to_string(),
            message: format!(
                "{} bytes, not the {expected} of {} hashes",
                bytes.len(),
                tile.width()
            ),
        });
    }
    Ok(bytes)
}

/// Whether `key` exists (one HEAD).
pub(super) async fn exists(store: &dyn StoreRead, key: &str) -> Result<bool, TilesError> {
    match store.head(key, None).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind == StoreErrorKind::NotFound => Ok(false),
        Err(e) => Err(TilesError::store(key, e)),
    }
}
