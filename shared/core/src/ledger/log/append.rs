//! Appending: records go into new blocks written create-only (`If-None-Match: *`), so two
//! writers can never both claim a position. Before appending, the writer rebuilds missing
//! identity markers and checks every marker it finds against its block ([`super::index`]): a
//! record whose identity a block already holds is reported `already_present`, never appended
//! again. An append whose records exceed one block's cap writes several blocks.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};

use crate::store::{PutOutcome, PutRequest, StoreError, StoreErrorKind};

use super::super::block::{MAX_BLOCK_BYTES, Tip, build_block};
use super::super::error::LedgerError;
use super::super::keys::Signer;
use super::super::record::CustodyRecord;
use super::head::HeadHint;
use super::index::IndexAnswer;
use super::{AppendOutcome, Ledger, Placed, Rejected};

/// Room left in a block for its header and checkpoint note.
const BLOCK_OVERHEAD: u64 = 64 << 10;

impl Ledger {
    /// Append records, each at most once in the whole ledger. Records whose identity is already
    /// in the ledger are reported in `already_present`; records whose id does not match their
    /// fields are reported in `rejected`; the rest go into new blocks (one, unless they exceed
    /// the block size cap).
    pub async fn append(&self, records: Vec<CustodyRecord>) -> Result<AppendOutcome, LedgerError> {
        let signer = self.signer.as_ref().ok_or(LedgerError::ReadOnly)?;
        let mut rejected = Vec::new();
        let mut seen = HashSet::new();
        let mut candidates: Vec<(String, Vec<u8>)> = Vec::new();
        for r in records {
            if !r.identity_is_consistent() {
                rejected.push(Rejected {
                    id: r.id.clone(),
                    reason: "the id is not the identity of the record's fields".into(),
                });
            } else if seen.insert(r.id.clone()) {
                let line = r.to_line();
                if line.len() as u64 > MAX_BLOCK_BYTES - BLOCK_OVERHEAD {
                    rejected.push(Rejected {
                        id: r.id.clone(),
                        reason: format!("the record is {} bytes, larger than a block", line.len()),
                    });
                } else {
                    candidates.push((r.id.clone(), line));
                }
            }
        }
        let mut total = AppendOutcome {
            appended: Vec::new(),
            already_present: Vec::new(),
            rejected,
            block: None,
            tree_size: 0,
            attempts: 0,
            poisoned_markers: Vec::new(),
            markers_rebuilt: 0,
        };
        let mut groups = Vec::new();
        let (mut start, mut bytes) = (0, 0u64);
        for (i, (_, line)) in candidates.iter().enumerate() {
            let len = line.len() as u64 + 1;
            if bytes + len > MAX_BLOCK_BYTES - BLOCK_OVERHEAD {
                groups.push(&candidates[start..i]);
                (start, bytes) = (i, 0);
            }
            bytes += len;
        }
        groups.push(&candidates[start..]);
        for group in groups {
            let out = self.append_block(group, signer).await?;
            total.appended.extend(out.appended);
            total.already_present.extend(out.already_present);
            total.block = out.block.or(total.block);
            total.tree_size = out.tree_size;
            total.attempts += out.attempts;
            total.poisoned_markers.extend(out.poisoned_markers);
            total.markers_rebuilt += out.markers_rebuilt;
        }
        Ok(total)
    }

