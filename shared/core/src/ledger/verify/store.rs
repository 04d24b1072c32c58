//! Reading a ledger from its store for verification: the trusted keys, the listing of
//! `blocks/`, every block (size-capped) streamed in ledger order a window at a time (the next
//! window is read while one is checked; nothing else of the ledger is held), the positions the
//! listing cannot show (the one after the newest block, and the first of each gap: a key there
//! that is not a readable object, such as a FIFO on a folder, is a failure, never skipped), the
//! versions of `blocks/` and `keys/` where the store keeps versions (an object with two versions
//! was overwritten; a store that keeps none, or a listing refused for want of
//! `s3:ListBucketVersions`, is a notice), and the blocks read again for the exact duplicate
//! check.

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::store::{ObjectVersion, StoreErrorKind};

use super::super::checkpoint::Checkpoint;
use super::super::log::{Ledger, ListedBlock, READ_BUDGET, ReadBlockError};
use super::progress::VerifyProgress;
use super::report::{Failure, LedgerCheck, VerifyReport};
use super::root_leaf::first_altered_leaves;
use super::stream::{DuplicateStats, Start, StreamVerifier, window_len};

/// The next window of blocks read, and the failures of the reads that were refused.
type Window = (Vec<(u64, Bytes)>, Vec<Failure>);

impl Ledger {
    /// Verify the whole ledger, streaming its blocks ([`super::verify_blocks`] has the checks),
    /// against the trusted keys: the configured ones (pinned), or else the published ones
    /// (unpinned, said so in the report). Store errors make a report that could not run.
    pub async fn verify(&self, pinned: Option<&Checkpoint>) -> VerifyReport {
        self.verify_timed(pinned).await.0
    }

