//! The identity index: `ids/<2 hex>/<id>` holds `{"block":N,"leaf":L}` for every record, and
//! `indexed/N` says every marker of block N was written. It makes appends idempotent and
//! receipts cheap, but anyone with write access to the bucket can edit it, so it is a cache:
//!
//! - a marker is believed only after the block and leaf it names are read and found to hold that
//!   very record; a marker that does not (a *poisoned* marker) is reported and treated as
//!   absent, and the record's real place, if any, is found by scanning the blocks;
//! - missing markers are rebuilt from the blocks: every block after the newest `indexed/N`, and
//!   the whole ledger when a marker of the head block itself is missing (the index was deleted).

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::store::{PutRequest, StoreErrorKind};

use super::super::block::BlockView;
use super::super::error::LedgerError;
use super::head::Head;
use super::{Ledger, Placed};

/// Content of an identity marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Marker {
    block: u64,
    leaf: u64,
}

/// An identity marker that does not name its record's place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoisonedMarker {
    pub id: String,
    /// The marker's key.
    pub marker: String,
    pub reason: String,
}

/// What the index says about one identity, once checked against the blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum IndexAnswer {
    Absent,
    Holds(Placed),
    Poisoned(PoisonedMarker),
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

impl Ledger {
    /// The marker of `id`: `None` when there is none, `Some(Err)` when it is not a marker.
    async fn marker(&self, id: &str) -> Result<Option<Result<Marker, String>>, LedgerError> {
        let key = self.layout.identity(id);
        match self.store.get_bytes(&key, None).await {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(|e| {
                format!("the marker is not {{\"block\":N,\"leaf\":L}}: {e}")
            }))),
            Err(e) if e.kind == StoreErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// What the index says about each id, every marker checked against the block it names.
    /// `head` is the newest block, in hand: no marker may name a later one.
    pub(super) async fn check_markers(
        &self,
        ids: &[String],
        head: Option<&Head>,
    ) -> Result<Vec<IndexAnswer>, LedgerError> {
        let lookups: Vec<_> = ids.iter().map(|id| self.marker(id)).collect();
        let markers: Vec<_> = stream::iter(lookups)
            .buffered(self.config.concurrency.max(1))
            .try_collect()
            .await?;
        let mut blocks: BTreeMap<u64, Option<Bytes>> = BTreeMap::new();
        if let Some(h) = head {
            blocks.insert(h.index, Some(h.bytes.clone()));
        }
        let head_index = head.map(|h| h.index);
        for m in markers.iter().flatten().flatten() {
            if head_index.is_some_and(|h| m.block <= h) && !blocks.contains_key(&m.block) {
                let bytes = match self.read_block(m.block).await {
                    Ok(b) => Some(b),
                    Err(LedgerError::Store(e)) if e.kind == StoreErrorKind::NotFound => None,
                    Err(e) => return Err(e),
                };
                blocks.insert(m.block, bytes);
            }
        }
        Ok(ids
            .iter()
            .zip(markers)
            .map(|(id, marker)| {
                let poisoned = |reason: String| {
                    IndexAnswer::Poisoned(PoisonedMarker {
                        id: id.clone(),
                        marker: self.layout.identity(id),
                        reason,
                    })
                };
                let m = match marker {
                    None => return IndexAnswer::Absent,
                    Some(Err(reason)) => return poisoned(reason),
                    Some(Ok(m)) => m,
                };
                match blocks.get(&m.block) {
                    None => poisoned(format!(
                        "names block {}, beyond the newest block {}",
                        m.block,
                        head_index.map_or_else(|| "(none)".to_string(), |h| h.to_string())
                    )),
                    Some(None) => poisoned(format!("names block {}, which is missing", m.block)),
                    Some(Some(bytes)) => match holds(bytes, m.leaf, id) {
                        Ok(()) => IndexAnswer::Holds(Placed {
                            id: id.clone(),
                            block: m.block,
                            leaf_index: m.leaf,
                        }),
                        Err(reason) => poisoned(format!(
                            "names block {} leaf {}, which {reason}",
                            m.block, m.leaf
                        )),
                    },
                }
            })
            .collect())
    }

    /// Where each of `ids` is, found by reading every block: for identities whose index entry
    /// was poisoned.
    pub(super) async fn scan_for(
        &self,
        ids: &HashSet<String>,
    ) -> Result<HashMap<String, Placed>, LedgerError> {
        let mut found = HashMap::new();
        self.for_each_record(|entry| {
            if let Ok(id) = record_id(&entry.line)
                && ids.contains(&id)
            {
                found.entry(id.clone()).or_insert(Placed {
                    id,
                    block: entry.block,
                    leaf_index: entry.leaf_index,
                });
            }
        })
        .await?;
        Ok(found)
    }

    /// Where record `id` is. The marker is believed only when its block holds the record at its
    /// leaf; otherwise the blocks are scanned. The second value says why the index was not used
    /// (no marker, or a poisoned one), when it was not.
    pub async fn locate_checked(
        &self,
        id: &str,
    ) -> Result<(Option<Placed>, Option<String>), LedgerError> {
        let head = self.head().await?;
        let answer = self
            .check_markers(&[id.to_string()], head.as_ref())
            .await?
            .pop()
            .expect("one answer per id");
        let why = match answer {
            IndexAnswer::Holds(p) => return Ok((Some(p), None)),
            IndexAnswer::Absent => format!("no identity marker {}", self.layout.identity(id)),
            IndexAnswer::Poisoned(p) => {
                format!("the identity index was wrong: {} {}", p.marker, p.reason)
            }
        };
        let ids = HashSet::from([id.to_string()]);
        let found = self.scan_for(&ids).await?.remove(id);
        Ok((found, Some(why)))
    }

