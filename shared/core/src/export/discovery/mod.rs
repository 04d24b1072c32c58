//! Export discovery: from a starting point (one metadata key, a conversation folder, a manifest,
//! a whole export prefix) to the set of object versions one run processes, each pinned to a
//! version (the manifest's, else the current version at discovery time), with its conversation
//! and recording ids, what the manifest expects of it, and what discovery noticed (missing files,
//! unreferenced objects, unreadable or invalid metadata, objects outside the export scope).

use std::collections::BTreeMap;

use futures::{StreamExt, stream};
use serde_json::Value;

use super::layout::{ExportKey, FileRole};
use super::manifest::{Manifest, ManifestEntry, ManifestEntryError};
use super::metadata::MetadataError;
use super::scope::{ExportScope, OutOfScope};

mod folder;
mod manifest;
mod metadata_key;
mod units;

pub use units::{DiscoveryUnit, UNIT_MANIFEST_ENTRIES, discover_units};

use crate::store::{ObjectHead, StoreError, StoreErrorKind, StoreRead};
use folder::{discover_export_prefix, discover_folder_prefix};
use manifest::discover_manifest;
use metadata_key::discover_metadata_key;

/// How many HEAD/GET calls discovery keeps in flight.
pub const DISCOVERY_CONCURRENCY: usize = 16;

/// Where a run starts.
#[derive(Debug, Clone)]
pub enum StartingPoint {
    /// One `*_metadata.json` (or `*_call_metadata.json`) key, e.g. from an S3 event: that file
    /// and the files it names. No unreferenced check (the folder may still be filling).
    MetadataKey(String),
    /// One `.../conversation_id={id}/` folder: every object in it, with the completeness check.
    ConversationFolder(String),
    /// The entries of a manifest, exactly (no listing).
    Manifest(Manifest),
    /// Every conversation folder under a prefix.
    ExportPrefix(String),
    /// One object just landed (an S3 event, a Batch Operations task): its key and the version
    /// the event names. A metadata file starts as [`StartingPoint::MetadataKey`]; a recording
    /// or transcript starts from the metadata file beside it (`<name>_metadata.json`), which
    /// names it, so a file that lands after its metadata is marked, hashed and recorded with its
    /// ids and matters; when no metadata stands beside it (yet), the object alone is processed
    /// (its metadata's own event processes it again later, adding only new facts).
    ObjectArrived {
        key: String,
        version_id: Option<String>,
    },
}

/// The state of one object at discovery.
#[derive(Debug, Clone)]
pub enum ObjectState {
    /// The object exists; `head.version_id` is the pinned version.
    Present(Box<ObjectHead>),
    /// A file the export names is not in the bucket; `named_by` is the metadata or manifest.
    Missing { named_by: String },
    /// Refused before any call was made.
    OutOfScope(OutOfScope),
    /// HEAD failed for a reason other than absence (access denied, ...).
    Unreadable(StoreError),
}

/// Something discovery noticed about an object, beyond its state.
#[derive(Debug, Clone)]
pub enum DiscoveryNote {
    /// No metadata names this object.
    Unreferenced { reason: String },
    /// The object is metadata and could not be parsed.
    InvalidMetadata(MetadataError),
    /// The object is metadata and could not be read.
    MetadataUnreadable(StoreError),
    /// The manifest expected a different size.
    SizeMismatch { expected: u64, actual: u64 },
}

/// One object version a run processes.
#[derive(Debug, Clone)]
pub struct DiscoveredObject {
    pub bucket: String,
    pub key: String,
    pub role: FileRole,
    pub conversation_id: Option<String>,
    pub recording_id: Option<String>,
    /// The version the manifest pinned, when it pinned one.
    pub requested_version: Option<String>,
    pub expected_size: Option<u64>,
    pub expected_sha256: Option<String>,
    /// The manifest's hold flag: `Some(true)` hold, `Some(false)` observe only, `None` policy decides.
    pub hold_flag: Option<bool>,
    pub state: ObjectState,
    pub notes: Vec<DiscoveryNote>,
}

impl DiscoveredObject {
    fn new(bucket: &str, key: &str, state: ObjectState) -> Self {
        let parsed = ExportKey::parse(key);
        DiscoveredObject {
            bucket: bucket.to_string(),
            key: key.to_string(),
            role: parsed
                .as_ref()
                .map(|k| k.role())
                .unwrap_or(FileRole::of(key)),
            conversation_id: parsed.map(|k| k.folder.conversation_id),
            recording_id: None,
            requested_version: None,
            expected_size: None,
            expected_sha256: None,
            hold_flag: None,
            state,
            notes: Vec::new(),
        }
    }

    pub fn head(&self) -> Option<&ObjectHead> {
        match &self.state {
            ObjectState::Present(head) => Some(head),
            _ => None,
        }
    }

