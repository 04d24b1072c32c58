//! Reading a ledger from its store for verification: the trusted keys, the listing of
//! `blocks/`, every block (size-capped), the positions the listing cannot show (the one after the
//! newest block, and the first of each gap: a key there that is not a readable object, such as
//! a FIFO on a folder, is a failure, never skipped), and the versions of `blocks/` and `keys/`
//! where the store keeps versions (an object with two versions was overwritten; a store that
//! keeps none, or a listing refused for want of `s3:ListBucketVersions`, is a notice).

use crate::store::{ObjectVersion, StoreErrorKind};

use super::super::checkpoint::Checkpoint;
use super::super::log::{Ledger, ReadBlockError};
use super::report::{Failure, LedgerCheck, VerifyReport};
use super::{VerifyInput, verify_blocks};

impl Ledger {
    /// Verify the whole ledger (see [`verify_blocks`]) against the trusted keys: the configured
    /// ones (pinned), or else the published ones (unpinned, said so in the report). Store errors
    /// make a report that could not run.
    pub async fn verify(&self, pinned: Option<&Checkpoint>) -> VerifyReport {
        let location = self.location();
        let origin = self.config().origin.clone();
        let could_not_run =
            |e: String| VerifyReport::could_not_run(location.clone(), origin.clone(), e);
        let (trusted, trust) = match self.trusted_keys().await {
            Ok(t) => t,
            Err(e) => return could_not_run(e.to_string()),
        };
        let (listed, strays) = match self.list_blocks().await {
            Ok(l) => l,
            Err(e) => return could_not_run(e.to_string()),
        };
        let mut found: Vec<Failure> = strays
            .into_iter()
            .map(|key| {
                Failure::at(
                    LedgerCheck::Listing,
                    None,
                    format!("{key} is under blocks/ but is not a block key"),
                )
            })
            .collect();
        let mut notices = Vec::new();
        for prefix in [self.layout().blocks_prefix(), self.layout().keys_prefix()] {
            match self.store().list_versions(&prefix).await {
                Ok(Some(versions)) => found.extend(self.overwritten(&versions)),
                Ok(None) => notices.push(format!(
                    "versions of {prefix} not checked: the store keeps no versions"
                )),
                Err(e) => notices.push(format!("versions of {prefix} not checked: {e}")),
            }
        }
        let mut blocks = Vec::with_capacity(listed.len());
        for (index, read) in self.fetch_blocks(&listed).await {
            match read {
                Ok(bytes) => blocks.push((index, bytes)),
                Err(e @ ReadBlockError::TooLarge { .. }) => found.push(Failure::at(
                    LedgerCheck::BlockSize,
                    Some(index),
                    e.to_string(),
                )),
                Err(ReadBlockError::Store(e)) if e.kind == StoreErrorKind::InvalidRequest => found
                    .push(Failure::at(
                        LedgerCheck::Listing,
                        Some(index),
                        format!(
                            "{} is not a readable object: {e}",
                            self.layout().block(index)
                        ),
                    )),
                Err(e) => return could_not_run(e.to_string()),
            }
        }
        // Positions a listing does not show: after the newest block, and where gaps start.
        let mut probes = vec![listed.last().map_or(0, |b| b.index.saturating_add(1))];
        let mut expected = 0u64;
        for b in &listed {
            if b.index > expected {
                probes.push(expected);
            }
            expected = b.index.saturating_add(1);
        }
        for position in probes {
            let key = self.layout().block(position);
            match self.store().head(&key, None).await {
                Err(e) if e.kind == StoreErrorKind::NotFound => {}
                Err(e) if e.kind == StoreErrorKind::InvalidRequest => found.push(Failure::at(
                    LedgerCheck::Listing,
                    Some(position),
                    format!("{key} is named like a block but is not a readable object: {e}"),
                )),
                Err(e) => return could_not_run(e.to_string()),
                // Written since the listing (a live ledger): verified next time.
                Ok(_) => notices.push(format!("{key} appeared after blocks/ was listed")),
            }
        }
        let pinned = pinned.cloned();
        let task = tokio::task::spawn_blocking(move || {
            let mut report = verify_blocks(VerifyInput {
                location,
                origin: &origin,
                trusted: &trusted,
                trust,
                pinned: pinned.as_ref(),
                found,
                blocks,
            });
            report.notices.extend(notices);
            report
        });
        match task.await {
            Ok(report) => report,
            Err(e) => VerifyReport::could_not_run(
                self.location(),
                self.config().origin.clone(),
                format!("verification task failed: {e}"),
            ),
        }
    }

    /// An `overwritten` failure for every key with more than one version or delete marker:
    /// blocks and keys are written once, so a second version means one was overwritten (or
    /// deleted), and the old version is named beside the current one.
    fn overwritten(&self, versions: &[ObjectVersion]) -> Vec<Failure> {
        versions
            .chunk_by(|a, b| a.key == b.key)
            .filter(|same_key| same_key.len() > 1)
            .map(|same_key| {
                let key = &same_key[0].key;
                let named: Vec<String> = same_key
                    .iter()
                    .map(|v| {
                        let mut label = v.version_id.clone();
                        if v.delete_marker {
                            label.push_str(" (delete marker)");
                        }
                        if v.is_latest {
                            label.push_str(" (current)");
                        }
                        label
                    })
                    .collect();
                Failure::at(
                    LedgerCheck::Overwritten,
                    self.layout().block_index(key),
                    format!(
                        "{key} has {} versions: {}; it was written more than once",
                        same_key.len(),
                        named.join(", ")
                    ),
                )
            })
            .collect()
    }
}