    /// Where the identity index says record `id` is, checked against the block it names.
    pub async fn locate(&self, id: &str) -> Result<Option<Placed>, LedgerError> {
        Ok(self.locate_checked(id).await?.0)
    }

    /// Make sure every block's records have identity markers before appending on top of the
    /// head: the blocks after the newest one marked `indexed/`, and every block when a marker of
    /// the head block is missing although it is marked indexed (the index was deleted). Returns
    /// how many markers were written.
    pub(super) async fn ensure_indexed(&self, head: &Head) -> Result<u64, LedgerError> {
        let from = if self.exists(&self.layout.indexed(head.index)).await? {
            let view = self.view(head.index, &head.bytes)?;
            let first = record_id(view.records[0]).map_err(|e| LedgerError::Damaged {
                key: self.layout.block(head.index),
                message: format!("record 0: {e}"),
            })?;
            if self.exists(&self.layout.identity(&first)).await? {
                return Ok(0);
            }
            tracing::warn!(
                block = head.index,
                "identity markers of an indexed block are missing: rebuilding the whole index"
            );
            0
        } else {
            let mut k = head.index;
            while k > 0 && !self.exists(&self.layout.indexed(k - 1)).await? {
                k -= 1;
            }
            k
        };
        let mut written = 0;
        for index in from..=head.index {
            let bytes = if index == head.index {
                head.bytes.clone()
            } else {
                self.read_block(index).await?
            };
            written += self.index_block(index, &bytes).await?;
        }
        Ok(written)
    }

    fn view<'a>(&self, index: u64, bytes: &'a [u8]) -> Result<BlockView<'a>, LedgerError> {
        BlockView::parse(bytes).map_err(|e| LedgerError::Damaged {
            key: self.layout.block(index),
            message: e.to_string(),
        })
    }

    async fn exists(&self, key: &str) -> Result<bool, LedgerError> {
        match self.store.head(key, None).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind == StoreErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Write the markers of block `index` (create-only), then `indexed/index`. Returns how many
    /// markers were created.
    async fn index_block(&self, index: u64, bytes: &[u8]) -> Result<u64, LedgerError> {
        let key = self.layout.block(index);
        let view = self.view(index, bytes)?;
        let mut placed = Vec::with_capacity(view.records.len());
        for (i, line) in view.records.iter().enumerate() {
            let damaged = |message: String| LedgerError::Damaged {
                key: key.clone(),
                message: format!("record {i}: {message}"),
            };
            let id = record_id(line).map_err(|e| damaged(e.to_string()))?;
            let leaf_index = view
                .leaf_index(i)
                .ok_or_else(|| damaged("its leaf index does not fit in 64 bits".into()))?;
            placed.push(Placed {
                id,
                block: index,
                leaf_index,
            });
        }
        self.write_markers(index, &placed).await
    }

    /// Write markers create-only, then `indexed/index`. Returns how many markers were created.
    pub(super) async fn write_markers(
        &self,
        index: u64,
        placed: &[Placed],
    ) -> Result<u64, LedgerError> {
        // Futures are collected first: a lazy `map` adapter inside the stream would make the
        // append future not provably `Send` for every lifetime, and unusable in `tokio::spawn`.
        let puts: Vec<_> = placed
            .iter()
            .map(|p| {
                let body = serde_json::to_vec(&Marker {
                    block: p.block,
                    leaf: p.leaf_index,
                })
                .expect("serializes");
                let put = PutRequest::new(self.layout.identity(&p.id), body).create_only();
                let store = self.store.clone();
                async move {
                    match store.put(put.clone()).await {
                        Ok(crate::store::PutOutcome::Created { .. }) => Ok(1u64),
                        Ok(crate::store::PutOutcome::AlreadyExists) => Ok(0),
                        // A create-only write whose outcome is an error may still have lost to
                        // (or raced with) an identical marker: what matters is that it exists.
                        Err(e) => match store.head(&put.key, None).await {
                            Ok(_) => Ok(0),
                            Err(_) => Err(e),
                        },
                    }
                }
            })
            .collect();
        let created: Vec<u64> = stream::iter(puts)
            .buffer_unordered(self.config.concurrency.max(1))
            .try_collect()
            .await?;
        // `indexed/N` only saves the next writer the marker writes: losing it costs time, not
        // correctness.
        if let Err(e) = self
            .store
            .put(PutRequest::new(self.layout.indexed(index), Vec::new()))
            .await
        {
            tracing::warn!(block = index, error = %e, "indexed marker not written");
        }
        Ok(created.iter().sum())
    }
}

/// Whether block `bytes` holds record `id` at leaf `leaf`; otherwise what it holds instead.
fn holds(bytes: &[u8], leaf: u64, id: &str) -> Result<(), String> {
    let view = BlockView::parse(bytes).map_err(|e| format!("is not a block ({e})"))?;
    let k = leaf
        .checked_sub(view.header.first_leaf)
        .filter(|k| *k < view.records.len() as u64)
        .ok_or_else(|| "is not in that block".to_string())?;
    match record_id(view.records[k as usize]) {
        Ok(found) if found == id => Ok(()),
        Ok(found) => Err(format!("holds record {found}")),
        Err(e) => Err(format!("holds no custody record ({e})")),
    }
}
