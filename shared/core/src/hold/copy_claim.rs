//! One metadata copy per exported version, however many runs race for it.
//!
//! CopyObject is not idempotent: two concurrent deliveries of one event, or a retry after a
//! dropped connection, each make a copy (FACTS: 4 concurrent runs of one export made 50 extra
//! copies). Before copying version `V` of key `K`, a run claims the copy with a create-only put
//! of
//!
//! ```text
//! <ledger prefix>claims/<hex SHA-256 of "bucket\nkey\nV">
//! {"bucket":"…","key":"…","version_id":"V","claimant":"<random run id>","at":"…"}
//! ```
//!
//! The run whose put creates the claim copies. A run that finds the claim taken waits (polling
//! the key's current version, a HEAD at a time, with backoff) for the claimant's copy to appear
//! (its `x-amz-meta-legal-hold-source-version` names `V`) and marks that copy; when none appears
//! within the wait, the claimant has stopped, and the run copies itself (that copy is recorded
//! like any other, so nothing is left unrecorded). A claim whose put answer was lost is read back:
//! the claimant id says whose it is.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{PutOutcome, PutRequest, StoreError, StoreWrite};

/// Where claims are made and how long a run waits for another run's copy.
pub struct CopyClaims<'a> {
    store: &'a dyn StoreWrite,
    prefix: String,
    claimant: String,
    pub wait: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This run copies.
    Ours,
    /// Another run claimed the copy first.
    Theirs,
}

#[derive(Serialize, Deserialize)]
struct ClaimBody {
    bucket: String,
    key: String,
    version_id: String,
    claimant: String,
    at: String,
}

impl<'a> CopyClaims<'a> {
    /// Claims under `prefix` (the ledger's, e.g. `ledger/`) in `store`.
    pub fn new(store: &'a dyn StoreWrite, prefix: &str) -> Self {
        CopyClaims {
            store,
            prefix: prefix.to_string(),
            claimant: hex::encode(rand::random::<[u8; 16]>()),
            wait: Duration::from_secs(30),
        }
    }

    fn claim_key(&self, bucket: &str, key: &str, version: &str) -> String {
        let digest = Sha256::digest(format!("{bucket}\n{key}\n{version}").as_bytes());
        format!("{}claims/{}", self.prefix, hex::encode(digest))
    }

    /// Claim the copy of `version` of `key`.
    pub async fn claim(&self, bucket: &str, key: &str, version: &str) -> Result<Claim, StoreError> {
        let claim_key = self.claim_key(bucket, key, version);
        let body = ClaimBody {
            bucket: bucket.to_string(),
            key: key.to_string(),
            version_id: version.to_string(),
            claimant: self.claimant.clone(),
            at: chrono::Utc::now().to_rfc3339(),
        };
        let bytes = serde_json::to_vec(&body).expect("a claim serializes");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let put = PutRequest::new(claim_key.clone(), bytes.clone()).create_only();
            match self.store.put(put).await {
                Ok(PutOutcome::Created { .. }) => return Ok(Claim::Ours),
                Ok(PutOutcome::AlreadyExists) => return self.whose(&claim_key).await,
                Err(e) if e.is_retryable() && attempt < 4 => {
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads a claim back: ours when an earlier put of ours made it (its answer was lost).
    async fn whose(&self, claim_key: &str) -> Result<Claim, StoreError> {
        let bytes = self.store.get_bytes(claim_key, None).await?;
        let mine = serde_json::from_slice::<ClaimBody>(&bytes)
            .is_ok_and(|body| body.claimant == self.claimant);
        Ok(if mine { Claim::Ours } else { Claim::Theirs })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::BucketSpec;
    use crate::store::faulty::{Fault, FaultyStore, Rule};
    use crate::store::memory::MemoryStore;

    #[tokio::test]
    async fn the_first_claim_wins_and_a_lost_answer_is_read_back_as_ours() {
        let memory = Arc::new(MemoryStore::new("ledger", BucketSpec::default()));
        let faulty = FaultyStore::new(memory.clone());
        let a = CopyClaims::new(&faulty, "ledger/");
        let b = CopyClaims::new(&faulty, "ledger/");
        assert_eq!(a.claim("exp", "k", "v1").await.unwrap(), Claim::Ours);
        assert_eq!(b.claim("exp", "k", "v1").await.unwrap(), Claim::Theirs);
        assert_eq!(a.claim("exp", "k", "v1").await.unwrap(), Claim::Ours);
        assert_eq!(b.claim("exp", "k", "v2").await.unwrap(), Claim::Ours);
        faulty.inject(Rule::on("PutObject", 1, Fault::LoseAnswer));
        assert_eq!(a.claim("exp", "k2", "v1").await.unwrap(), Claim::Ours);
        assert_eq!(b.claim("exp", "k2", "v1").await.unwrap(), Claim::Theirs);
    }
}
