//! The ledger over an object store: finding the head cheaply, appending blocks create-only, the
//! identity index that keeps appends idempotent, published keys, and reading records back.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::store::{PutOutcome, PutRequest, StoreError, StoreErrorKind, StoreWrite};

use super::block::{BlockView, Tip, build_block, tip_of};
use super::error::LedgerError;
use super::keys::{Signer, TrustedKeys, VerifierKey};
use super::layout::Layout;
use super::record::CustodyRecord;

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
}

impl LedgerConfig {
    pub fn new(origin: impl Into<String>) -> Self {
        LedgerConfig {
            origin: origin.into(),
            trusted_keys: Vec::new(),
            max_attempts: 200,
            concurrency: 32,
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
    /// The block written, when anything was appended.
    pub block: Option<u64>,
    /// Tree size after the append (or as found, when nothing was appended).
    pub tree_size: u64,
    /// Blocks tried: 1 unless other writers took the next position first.
    pub attempts: u32,
}

/// Content of an identity marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Marker {
    block: u64,
    leaf: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct HeadHint {
    block: u64,
}

#[derive(Deserialize)]
struct IdOnly<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
}

/// The id field of a stored record line.
pub(crate) fn record_id(line: &[u8]) -> Result<String, String> {
    serde_json::from_slice::<IdOnly<'_>>(line)
        .map(|r| r.id.into_owned())
        .map_err(|e| format!("record is not JSON with an id: {e}"))
}

/// The newest block as the appender found it.
#[derive(Debug, Clone)]
pub struct Head {
    pub index: u64,
    pub bytes: Bytes,
    pub tip: Tip,
}

/// One record as read back, with its place in the ledger.
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    pub block: u64,
    pub leaf_index: u64,
    /// The stored line; `record` is its parse.
    pub line: Bytes,
    pub record: Result<CustodyRecord, String>,
}