    /// [`Ledger::verify`], with the time each phase of the checks took and what the duplicate
    /// check did, for benchmarks.
    pub async fn verify_timed(
        &self,
        pinned: Option<&Checkpoint>,
    ) -> (VerifyReport, Vec<(&'static str, Duration)>, DuplicateStats) {
        match self.verify_streaming(pinned, None).await {
            Ok(done) => done,
            Err(e) => (
                VerifyReport::could_not_run(self.location(), self.config().origin.clone(), e),
                Vec::new(),
                DuplicateStats::default(),
            ),
        }
    }

    /// [`Ledger::verify`], raising `progress` as blocks are checked.
    pub async fn verify_with_progress(
        &self,
        pinned: Option<&Checkpoint>,
        progress: &VerifyProgress,
    ) -> VerifyReport {
        match self.verify_streaming(pinned, Some(progress)).await {
            Ok((report, _, _)) => report,
            Err(e) => VerifyReport::could_not_run(self.location(), self.config().origin.clone(), e),
        }
    }

    async fn verify_streaming(
        &self,
        pinned: Option<&Checkpoint>,
        progress: Option<&VerifyProgress>,
    ) -> Result<(VerifyReport, Vec<(&'static str, Duration)>, DuplicateStats), String> {
        let (trusted, trust) = self.trusted_keys().await.map_err(|e| e.to_string())?;
        let (listed, strays) = self.list_blocks().await.map_err(|e| e.to_string())?;
        if let Some(p) = progress {
            p.listed(listed.len() as u64, listed.iter().map(|b| b.size).sum());
        }
        let mut verifier = StreamVerifier::new(Start::new(
            self.location(),
            self.config().origin.clone(),
            trusted,
            trust,
            pinned.cloned(),
            listed.len() as u64,
        ));
        for key in strays {
            verifier.found(Failure::at(
                LedgerCheck::Listing,
                None,
                format!("{key} is under blocks/ but is not a block key"),
            ));
        }
        let mut notices = Vec::new();
        for prefix in [self.layout().blocks_prefix(), self.layout().keys_prefix()] {
            match self.store().list_versions(&prefix).await {
                Ok(Some(versions)) => self
                    .overwritten(&versions)
                    .into_iter()
                    .for_each(|f| verifier.found(f)),
                Ok(None) => notices.push(format!(
                    "versions of {prefix} not checked: the store keeps no versions"
                )),
                Err(e) => notices.push(format!("versions of {prefix} not checked: {e}")),
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
        let sizes: Vec<(u64, u64)> = listed.iter().map(|b| (b.index, b.size)).collect();
        let mut windows = Vec::new();
        let mut rest = sizes.as_slice();
        while !rest.is_empty() {
            let n = window_len(rest.iter().map(|(_, size)| *size));
            windows.push(n);
            rest = &rest[n..];
        }

        // Blocks in windows: the next one is read while one is checked.
        let fetched = self.read_in_order(listed, READ_BUDGET);
        let mut fetched = std::pin::pin!(fetched);
        let mut windows = windows.into_iter();
        let mut next = match windows.next() {
            Some(n) => Some(self.take_window(&mut fetched, n).await),
            None => None,
        };
        while let Some(taken) = next {
            let (window, failures) = taken?;
            failures.into_iter().for_each(|f| verifier.found(f));
            let (count, bytes) = (
                window.len() as u64,
                window.iter().map(|(_, b)| b.len() as u64).sum::<u64>(),
            );
            let check = tokio::task::spawn_blocking(move || {
                verifier.push_window(window);
                verifier
            });
            let following = async {
                match windows.next() {
                    Some(n) => Some(self.take_window(&mut fetched, n).await),
                    None => None,
                }
            };
            let (checked, following) = tokio::join!(check, following);
            verifier = checked.map_err(|e| format!("verification task failed: {e}"))?;
            if let Some(p) = progress {
                p.checked(count, bytes);
            }
            next = following;
        }

        for position in probes {
            let key = self.layout().block(position);
            match self.store().head(&key, None).await {
                Err(e) if e.kind == StoreErrorKind::NotFound => {}
                Err(e) if e.kind == StoreErrorKind::InvalidRequest => verifier.found(Failure::at(
                    LedgerCheck::Listing,
                    Some(position),
                    format!("{key} is named like a block but is not a readable object: {e}"),
                )),
                Err(e) => return Err(e.to_string()),
                // Written since the listing (a live ledger): verified next time.
                Ok(_) => notices.push(format!("{key} appeared after blocks/ was listed")),
            }
        }

        // The exact duplicate check: the blocks holding identity prefixes that collide.
        let again: Vec<ListedBlock> = verifier
            .duplicate_rereads()
            .into_iter()
            .map(|index| ListedBlock {
                index,
                key: self.layout().block(index),
                size: sizes
                    .binary_search_by_key(&index, |(i, _)| *i)
                    .map_or(0, |i| sizes[i].1),
            })
            .collect();
        let reread = self.read_in_order(again, READ_BUDGET);
        let mut reread = std::pin::pin!(reread);
        while let Some((block, read)) = reread.next().await {
            let bytes = read.map_err(|e| e.to_string())?;
            verifier.reread(block.index, &bytes);
        }

        let leads = verifier.take_root_leads();
        for (lead, located) in leads.iter().zip(first_altered_leaves(self, &leads).await) {
            verifier.root_located(lead.position, located);
        }

        let (mut report, timings, stats) = verifier.finish();
        report.notices.extend(notices);
        Ok((report, timings, stats))
    }

    /// The next `n` blocks of `fetched`: those read, and a failure for each one refused (above
    /// the cap, or not a readable object). Any other store error stops verification.
    async fn take_window(
        &self,
        fetched: &mut (impl Stream<Item = (ListedBlock, Result<Bytes, ReadBlockError>)> + Unpin),
        n: usize,
    ) -> Result<Window, String> {
        let mut blocks = Vec::with_capacity(n);
        let mut failures = Vec::new();
        for _ in 0..n {
            let Some((block, read)) = fetched.next().await else {
                break;
            };
            let index = block.index;
            match read {
                Ok(bytes) => blocks.push((index, bytes)),
                Err(e @ ReadBlockError::TooLarge { .. }) => failures.push(Failure::at(
                    LedgerCheck::BlockSize,
                    Some(index),
                    e.to_string(),
                )),
                Err(ReadBlockError::Store(e)) if e.kind == StoreErrorKind::InvalidRequest => {
                    failures.push(Failure::at(
                        LedgerCheck::Listing,
                        Some(index),
                        format!(
                            "{} is not a readable object: {e}",
                            self.layout().block(index)
                        ),
                    ))
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok((blocks, failures))
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
