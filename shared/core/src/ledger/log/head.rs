//! Finding the newest block without listing the ledger: start from the head hint (`head.json`,
//! never trusted), gallop forward while blocks exist, then bisect. O(log gap) requests.
//!
//! A key named like a block that is not a readable object (on a folder: a FIFO, a socket, an
//! empty folder) is an error, never "no block": a writer stops instead of skipping or hanging.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::store::StoreErrorKind;

use super::super::block::{BlockView, Tip, tip_of};
use super::super::error::LedgerError;
use super::Ledger;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct HeadHint {
    pub block: u64,
}

/// The newest block as the appender found it.
#[derive(Debug, Clone)]
pub struct Head {
    pub index: u64,
    pub bytes: Bytes,
    pub tip: Tip,
}

impl Ledger {
    pub(super) async fn block_exists(&self, index: u64) -> Result<bool, LedgerError> {
        match self.store.head(&self.layout.block(index), None).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind == StoreErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn read_hint(&self) -> Result<Option<u64>, LedgerError> {
        match self.store.get_bytes(&self.layout.head_hint(), None).await {
            Ok(bytes) => Ok(serde_json::from_slice::<HeadHint>(&bytes)
                .ok()
                .map(|h| h.block)),
            Err(e) if e.kind == StoreErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The last existing block in `lo..hi`, given that `lo` exists and `hi` does not.
    async fn bisect(&self, mut lo: u64, mut hi: u64) -> Result<u64, LedgerError> {
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.block_exists(mid).await? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// The index of the newest block, or `None` for an empty ledger.
    pub async fn head_index(&self) -> Result<Option<u64>, LedgerError> {
        let start = match self.read_hint().await? {
            Some(hint) if self.block_exists(hint).await? => hint,
            // The hint is ahead of the blocks (it is only a hint): bisect below it.
            Some(hint) if self.block_exists(0).await? => self.bisect(0, hint).await?,
            _ if self.block_exists(0).await? => 0,
            _ => return Ok(None),
        };
        let mut lo = start;
        let mut step = 1u64;
        let hi = loop {
            let Some(probe) = lo.checked_add(step) else {
                return Ok(Some(lo));
            };
            if self.block_exists(probe).await? {
                lo = probe;
                step = step.saturating_mul(2);
            } else {
                break probe;
            }
        };
        Ok(Some(self.bisect(lo, hi).await?))
    }

    /// The newest block, read (size-capped) and checked for internal consistency.
    pub async fn head(&self) -> Result<Option<Head>, LedgerError> {
        let Some(index) = self.head_index().await? else {
            return Ok(None);
        };
        let key = self.layout.block(index);
        let bytes = self.read_block(index).await?;
        let view = BlockView::parse(&bytes).map_err(|e| LedgerError::Damaged {
            key: key.clone(),
            message: e.to_string(),
        })?;
        if view.header.index != index {
            return Err(LedgerError::Damaged {
                key,
                message: format!("says it is block {}", view.header.index),
            });
        }
        let tip = tip_of(&view).map_err(|e| LedgerError::Damaged {
            key,
            message: e.to_string(),
        })?;
        Ok(Some(Head { index, bytes, tip }))
    }
}