pub struct Ledger {
    store: Arc<dyn StoreWrite>,
    layout: Layout,
    config: LedgerConfig,
    signer: Option<Signer>,
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
        };
        if let Some(s) = &ledger.signer {
            ledger.publish_key(&s.verifier_key()).await?;
        }
        Ok(ledger)
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
            let bytes = self.store.get_bytes(&obj.key, None).await?;
            match std::str::from_utf8(&bytes)
                .map_err(|_| "not UTF-8".to_string())
                .and_then(|t| VerifierKey::parse(t).map_err(|e| e.0))
            {
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

    /// The keys verification trusts: the configured ones, or else the published ones.
    pub async fn trusted_keys(&self) -> Result<(TrustedKeys, String), LedgerError> {
        if !self.config.trusted_keys.is_empty() {
            return Ok((
                TrustedKeys::new(self.config.trusted_keys.clone()),
                "keys given explicitly".to_string(),
            ));
        }
        let (keys, _) = self.published_keys().await?;
        if keys.is_empty() {
            return Err(LedgerError::NoTrustedKeys(self.layout.keys_prefix()));
        }
        Ok((
            TrustedKeys::new(keys),
            format!(
                "keys published under {} (pass keys explicitly to pin them)",
                self.layout.keys_prefix()
            ),
        ))
    }

    async fn block_exists(&self, index: u64) -> Result<bool, LedgerError> {
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

    /// The index of the newest block, without listing the ledger: start from the head hint,
    /// gallop forward while blocks exist, then bisect. O(log gap) requests.
    pub async fn head_index(&self) -> Result<Option<u64>, LedgerError> {
        let start = match self.read_hint().await? {
            Some(hint) if self.block_exists(hint).await? => hint,
            Some(hint) => {
                // The hint is ahead of the blocks (it is only a hint): bisect below it.
                if !self.block_exists(0).await? {
                    return Ok(None);
                }
                let (mut lo, mut hi) = (0u64, hint);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if self.block_exists(mid).await? {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                lo
            }
            None => {
                if !self.block_exists(0).await? {
                    return Ok(None);
                }
                0
            }
        };
        let mut lo = start;
        let mut step = 1u64;
        let mut hi = loop {
            let probe = lo.saturating_add(step);
            if probe == lo {
                return Ok(Some(lo));
            }
            if self.block_exists(probe).await? {
                lo = probe;
                step = step.saturating_mul(2);
            } else {
                break probe;
            }
        };
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.block_exists(mid).await? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi = lo;
        Ok(Some(hi))
    }

    /// The newest block, read and checked for internal consistency.
    pub async fn head(&self) -> Result<Option<Head>, LedgerError> {
        let Some(index) = self.head_index().await? else {
            return Ok(None);
        };
        let key = self.layout.block(index);
        let bytes = self.store.get_bytes(&key, None).await?;
        let tip = BlockView::parse(&bytes)
            .and_then(|v| {
                if v.header.index != index {
                    return Err(format!("says it is block {}", v.header.index));
                }
                tip_of(&v)
            })
            .map_err(|message| LedgerError::Damaged {
                key: key.clone(),
                message,
            })?;
        Ok(Some(Head { index, bytes, tip }))
    }

    /// Append records, each at most once in the whole ledger. Records whose identity is already
    /// in the ledger are reported in `already_present`; records whose id does not match their
    /// fields are reported in `rejected`; the rest go into one new block.
    pub async fn append(&self, records: Vec<CustodyRecord>) -> Result<AppendOutcome, LedgerError> {
        let signer = self.signer.as_ref().ok_or(LedgerError::ReadOnly)?;
        let mut rejected = Vec::new();
        let mut seen = HashSet::new();
        let mut candidates: Vec<(String, Vec<u8>)> = Vec::new();
        for r in records {
            if !r.identity_is_consistent() {
                rejected.push(Rejected {
                    id: r.id.clone(),
                    reason: "the id is not the identity of the record's bucket, key, version, \
                             event and source"
                        .into(),
                });
            } else if seen.insert(r.id.clone()) {
                candidates.push((r.id.clone(), r.to_line()));
            }
        }
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let head = self.head().await?;
            if let Some(h) = &head {
                self.ensure_indexed(h.index, &h.bytes).await?;
            }
            let markers = self.lookup_markers(&candidates).await?;
            let mut already_present = Vec::new();
            let mut fresh = Vec::new();
            for ((id, line), marker) in candidates.iter().zip(markers) {
                match marker {
                    Some(m) => already_present.push(Placed {
                        id: id.clone(),
                        block: m.block,
                        leaf_index: m.leaf,
                    }),
                    None => fresh.push((id.clone(), line.clone())),
                }
            }
            let tip = head.as_ref().map_or_else(Tip::genesis, |h| h.tip.clone());
            if fresh.is_empty() {
                return Ok(AppendOutcome {
                    appended: Vec::new(),
                    already_present,
                    rejected,
                    block: None,
                    tree_size: tip.tree_size(),
                    attempts,
                });
            }
            let lines: Vec<Vec<u8>> = fresh.iter().map(|(_, l)| l.clone()).collect();
            let created = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
            let block = build_block(&tip, &lines, &self.config.origin, signer, &created)
                .map_err(LedgerError::Config)?;
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
                    rejected,
                    block: Some(index),
                    tree_size: block.header.tree_size,
                    attempts,
                });
            }
            if attempts >= self.config.max_attempts {
                return Err(LedgerError::Contention { attempts });
            }
            let backoff = rand::random::<u64>() % (2 * u64::from(attempts.min(25)) + 1);
            tokio::time::sleep(Duration::from_millis(backoff)).await;
        }
    }

    /// Make sure every record of block `index` has its identity marker, then mark the block
    /// indexed. Idempotent; run by every appender on the head before appending on top of it.
    async fn ensure_indexed(&self, index: u64, bytes: &[u8]) -> Result<(), LedgerError> {
        let sealed = self.layout.indexed(index);
        match self.store.head(&sealed, None).await {
            Ok(_) => return Ok(()),
            Err(e) if e.kind == StoreErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let key = self.layout.block(index);
        let view = BlockView::parse(bytes).map_err(|message| LedgerError::Damaged {
            key: key.clone(),
            message,
        })?;
        let mut placed = Vec::with_capacity(view.records.len());
        for (i, line) in view.records.iter().enumerate() {
            let id = record_id(line).map_err(|message| LedgerError::Damaged {
                key: key.clone(),
                message: format!("record {i}: {message}"),
            })?;
            placed.push(Placed {
                id,
                block: index,
                leaf_index: view.header.first_leaf + i as u64,
            });
        }
        self.write_markers(index, &placed).await
    }

    async fn write_markers(&self, index: u64, placed: &[Placed]) -> Result<(), LedgerError> {
        // Futures are collected first: a lazy `map` adapter inside the stream would make the
        // append future not provably `Send` for every lifetime, and unusable in `tokio::spawn`.
        let puts: Vec<_> = placed
            .iter()
            .map(|p| {
                let body = serde_json::to_vec(&Marker {
                    block: p.block,
                    leaf: p.leaf_index,
                })
                .expect("serializes");
                let put = PutRequest::new(self.layout.identity(&p.id), body).create_only();
                let store = self.store.clone();
                async move {
                    match store.put(put.clone()).await {
                        Ok(_) => Ok(()),
                        // A create-only write whose outcome is an error may still have lost to
                        // (or raced with) an identical marker: what matters is that it exists.
                        Err(e) => match store.head(&put.key, None).await {
                            Ok(_) => Ok(()),
                            Err(_) => Err(e),
                        },
                    }
                }
            })
            .collect();
        stream::iter(puts)
            .buffer_unordered(self.config.concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        // `indexed/N` only saves the next writer the marker writes: losing it costs time, not
        // correctness.
        if let Err(e) = self
            .store
            .put(PutRequest::new(self.layout.indexed(index), Vec::new()))
            .await
        {
            tracing::warn!(block = index, error = %e, "indexed marker not written");
        }
        Ok(())
    }

    async fn lookup_markers(
        &self,
        candidates: &[(String, Vec<u8>)],
    ) -> Result<Vec<Option<Marker>>, LedgerError> {
        let lookups: Vec<_> = candidates.iter().map(|(id, _)| self.marker(id)).collect();
        stream::iter(lookups)
            .buffered(self.config.concurrency.max(1))
            .try_collect()
            .await
    }

    async fn marker(&self, id: &str) -> Result<Option<Marker>, LedgerError> {
        let key = self.layout.identity(id);
        match self.store.get_bytes(&key, None).await {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| LedgerError::Damaged {
                        key,
                        message: format!("identity marker is not {{\"block\",\"leaf\"}}: {e}"),
                    })
            }
            Err(e) if e.kind == StoreErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Where the identity index says record `id` is, if it says anything.
    pub async fn locate(&self, id: &str) -> Result<Option<Placed>, LedgerError> {
        Ok(self.marker(id).await?.map(|m| Placed {
            id: id.to_string(),
            block: m.block,
            leaf_index: m.leaf,
        }))
    }

    /// Block keys in ledger order, and listed keys under `blocks/` that are not block keys.
    pub async fn list_blocks(&self) -> Result<(Vec<(u64, String)>, Vec<String>), LedgerError> {
        let listed = self.store.list(&self.layout.blocks_prefix()).await?;
        let mut blocks = Vec::with_capacity(listed.len());
        let mut strays = Vec::new();
        for obj in listed {
            match self.layout.block_index(&obj.key) {
                Some(i) => blocks.push((i, obj.key)),
                None => strays.push(obj.key),
            }
        }
        blocks.sort_unstable();
        Ok((blocks, strays))
    }

    /// Fetch blocks concurrently, keeping their order.
    pub async fn fetch_blocks(
        &self,
        blocks: &[(u64, String)],
    ) -> Result<Vec<(u64, Bytes)>, LedgerError> {
        let reads: Vec<_> = blocks
            .iter()
            .map(|(i, key)| async move {
                let bytes = self.store.get_bytes(key, None).await?;
                Ok::<_, LedgerError>((*i, bytes))
            })
            .collect();
        stream::iter(reads)
            .buffered(self.config.concurrency.max(1))
            .try_collect()
            .await
    }

    pub async fn read_block(&self, index: u64) -> Result<Bytes, LedgerError> {
        Ok(self
            .store
            .get_bytes(&self.layout.block(index), None)
            .await?)
    }

    /// Every record in ledger order, for queries. Blocks are read `concurrency` at a time and
    /// handed to `visit` in order; a record that does not parse is passed with its error.
    pub async fn for_each_record(
        &self,
        mut visit: impl FnMut(LedgerEntry),
    ) -> Result<(), LedgerError> {
        let (blocks, _) = self.list_blocks().await?;
        let reads: Vec<_> = blocks
            .into_iter()
            .map(|(i, key)| async move {
                let bytes = self.store.get_bytes(&key, None).await?;
                Ok::<_, LedgerError>((i, key, bytes))
            })
            .collect();
        let mut fetched = stream::iter(reads).buffered(self.config.concurrency.max(1));
        while let Some(item) = fetched.next().await {
            let (index, key, bytes) = item?;
            let view = BlockView::parse(&bytes)
                .map_err(|message| LedgerError::Damaged { key, message })?;
            for (i, line) in view.records.iter().enumerate() {
                let record = serde_json::from_slice::<CustodyRecord>(line)
                    .map_err(|e| format!("record does not parse: {e}"));
                visit(LedgerEntry {
                    block: index,
                    leaf_index: view.header.first_leaf + i as u64,
                    line: bytes.slice_ref(line),
                    record,
                });
            }
        }
        Ok(())
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