    /// The pinned version: the manifest's, else the one HEAD reported at discovery.
    pub fn pinned_version(&self) -> Option<&str> {
        self.head()
            .and_then(|h| h.version_id.as_deref())
            .or(self.requested_version.as_deref())
    }

    pub fn is_unreferenced(&self) -> bool {
        self.notes
            .iter()
            .any(|n| matches!(n, DiscoveryNote::Unreferenced { .. }))
    }
}

/// What discovery found.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// The store location the objects were found in.
    pub location: String,
    pub export_job_id: Option<String>,
    /// The input: the metadata key, folder, prefix or manifest source name.
    pub source: String,
    pub objects: Vec<DiscoveredObject>,
    /// Manifest entries that could not be read.
    pub rejected_entries: Vec<ManifestEntryError>,
    /// Every parsed metadata document (recording and call metadata), by conversation id, for
    /// hold rules that match a metadata field.
    pub documents: BTreeMap<String, Vec<Value>>,
}

/// Discover the objects of one starting point. Never fails as a whole: every problem is attached
/// to the object it concerns.
pub async fn discover(
    store: &dyn StoreRead,
    scope: &ExportScope,
    start: &StartingPoint,
) -> Discovery {
    let mut discovery = Discovery {
        location: store.location(),
        ..Default::default()
    };
    match start {
        StartingPoint::MetadataKey(key) => {
            discovery.source = key.clone();
            discover_metadata_key(store, scope, key, &mut discovery).await;
        }
        StartingPoint::ConversationFolder(prefix) => {
            discovery.source = prefix.clone();
            discover_folder_prefix(store, scope, prefix, &mut discovery).await;
        }
        StartingPoint::Manifest(manifest) => {
            discovery.source = manifest.source_name.clone();
            discovery.export_job_id = manifest.export_job_id.clone();
            discovery.rejected_entries = manifest.rejected.clone();
            discover_manifest(store, scope, manifest, &mut discovery).await;
        }
        StartingPoint::ExportPrefix(prefix) => {
            discovery.source = prefix.clone();
            discover_export_prefix(store, scope, prefix, &mut discovery).await;
        }
        StartingPoint::ObjectArrived { key, version_id } => {
            discovery.source = key.clone();
            let metadata = format!("{key}_metadata.json");
            let beside = !key.ends_with("_metadata.json")
                && scope.check(&scope.bucket, &metadata).is_ok()
                && store.head(&metadata, None).await.is_ok();
            if key.ends_with("_metadata.json") {
                discover_metadata_key(store, scope, key, &mut discovery).await;
            } else if beside {
                discover_metadata_key(store, scope, &metadata, &mut discovery).await;
            } else {
                let entry =
                    ManifestEntry::new(scope.bucket.clone(), key.clone(), version_id.clone());
                let manifest = Manifest::single(key.clone(), entry);
                discover_manifest(store, scope, &manifest, &mut discovery).await;
            }
        }
    }
    discovery
}

async fn head_state(
    store: &dyn StoreRead,
    key: &str,
    version: Option<&str>,
    named_by: &str,
) -> ObjectState {
    match store.head(key, version).await {
        Ok(head) => match exported_version_behind(&head, version) {
            // The current version is custody's own metadata copy of the exported version:
            // the exported version is the one to pin, hash and record.
            Some(source) => match store.head(key, Some(source)).await {
                Ok(exported) => ObjectState::Present(Box::new(exported)),
                Err(_) => ObjectState::Present(Box::new(head)),
            },
            None => ObjectState::Present(Box::new(head)),
        },
        Err(e) if e.kind == StoreErrorKind::NotFound => ObjectState::Missing {
            named_by: named_by.to_string(),
        },
        Err(e) => ObjectState::Unreadable(e.with_key(key)),
    }
}

/// When no version was asked for and the current version is a hold copy that custody made, the
/// version it was copied from (recorded in its `legal-hold-source-version` metadata).
fn exported_version_behind<'h>(head: &'h ObjectHead, requested: Option<&str>) -> Option<&'h str> {
    if requested.is_some() {
        return None;
    }
    head.metadata
        .get(crate::hold::META_LEGAL_HOLD_SOURCE_VERSION)
        .map(String::as_str)
        .filter(|source| head.version_id.as_deref() != Some(*source))
}

async fn head_all(
    store: &dyn StoreRead,
    keys: Vec<String>,
    named_by: &str,
) -> Vec<(String, ObjectState)> {
    stream::iter(keys)
        .map(|key| async move {
            let state = head_state(store, &key, None, named_by).await;
            (key, state)
        })
        .buffered(DISCOVERY_CONCURRENCY)
        .collect()
        .await
}

fn refuse(scope: &ExportScope, key: &str) -> Option<OutOfScope> {
    scope.check(&scope.bucket, key).err()
}
