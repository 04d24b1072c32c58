//! Offline receipts: one record, its leaf index, an RFC 6962 inclusion proof and the signed
//! checkpoint it is proven against. Checking one needs the trusted public keys and nothing else.
//!
//! ```json
//! {"format":"custody-receipt/1","record":"{...}","leaf_index":7,"block":2,"tree_size":9,
//!  "inclusion_proof":["<b64>","<b64>"],"checkpoint":"<signed note>","key_id":"<name>+<8 hex>"}
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::block::{BlockView, decode_hash, tip_of};
use super::checkpoint::Checkpoint;
use super::error::LedgerError;
use super::keys::TrustedKeys;
use super::log::Ledger;
use super::merkle::{Frontier, PartialTree, check_inclusion, leaf_hash};
use super::record::CustodyRecord;
use super::verify::LedgerCheck as Check;

pub const RECEIPT_FORMAT: &str = "custody-receipt/1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub format: String,
    /// The record exactly as stored (the leaf is these bytes, UTF-8).
    pub record: String,
    pub leaf_index: u64,
    /// The block holding the record (informative; the proof does not depend on it).
    pub block: u64,
    /// Tree size of the checkpoint the proof is against.
    pub tree_size: u64,
    /// Base64 hashes of the audit path, bottom-up.
    pub inclusion_proof: Vec<String>,
    /// The signed checkpoint note.
    pub checkpoint: String,
    /// `name+id` of the key that signed the checkpoint.
    pub key_id: String,
}

/// What a valid receipt proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptCheck {
    pub record: CustodyRecord,
    pub leaf_index: u64,
    pub origin: String,
    pub tree_size: u64,
    pub signed_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[{check}] {message}")]
pub struct ReceiptFailure {
    pub check: Check,
    pub message: String,
}

fn failure(check: Check, message: impl Into<String>) -> ReceiptFailure {
    ReceiptFailure {
        check,
        message: message.into(),
    }
}

impl Receipt {
    /// Check the receipt with no store access: the checkpoint's signature by a trusted key, the
    /// tree size, the inclusion of the record's leaf hash, and the record's identity.
    pub fn verify(&self, trusted: &TrustedKeys) -> Result<ReceiptCheck, ReceiptFailure> {
        if self.format != RECEIPT_FORMAT {
            return Err(failure(
                Check::Parse,
                format!("unknown receipt format {:?}", self.format),
            ));
        }
        let cp = Checkpoint::parse(self.checkpoint.as_bytes())
            .map_err(|e| failure(Check::Checkpoint, e.to_string()))?;
        let signed_by = cp
            .verify(trusted)
            .map_err(|e| failure(Check::Signature, e.to_string()))?;
        if cp.size != self.tree_size {
            return Err(failure(
                Check::Checkpoint,
                format!(
                    "the receipt says tree size {}, its checkpoint {}",
                    self.tree_size, cp.size
                ),
            ));
        }
        let proof = self
            .inclusion_proof
            .iter()
            .map(|h| decode_hash(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failure(Check::Parse, e.to_string()))?;
        let leaf = leaf_hash(self.record.as_bytes());
        if !check_inclusion(&proof, cp.size, &cp.root, self.leaf_index, &leaf) {
            return Err(failure(
                Check::Root,
                format!(
                    "the record is not leaf {} of the tree of size {} with root {}",
                    self.leaf_index,
                    cp.size,
                    BASE64.encode(cp.root)
                ),
            ));
        }
        let record: CustodyRecord = serde_json::from_str(&self.record)
            .map_err(|e| failure(Check::RecordFormat, format!("not a custody record: {e}")))?;
        if !record.identity_is_consistent() {
            return Err(failure(
                Check::Identity,
                format!(
                    "id {} is not the identity of the record's fields",
                    record.id
                ),
            ));
        }
        Ok(ReceiptCheck {
            record,
            leaf_index: self.leaf_index,
            origin: cp.origin,
            tree_size: cp.size,
            signed_by,
        })
    }
}

impl Ledger {
    /// A receipt for record `id`, proven against the checkpoint of the block that holds it. Reads
    /// the identity marker, that block and the one before it: cost does not grow with the ledger.
    pub async fn receipt(&self, id: &str) -> Result<Receipt, LedgerError> {
        Ok(self.receipt_checked(id).await?.0)
    }

    /// [`Ledger::receipt`], and why the identity index was not used when it was not (no marker,
    /// or a marker naming a place that does not hold the record): the blocks were then scanned.
    pub async fn receipt_checked(
        &self,
        id: &str,
    ) -> Result<(Receipt, Option<String>), LedgerError> {
        let (placed, index_note) = self.locate_checked(id).await?;
        let placed = placed.ok_or_else(|| LedgerError::RecordNotFound(id.to_string()))?;
        let block = placed.block;
        let key = self.layout().block(block);
        let damaged = |message: String| LedgerError::Damaged {
            key: key.clone(),
            message,
        };
        let bytes = self.read_block(block).await?;
        let view = BlockView::parse(&bytes).map_err(|e| damaged(e.to_string()))?;
        let base = if block == 0 {
            Frontier::empty()
        } else {
            let prev_key = self.layout().block(block - 1);
            let prev = self.read_block(block - 1).await?;
            let prev_damaged = |message: String| LedgerError::Damaged {
                key: prev_key.clone(),
                message,
            };
            let prev_view = BlockView::parse(&prev).map_err(|e| prev_damaged(e.to_string()))?;
            tip_of(&prev_view)
                .map_err(|e| prev_damaged(e.to_string()))?
                .frontier
        };
        if base.size() != view.header.first_leaf {
            return Err(damaged(format!(
                "starts at leaf {}, its predecessor ends at {}",
                view.header.first_leaf,
                base.size()
            )));
        }
        let position = placed
            .leaf_index
            .checked_sub(view.header.first_leaf)
            .filter(|k| *k < view.records.len() as u64)
            .ok_or_else(|| LedgerError::RecordNotFound(id.to_string()))?
            as usize;
        let leaves: Vec<_> = view.records.iter().map(|l| leaf_hash(l)).collect();
        let tree = PartialTree {
            base: &base,
            leaves: &leaves,
        };
        let leaf_index = placed.leaf_index;
        let proof = tree
            .inclusion_proof(leaf_index)
            .map_err(|e| damaged(e.to_string()))?;
        let checkpoint = view.checkpoint().map_err(|e| damaged(e.to_string()))?;
        let signature_line = checkpoint
            .note()
            .lines()
            .find_map(|l| signed_note::Signature::from_bytes(l.as_bytes()).ok())
            .ok_or_else(|| damaged("the checkpoint has no signature".into()))?;
        let receipt = Receipt {
            format: RECEIPT_FORMAT.to_string(),
            record: String::from_utf8(view.records[position].to_vec())
                .map_err(|_| damaged("a record is not UTF-8".into()))?,
            leaf_index,
            block,
            tree_size: checkpoint.size,
            inclusion_proof: proof.iter().map(|h| BASE64.encode(h)).collect(),
            checkpoint: checkpoint.note().to_string(),
            key_id: format!("{}+{:08x}", signature_line.name(), signature_line.id()),
        };
        Ok((receipt, index_note))
    }
}
