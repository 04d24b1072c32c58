use crate::store::StoreError;

use super::keys::KeyError;

/// Why a ledger operation could not be carried out.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger store: {0}")]
    Store(#[from] StoreError),
    #[error("ledger key: {0}")]
    Key(#[from] KeyError),
    #[error("ledger object {key}: {message}")]
    Damaged { key: String, message: String },
    #[error("this ledger was opened without a signing key, so it cannot append")]
    ReadOnly,
    #[error("ledger configuration: {0}")]
    Config(String),
    #[error(
        "gave up appending after {attempts} attempts: other writers kept taking the next block"
    )]
    Contention { attempts: u32 },
    #[error("record {0} is not in the ledger")]
    RecordNotFound(String),
    #[error("no trusted keys: none given and none published under {0}")]
    NoTrustedKeys(String),
}