    /// Append the candidates not yet in the ledger as one block.
    async fn append_block(
        &self,
        candidates: &[(String, Vec<u8>)],
        signer: &Signer,
    ) -> Result<AppendOutcome, LedgerError> {
        let ids: Vec<String> = candidates.iter().map(|(id, _)| id.clone()).collect();
        let mut attempts = 0u32;
        let mut markers_rebuilt = 0;
        loop {
            attempts += 1;
            let head = self.head().await?;
            if let Some(h) = &head {
                markers_rebuilt += self.ensure_indexed(h).await?;
            }
            let answers = self.check_markers(&ids, head.as_ref()).await?;
            let mut poisoned_markers = Vec::new();
            let mut already_present = Vec::new();
            let mut unknown = HashSet::new();
            for answer in answers {
                match answer {
                    IndexAnswer::Holds(p) => already_present.push(p),
                    IndexAnswer::Absent => {}
                    IndexAnswer::Poisoned(p) => {
                        tracing::warn!(id = %p.id, marker = %p.marker, reason = %p.reason,
                            "poisoned identity marker: scanning the blocks instead");
                        unknown.insert(p.id.clone());
                        poisoned_markers.push(p);
                    }
                }
            }
            if !unknown.is_empty() {
                already_present.extend(self.scan_for(&unknown).await?.into_values());
            }
            let present: HashSet<&str> = already_present.iter().map(|p| p.id.as_str()).collect();
            let fresh: Vec<&(String, Vec<u8>)> = candidates
                .iter()
                .filter(|(id, _)| !present.contains(id.as_str()))
                .collect();
            let tip = head.as_ref().map_or_else(Tip::genesis, |h| h.tip.clone());
            if fresh.is_empty() {
                return Ok(AppendOutcome {
                    appended: Vec::new(),
                    already_present,
                    rejected: Vec::new(),
                    block: None,
                    tree_size: tip.tree_size(),
                    attempts,
                    poisoned_markers,
                    markers_rebuilt,
                });
            }
            let lines: Vec<Vec<u8>> = fresh.iter().map(|(_, l)| l.clone()).collect();
            let created = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
            let block = build_block(&tip, &lines, &self.config.origin, signer, &created)
                .map_err(|e| LedgerError::Config(e.to_string()))?;
            let index = block.header.index;
            let key = self.layout.block(index);
            let mut put = PutRequest::new(key.clone(), block.bytes.clone()).create_only();
            put.content_type = Some("text/plain; charset=utf-8".into());
            put.checksum_sha256 = true;
            let won = match self.store.put(put).await {
                Ok(PutOutcome::Created { .. }) => true,
                Ok(PutOutcome::AlreadyExists) => false,
                Err(e) if retryable(&e) => false,
                Err(e) => return Err(e.into()),
            };
            if won {
                let first = block.header.first_leaf;
                let appended: Vec<Placed> = fresh
                    .iter()
                    .enumerate()
                    .map(|(i, (id, _))| Placed {
                        id: id.clone(),
                        block: index,
                        leaf_index: first + i as u64,
                    })
                    .collect();
                // Markers and the hint are an index: when writing them fails, the next writer
                // repairs the markers before it appends, so the block stands either way.
                if let Err(e) = self.write_markers(index, &appended).await {
                    tracing::warn!(block = index, error = %e, "identity markers not written; the next append repairs them");
                }
                let hint = serde_json::to_vec(&HeadHint { block: index }).expect("serializes");
                if let Err(e) = self
                    .store
                    .put(PutRequest::new(self.layout.head_hint(), hint))
                    .await
                {
                    tracing::warn!(block = index, error = %e, "head hint not updated");
                }
                return Ok(AppendOutcome {
                    appended,
                    already_present,
                    rejected: Vec::new(),
                    block: Some(index),
                    tree_size: block.header.tree_size,
                    attempts,
                    poisoned_markers,
                    markers_rebuilt,
                });
            }
            if attempts >= self.config.max_attempts {
                return Err(LedgerError::Contention { attempts });
            }
            let backoff = rand::random::<u64>() % (2 * u64::from(attempts.min(25)) + 1);
            tokio::time::sleep(Duration::from_millis(backoff)).await;
        }
    }
}

/// Whether a failed block write is worth another round. The round re-reads the head and
/// re-checks the markers, so a write whose outcome is unknown (it may have been created) is safe
/// to retry: its records are then found already present.
fn retryable(e: &StoreError) -> bool {
    !matches!(
        e.kind,
        StoreErrorKind::AccessDenied
            | StoreErrorKind::InvalidRequest
            | StoreErrorKind::NoObjectLock
    )
}
