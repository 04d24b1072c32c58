//! Writing one block's index: every object create-only, the marker last. Idempotent (the objects
//! are a function of the block's bytes: a second run finds them and compares them) and
//! crash-safe (without the marker, the block counts as not indexed and the next
//! [`catch_up`](super::catch_up) writes what is missing).

use bytes::Bytes;
use futures::{StreamExt, stream};
use serde::Serialize;

use crate::ledger::Layout;
use crate::store::{PutOutcome, PutRequest, StoreWrite};

use super::error::QueryIndexError;
use super::keys::IndexKeys;
use super::plan::{IndexObject, plan_block};

/// Concurrent writes per block.
const WRITE_CONCURRENCY: usize = 32;

/// What indexing one block did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexedBlock {
    pub block: u64,
    /// Objects created by this call (postings, record rows, marker).
    pub created: u64,
    /// Objects found already written, with the content the block gives them.
    pub already: u64,
    /// Leaves left out (a record that does not parse or whose id is not its identity).
    pub skipped: Vec<u64>,
}

/// Put one object create-only; when it exists, read it back: it must hold exactly its body.
async fn put_once(
    store: &dyn StoreWrite,
    object: &IndexObject,
) -> Result<PutResult, QueryIndexError> {
    let mut request =
        PutRequest::new(object.key.clone(), Bytes::from(object.body.clone())).create_only();
    request.content_type = Some(object.content_type.to_string());
    match store.put(request).await? {
        PutOutcome::Created { .. } => Ok(PutResult::Created),
        PutOutcome::AlreadyExists => {
            let stored = store.get_bytes(&object.key, None).await?;
            if stored.as_ref() == object.body.as_slice() {
                Ok(PutResult::Same)
            } else {
                Ok(PutResult::Different(object.key.clone()))
            }
        }
    }
}

enum PutResult {
    Created,
    Same,
    Different(String),
}

/// Index the block `block_bytes` of the ledger laid out as `layout`: its postings and
/// day-partitioned rows, then its marker. Call it after writing each block; safe to call again
/// (also concurrently) for the same block. Fails, writing no marker, when the bytes are not a
/// block or an object of its index already exists with other content
/// ([`QueryIndexError::Conflict`]).
pub async fn index_block(
    store: &dyn StoreWrite,
    layout: &Layout,
    block_bytes: &[u8],
) -> Result<IndexedBlock, QueryIndexError> {
    let keys = IndexKeys::new(layout);
    let plan = plan_block(&keys, block_bytes)?;
    let objects: Vec<&IndexObject> = plan.postings.iter().chain(&plan.records).collect();
    // The futures are made before they enter the stream, so that the caller's future stays
    // `Send` for every lifetime (a mapping closure in the stream type is not).
    let puts: Vec<_> = objects.into_iter().map(|o| put_once(store, o)).collect();
    let results: Vec<Result<PutResult, QueryIndexError>> = stream::iter(puts)
        .buffer_unordered(WRITE_CONCURRENCY)
        .collect()
        .await;
    let (mut created, mut already, mut conflicts) = (0u64, 0u64, Vec::new());
    for result in results {
        match result? {
            PutResult::Created => created += 1,
            PutResult::Same => already += 1,
            PutResult::Different(key) => conflicts.push(key),
        }
    }
    // The marker only once every other object holds what the block gives it.
    if conflicts.is_empty() {
        match put_once(store, &plan.marker).await? {
            PutResult::Created => created += 1,
            PutResult::Same => already += 1,
            PutResult::Different(key) => conflicts.push(key),
        }
    }
    if !conflicts.is_empty() {
        conflicts.sort();
        return Err(QueryIndexError::Conflict {
            block: plan.block,
            keys: conflicts,
        });
    }
    Ok(IndexedBlock {
        block: plan.block,
        created,
        already,
        skipped: plan.skipped,
    })
}
