//! Listing and reading blocks and records. Every block read is capped at
//! [`MAX_BLOCK_BYTES`](super::super::block::MAX_BLOCK_BYTES): a larger object named like a block
//! is refused from its listed or served length, before its content is read. Whole-ledger readers
//! (verification, queries, audits) read the blocks in order with a bounded amount in flight
//! ([`READ_BUDGET`]) and drop each once handled (`docs/ledger.md`, "Verification": memory).

use bytes::{Bytes, BytesMut};
use futures::stream::{self, FuturesOrdered, Stream, StreamExt};

use crate::store::StoreError;

use super::super::block::{BlockView, MAX_BLOCK_BYTES};
use super::super::error::LedgerError;
use super::super::record::CustodyRecord;
use super::Ledger;

/// Listed bytes of blocks a sequential reader (queries, audits, verification) has in flight at
/// once, beyond the block it is working on: a few typical blocks, one block at the cap.
pub const READ_BUDGET: u64 = 8 << 20;

/// One record as read back, with its place in the ledger.
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    pub block: u64,
    pub leaf_index: u64,
    /// The stored line; `record` is its parse.
    pub line: Bytes,
    pub record: Result<CustodyRecord, String>,
}

/// A block key found by listing `blocks/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListedBlock {
    pub index: u64,
    pub key: String,
    /// The size the listing reports.
    pub size: u64,
}

/// Why a block could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadBlockError {
    #[error("{key} is {size} bytes, above the {max}-byte block cap", max = MAX_BLOCK_BYTES)]
    TooLarge { key: String, size: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ReadBlockError> for LedgerError {
    fn from(e: ReadBlockError) -> Self {
        match e {
            ReadBlockError::Store(e) => LedgerError::Store(e),
            ReadBlockError::TooLarge { ref key, .. } => LedgerError::Damaged {
                key: key.clone(),
                message: e.to_string(),
            },
        }
    }
}

impl Ledger {
    /// Block keys in ledger order, and listed keys under `blocks/` that are not block keys.
    pub async fn list_blocks(&self) -> Result<(Vec<ListedBlock>, Vec<String>), LedgerError> {
        let listed = self.store.list(&self.layout.blocks_prefix()).await?;
        let mut blocks = Vec::with_capacity(listed.len());
        let mut strays = Vec::new();
        for obj in listed {
            match self.layout.block_index(&obj.key) {
                Some(index) => blocks.push(ListedBlock {
                    index,
                    key: obj.key,
                    size: obj.size,
                }),
                None => strays.push(obj.key),
            }
        }
        blocks.sort_unstable();
        Ok((blocks, strays))
    }

    /// One object read whole, refused when it is longer than a block may be.
    pub async fn read_capped(&self, key: &str) -> Result<Bytes, ReadBlockError> {
        let body = self.store.get(key, None, None).await?;
        if body.content_length > MAX_BLOCK_BYTES {
            return Err(ReadBlockError::TooLarge {
                key: key.to_string(),
                size: body.content_length,
            });
        }
        let mut chunks = body.chunks;
        let mut all = BytesMut::with_capacity(body.content_length as usize);
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            if (all.len() + chunk.len()) as u64 > MAX_BLOCK_BYTES {
                return Err(ReadBlockError::TooLarge {
                    key: key.to_string(),
                    size: (all.len() + chunk.len()) as u64,
                });
            }
            all.extend_from_slice(&chunk);
        }
        Ok(all.freeze())
    }

    /// Block `index`, read whole (size-capped).
    pub async fn read_block(&self, index: u64) -> Result<Bytes, LedgerError> {
        Ok(self.read_capped(&self.layout.block(index)).await?)
    }

    /// Read one listed block (size-capped, refused from its listed size when above the cap).
    async fn read_listed(&self, b: ListedBlock) -> (ListedBlock, Result<Bytes, ReadBlockError>) {
        if b.size > MAX_BLOCK_BYTES {
            let e = ReadBlockError::TooLarge {
                key: b.key.clone(),
                size: b.size,
            };
            return (b, Err(e));
        }
        let read = self.read_capped(&b.key).await;
        (b, read)
    }

    /// Blocks read in ledger order with bounded memory: at most `concurrency` reads in flight
    /// and, past the first, no more than `budget` listed bytes among them. Nothing is read ahead
    /// of what the consumer asks for beyond that window, so a reader holds a few blocks, never the
    /// ledger; each read is capped and has its own outcome.
    pub fn read_in_order(
        &self,
        blocks: Vec<ListedBlock>,
        budget: u64,
    ) -> impl Stream<Item = (ListedBlock, Result<Bytes, ReadBlockError>)> + '_ {
        struct Window<'a, F: std::future::Future> {
            pending: std::vec::IntoIter<ListedBlock>,
            in_flight: FuturesOrdered<F>,
            bytes: u64,
            ledger: &'a Ledger,
        }
        let concurrency = self.config.concurrency.max(1);
        let window = Window {
            pending: blocks.into_iter(),
            in_flight: FuturesOrdered::new(),
            bytes: 0,
            ledger: self,
        };
        stream::unfold(window, move |mut w| async move {
            while w.in_flight.len() < concurrency {
                let Some(next) = w.pending.as_slice().first() else {
                    break;
                };
                let size = next.size.min(MAX_BLOCK_BYTES);
                if !w.in_flight.is_empty() && w.bytes.saturating_add(size) > budget {
                    break;
                }
                let next = w.pending.next().expect("peeked");
                w.bytes = w.bytes.saturating_add(size);
                w.in_flight.push_back(w.ledger.read_listed(next));
            }
            let (block, read) = w.in_flight.next().await?;
            w.bytes = w.bytes.saturating_sub(block.size.min(MAX_BLOCK_BYTES));
            Some(((block, read), w))
        })
    }

    /// Every record in ledger order, for queries and audits. Blocks are read in order with
    /// bounded memory ([`Ledger::read_in_order`] with [`READ_BUDGET`]) and handed to `visit` one at
    /// a time, then dropped; a record that does not parse is passed with its error.
    pub async fn for_each_record(
        &self,
        mut visit: impl FnMut(LedgerEntry),
    ) -> Result<(), LedgerError> {
        let (blocks, _) = self.list_blocks().await?;
        let fetched = self.read_in_order(blocks, READ_BUDGET);
        let mut fetched = std::pin::pin!(fetched);
        while let Some((block, read)) = fetched.next().await {
            let (index, key) = (block.index, block.key);
            let bytes = read?;
            let view = BlockView::parse(&bytes).map_err(|e| LedgerError::Damaged {
                key: key.clone(),
                message: e.to_string(),
            })?;
            for (i, line) in view.records.iter().enumerate() {
                let Some(leaf_index) = view.leaf_index(i) else {
                    return Err(LedgerError::Damaged {
                        key,
                        message: format!("record {i}: its leaf index does not fit in 64 bits"),
                    });
                };
                let record = serde_json::from_slice::<CustodyRecord>(line)
                    .map_err(|e| format!("record does not parse: {e}"));
                visit(LedgerEntry {
                    block: index,
                    leaf_index,
                    line: bytes.slice_ref(line),
                    record,
                });
            }
        }
        Ok(())
    }
}
