//! Verifier keys published beside the ledger (`keys/<id>.vkey`, create-only), and the keys a
//! verifier trusts: the auditor's own (pinned), or else the published ones (unpinned, and said
//! so in every report).

use crate::store::PutOutcome;
use crate::store::PutRequest;

use super::super::error::LedgerError;
use super::super::keys::{TrustedKeys, VerifierKey};
use super::super::verify::Trust;
use super::Ledger;

impl Ledger {
    /// Publish a verifier key beside the ledger. A different key already stored under the same
    /// key id is an error, never overwritten.
    pub async fn publish_key(&self, key: &VerifierKey) -> Result<(), LedgerError> {
        let object = self.layout.key(key.id());
        let text = format!("{}\n", key.to_text());
        let put = PutRequest::new(object.clone(), text.clone().into_bytes()).create_only();
        match self.store.put(put).await? {
            PutOutcome::Created { .. } => Ok(()),
            PutOutcome::AlreadyExists => {
                let existing = self.store.get_bytes(&object, None).await?;
                if existing.as_ref() == text.as_bytes() {
                    Ok(())
                } else {
                    Err(LedgerError::Damaged {
                        key: object,
                        message: format!("holds a different key than {}", key.label()),
                    })
                }
            }
        }
    }

    /// The verifier keys published under `<prefix>keys/`. Unreadable ones are returned as
    /// messages beside the keys.
    pub async fn published_keys(&self) -> Result<(Vec<VerifierKey>, Vec<String>), LedgerError> {
        let listed = self.store.list(&self.layout.keys_prefix()).await?;
        let mut keys = Vec::new();
        let mut problems = Vec::new();
        for obj in listed {
            if obj.size > 4096 {
                problems.push(format!(
                    "{}: {} bytes is not a verifier key",
                    obj.key, obj.size
                ));
                continue;
            }
            let bytes = self.store.get_bytes(&obj.key, None).await?;
            let parsed = std::str::from_utf8(&bytes)
                .map_err(|_| "not UTF-8".to_string())
                .and_then(|t| VerifierKey::parse(t).map_err(|e| e.to_string()));
            match parsed {
                Ok(k) if self.layout.key(k.id()) == obj.key => keys.push(k),
                Ok(k) => problems.push(format!(
                    "{} holds key {} whose id does not match its name",
                    obj.key,
                    k.label()
                )),
                Err(e) => problems.push(format!("{}: {e}", obj.key)),
            }
        }
        Ok((keys, problems))
    }

    /// The keys verification trusts: the configured ones (pinned), or else the published ones.
    pub async fn trusted_keys(&self) -> Result<(TrustedKeys, Trust), LedgerError> {
        if !self.config.trusted_keys.is_empty() {
            return Ok((
                TrustedKeys::new(self.config.trusted_keys.clone()),
                Trust::PinnedKeys,
            ));
        }
        let (keys, _) = self.published_keys().await?;
        if keys.is_empty() {
            return Err(LedgerError::NoTrustedKeys(self.layout.keys_prefix()));
        }
        Ok((TrustedKeys::new(keys), Trust::PublishedKeys))
    }
}
