//! The ledger over an object store: opening it, and what an append reports. The work is split by
//! concept:
//!
//! - [`head`]: finding the newest block cheaply (the head hint, galloping and bisection);
//! - [`submissions`]: records made durable by writers, waiting for the integrator;
//! - [`integrate`]: appending blocks create-only, never a record whose identity a block holds;
//! - [`identities`]: the integrator's identity set and its signed snapshot, checked against the
//!   blocks before it is believed and rebuilt from them when it is not;
//! - [`published`]: verifier keys published beside the ledger, and which keys a verifier trusts;
//! - [`read`]: listing and reading blocks (size-capped) and records.
//!
//! Layout of the objects: [`super::Layout`]; format: `docs/ledger.md`.

mod head;
mod identities;
mod integrate;
mod published;
mod read;
mod submissions;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::store::StoreWrite;

use super::error::LedgerError;
use super::keys::{Signer, VerifierKey};
use super::layout::Layout;

pub use head::Head;
pub use identities::{IdentityLoad, SNAPSHOT_FORMAT};
pub use integrate::IntegrateOutcome;
pub use read::{LedgerEntry, ListedBlock, READ_BUDGET, ReadBlockError};
pub use submissions::{MAX_RECORD_BYTES, MAX_SUBMISSION_BYTES, RefusedLine, Submission};

use identities::IdentitySet;

#[derive(Debug, Clone)]
pub struct LedgerConfig {
    /// The checkpoint origin line, also the signing key's name (e.g. `custody.example.com/ledger`).
    pub origin: String,
    /// Keys the verifier accepts. Empty: the keys published under `<prefix>keys/`.
    pub trusted_keys: Vec<VerifierKey>,
    /// How many times an append re-reads the head after losing the race for the next block.
    pub max_attempts: u32,
    /// Concurrent store requests when reading blocks or writing markers.
    pub concurrency: usize,
    /// Whether the integrator publishes what is derived from each block it writes (C2SP tiles,
    /// the query index). Off only where a test or tool builds them separately; `catch_up` of
    /// either repairs what is missing.
    pub publish_derived: bool,
}

impl LedgerConfig {
    pub fn new(origin: impl Into<String>) -> Self {
        LedgerConfig {
            origin: origin.into(),
            trusted_keys: Vec::new(),
            max_attempts: 200,
            concurrency: 32,
            publish_derived: true,
        }
    }
}

/// A record that went into the ledger, or was already there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    pub id: String,
    pub block: u64,
    pub leaf_index: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub id: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendOutcome {
    pub appended: Vec<Placed>,
    pub already_present: Vec<Placed>,
    /// Records refused as they stand (identity not matching their fields).
    pub rejected: Vec<Rejected>,
    /// The newest block written, when anything was appended.
    pub block: Option<u64>,
    /// Tree size after the append (or as found, when nothing was appended).
    pub tree_size: u64,
    /// Blocks tried: 1 per block written unless other writers took the next position first.
    pub attempts: u32,
    /// Blocks this process read to learn the identities already in the ledger (those written
    /// after the identity snapshot, or every block when there is none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub identity_blocks_read: u64,
    /// Why the stored identity snapshot was not believed (the blocks were read instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_snapshot_refused: Option<String>,
}

impl AppendOutcome {
    /// The outcome of appending nothing.
    pub fn empty() -> Self {
        AppendOutcome {
            appended: Vec::new(),
            already_present: Vec::new(),
            rejected: Vec::new(),
            block: None,
            tree_size: 0,
            attempts: 0,
            identity_blocks_read: 0,
            identity_snapshot_refused: None,
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

pub struct Ledger {
    store: Arc<dyn StoreWrite>,
    layout: Layout,
    config: LedgerConfig,
    signer: Option<Signer>,
    /// The identity set (loaded on first use) and how it was loaded: one integrator per process.
    identities: tokio::sync::Mutex<Option<(IdentitySet, IdentityLoad)>>,
}

impl Ledger {
    /// Open the ledger under `prefix` of `store`. With a signer, its public key is published
    /// under `<prefix>keys/` (create-only) so verifiers find it.
    pub async fn open(
        store: Arc<dyn StoreWrite>,
        prefix: &str,
        config: LedgerConfig,
        signer: Option<Signer>,
    ) -> Result<Ledger, LedgerError> {
        if !signed_note::is_key_name_valid(&config.origin) {
            return Err(LedgerError::Config(format!(
                "origin {:?} must be non-empty, without spaces or '+'",
                config.origin
            )));
        }
        if let Some(s) = &signer
            && s.name() != config.origin
        {
            return Err(LedgerError::Config(format!(
                "the signing key is named {:?}, the ledger origin is {:?}: generate the key with \
                 the origin as its name",
                s.name(),
                config.origin
            )));
        }
        let ledger = Ledger {
            store,
            layout: Layout::new(prefix),
            config,
            signer,
            identities: tokio::sync::Mutex::new(None),
        };
        if let Some(s) = &ledger.signer {
            ledger.publish_key(&s.verifier_key()).await?;
        }
        Ok(ledger)
    }

    /// A writer of this same ledger (store, prefix, configuration) signing with `signer`: for a
    /// handle opened to read, such as the verifier's, that must then append (`verify --record`).
    pub async fn with_signer(&self, signer: Signer) -> Result<Ledger, LedgerError> {
        Ledger::open(
            self.store.clone(),
            self.layout.prefix(),
            self.config.clone(),
            Some(signer),
        )
        .await
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn config(&self) -> &LedgerConfig {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn StoreWrite> {
        &self.store
    }

    /// `s3://bucket/prefix` or `file:///folder/prefix`.
    pub fn location(&self) -> String {
        format!("{}/{}", self.store.location(), self.layout.prefix())
    }
}
