//! The SHA-256 of one stored version, streamed (bounded memory). Used to prove that an in-place
//! metadata copy did not change content.

use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::store::{StoreError, StoreErrorKind, StoreRead};

/// Lower-case hex SHA-256 and byte count of `key` at `version`; refuses a body served for another
/// version than the one asked for.
pub async fn content_sha256(
    store: &dyn StoreRead,
    key: &str,
    version: Option<&str>,
) -> Result<(String, u64), StoreError> {
    let mut body = store.get(key, version, None).await?;
    if let (Some(asked), Some(served)) = (version, body.version_id.as_deref())
        && asked != served
    {
        return Err(StoreError::new(
            StoreErrorKind::VersionMismatch,
            "GetObject",
            format!("asked for version {asked}, served {served}"),
        )
        .with_key(key));
    }
    let mut hasher = Sha256::new();
    let mut length = 0u64;
    while let Some(chunk) = body.chunks.next().await {
        let chunk = chunk?;
        length += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((hex::encode(hasher.finalize()), length))
}
