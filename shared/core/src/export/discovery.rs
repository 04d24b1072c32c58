//! Export discovery: from a starting point (one metadata key, a conversation folder, a manifest,
//! a whole export prefix) to the set of object versions one run processes, each pinned to a
//! version (the manifest's, else the current version at discovery time), with its conversation
//! and recording ids, what the manifest expects of it, and what discovery noticed (missing files,
//! unreferenced objects, unreadable or invalid metadata, objects outside the export scope).

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, stream};
use serde_json::Value;

use super::layout::{ConversationFolder, ExportKey, FileRole, recording_name_of_metadata};
use super::manifest::{Manifest, ManifestEntry, ManifestEntryError};
use super::metadata::{CallMetadata, MetadataError, RecordingMetadata};
use super::scope::{ExportScope, OutOfScope};
use crate::store::{ObjectHead, StoreError, StoreErrorKind, StoreRead};

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

async fn discover_metadata_key(
    store: &dyn StoreRead,
    scope: &ExportScope,
    key: &str,
    out: &mut Discovery,
) {
    if let Some(refused) = refuse(scope, key) {
        out.objects.push(DiscoveredObject::new(
            &scope.bucket,
            key,
            ObjectState::OutOfScope(refused),
        ));
        return;
    }
    let state = head_state(store, key, None, "the triggering event").await;
    let mut metadata = DiscoveredObject::new(&scope.bucket, key, state);
    let parsed = ExportKey::parse(key);
    let mut companions = Vec::new();
    match metadata.role {
        FileRole::RecordingMetadata => {
            let doc = read_recording_metadata(store, &mut metadata, out).await;
            if let Some(name) = key.rsplit('/').next().and_then(recording_name_of_metadata) {
                let folder_prefix = &key[..key.len() - key.rsplit('/').next().unwrap_or("").len()];
                let recording_id = doc.as_ref().and_then(|d| d.recording_id.clone());
                metadata.recording_id = recording_id.clone().or_else(|| stem(name));
                let listing = match &recording_id {
                    Some(id) => store
                        .list(&format!("{folder_prefix}{id}."))
                        .await
                        .unwrap_or_default(),
                    None => Vec::new(),
                };
                let present: BTreeSet<String> = listing.into_iter().map(|s| s.key).collect();
                let recording_key =
                    resolve_recording(folder_prefix, name, recording_id.as_deref(), &present)
                        .unwrap_or_else(|| format!("{folder_prefix}{name}"));
                let state = head_state(store, &recording_key, None, key).await;
                let mut recording = DiscoveredObject::new(&scope.bucket, &recording_key, state);
                recording.role = FileRole::Media;
                recording.recording_id = metadata.recording_id.clone();
                if recording.conversation_id.is_none() {
                    recording.conversation_id = doc.as_ref().map(|d| d.conversation_id.clone());
                }
                companions.push(recording);
            }
        }
        FileRole::CallMetadata => {
            read_call_metadata(store, &mut metadata, out).await;
            if let Some(folder) = parsed.as_ref().map(|k| &k.folder) {
                let listing = store.list(&folder.prefix).await.unwrap_or_default();
                let transcripts: Vec<String> = listing
                    .into_iter()
                    .map(|s| s.key)
                    .filter(|k| {
                        FileRole::of(k) == FileRole::Transcript
                            && scope.check(&scope.bucket, k).is_ok()
                    })
                    .collect();
                for (tkey, state) in head_all(store, transcripts, key).await {
                    companions.push(DiscoveredObject::new(&scope.bucket, &tkey, state));
                }
            }
        }
        _ => {}
    }
    out.objects.push(metadata);
    out.objects.extend(companions);
}

fn stem(file_name: &str) -> Option<String> {
    file_name
        .split('.')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The key of the recording a metadata file names: its exact sibling when present, else the one
/// object named `<recordingId>.<ext>` in the folder.
fn resolve_recording(
    folder_prefix: &str,
    sibling_name: &str,
    recording_id: Option<&str>,
    present: &BTreeSet<String>,
) -> Option<String> {
    let sibling = format!("{folder_prefix}{sibling_name}");
    if present.contains(&sibling) {
        return Some(sibling);
    }
    let id = recording_id?;
    let candidates: Vec<&String> = present
        .iter()
        .filter(|k| {
            k.strip_prefix(folder_prefix).is_some_and(|name| {
                name.starts_with(&format!("{id}.")) && FileRole::of(name) == FileRole::Media
            })
        })
        .collect();
    match candidates.as_slice() {
        [only] => Some((*only).clone()),
        _ => None,
    }
}

async fn read_recording_metadata(
    store: &dyn StoreRead,
    object: &mut DiscoveredObject,
    out: &mut Discovery,
) -> Option<RecordingMetadata> {
    let version = object.head()?.version_id.clone();
    match store.get_bytes(&object.key, version.as_deref()).await {
        Ok(bytes) => {
            match RecordingMetadata::parse(&object.key, &bytes, object.conversation_id.as_deref()) {
                Ok(doc) => {
                    out.documents
                        .entry(doc.conversation_id.clone())
                        .or_default()
                        .push(doc.raw.clone());
                    if object.conversation_id.is_none() {
                        object.conversation_id = Some(doc.conversation_id.clone());
                    }
                    if object.recording_id.is_none() {
                        object.recording_id = doc.recording_id.clone();
                    }
                    Some(doc)
                }
                Err(e) => {
                    object.notes.push(DiscoveryNote::InvalidMetadata(e));
                    None
                }
            }
        }
        Err(e) => {
            object
                .notes
                .push(DiscoveryNote::MetadataUnreadable(e.with_key(&object.key)));
            None
        }
    }
}

async fn read_call_metadata(
    store: &dyn StoreRead,
    object: &mut DiscoveredObject,
    out: &mut Discovery,
) {
    let Some(version) = object.head().map(|h| h.version_id.clone()) else {
        return;
    };
    match store.get_bytes(&object.key, version.as_deref()).await {
        Ok(bytes) => match CallMetadata::parse(&object.key, &bytes) {
            Ok(doc) => {
                let conversation = object
                    .conversation_id
                    .clone()
                    .or(doc.conversation_id.clone());
                if let Some(conversation) = conversation {
                    out.documents.entry(conversation).or_default().push(doc.raw);
                }
            }
            Err(e) => object.notes.push(DiscoveryNote::InvalidMetadata(e)),
        },
        Err(e) => object
            .notes
            .push(DiscoveryNote::MetadataUnreadable(e.with_key(&object.key))),
    }
}

async fn discover_folder_prefix(
    store: &dyn StoreRead,
    scope: &ExportScope,
    prefix: &str,
    out: &mut Discovery,
) {
    let Some(folder) = ConversationFolder::parse(prefix) else {
        let refused = OutOfScope {
            bucket: scope.bucket.clone(),
            key: prefix.to_string(),
            scope: scope.to_string(),
            reason: "not a .../year=/month=/day=/hour=/conversation_id=<id>/ folder".to_string(),
        };
        out.objects.push(DiscoveredObject::new(
            &scope.bucket,
            prefix,
            ObjectState::OutOfScope(refused),
        ));
        return;
    };
    if let Some(refused) = refuse(scope, &folder.prefix) {
        out.objects.push(DiscoveredObject::new(
            &scope.bucket,
            &folder.prefix,
            ObjectState::OutOfScope(refused),
        ));
        return;
    }
    match store.list(&folder.prefix).await {
        Ok(listing) => {
            let keys = listing.into_iter().map(|s| s.key).collect();
            discover_folder(store, scope, &folder, keys, out).await;
        }
        Err(e) => out.objects.push(DiscoveredObject::new(
            &scope.bucket,
            &folder.prefix,
            ObjectState::Unreadable(e.with_key(&folder.prefix)),
        )),
    }
}

/// Every object of one folder, with the completeness check: metadata files name their
/// recordings (missing ones are reported), call metadata and transcripts belong to the
/// conversation by name, anything else is unreferenced.
async fn discover_folder(
    store: &dyn StoreRead,
    scope: &ExportScope,
    folder: &ConversationFolder,
    keys: Vec<String>,
    out: &mut Discovery,
) {
    let present: BTreeSet<String> = keys.iter().cloned().collect();
    let mut objects: Vec<DiscoveredObject> = head_all(store, keys, &folder.prefix)
        .await
        .into_iter()
        .map(|(key, state)| {
            let mut object = DiscoveredObject::new(&scope.bucket, &key, state);
            object.conversation_id = Some(folder.conversation_id.clone());
            object
        })
        .collect();
    let mut referenced: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut missing = Vec::new();
    for object in objects.iter_mut() {
        let name = object.key[folder.prefix.len()..].to_string();
        match object.role {
            FileRole::RecordingMetadata => {
                let doc = read_recording_metadata(store, object, out).await;
                let Some(sibling) = recording_name_of_metadata(&name) else {
                    continue;
                };
                let recording_id = doc.as_ref().and_then(|d| d.recording_id.clone());
                if object.recording_id.is_none() {
                    object.recording_id = recording_id.clone().or_else(|| stem(sibling));
                }
                match resolve_recording(&folder.prefix, sibling, recording_id.as_deref(), &present)
                {
                    Some(recording) => {
                        referenced.insert(recording, object.recording_id.clone());
                    }
                    None => {
                        let mut gone = DiscoveredObject::new(
                            &scope.bucket,
                            &folder.key_of(sibling),
                            ObjectState::Missing {
                                named_by: object.key.clone(),
                            },
                        );
                        gone.role = FileRole::Media;
                        gone.recording_id = object.recording_id.clone();
                        missing.push(gone);
                    }
                }
            }
            FileRole::CallMetadata => read_call_metadata(store, object, out).await,
            _ => {}
        }
    }
    for object in objects.iter_mut() {
        let name = &object.key[folder.prefix.len()..];
        match object.role {
            FileRole::Media => match referenced.get(&object.key) {
                Some(recording_id) => object.recording_id = recording_id.clone(),
                None => object.notes.push(DiscoveryNote::Unreferenced {
                    reason: "no metadata file in the conversation folder names it".to_string(),
                }),
            },
            FileRole::CallMetadata | FileRole::Transcript
                if !name.starts_with(&folder.conversation_id) =>
            {
                object.notes.push(DiscoveryNote::Unreferenced {
                    reason: format!(
                        "its name does not start with the folder's conversation id {}",
                        folder.conversation_id
                    ),
                })
            }
            _ => {}
        }
    }
    out.objects.extend(objects);
    out.objects.extend(missing);
}

async fn discover_manifest(
    store: &dyn StoreRead,
    scope: &ExportScope,
    manifest: &Manifest,
    out: &mut Discovery,
) {
    let objects: Vec<DiscoveredObject> = stream::iter(manifest.entries.iter())
        .map(|entry| discover_entry(store, scope, entry, &manifest.source_name))
        .buffered(DISCOVERY_CONCURRENCY)
        .collect()
        .await;
    for mut object in objects {
        match object.role {
            FileRole::RecordingMetadata => {
                read_recording_metadata(store, &mut object, out).await;
            }
            FileRole::CallMetadata => read_call_metadata(store, &mut object, out).await,
            _ => {}
        }
        out.objects.push(object);
    }
}

async fn discover_entry(
    store: &dyn StoreRead,
    scope: &ExportScope,
    entry: &ManifestEntry,
    source: &str,
) -> DiscoveredObject {
    let state = match scope.check(&entry.bucket, &entry.key) {
        Err(refused) => ObjectState::OutOfScope(refused),
        Ok(()) => head_state(store, &entry.key, entry.version_id.as_deref(), source).await,
    };
    let mut object = DiscoveredObject::new(&entry.bucket, &entry.key, state);
    object.requested_version = entry.version_id.clone();
    object.expected_size = entry.size;
    object.expected_sha256 = entry.sha256.clone();
    object.hold_flag = entry.hold;
    if entry.conversation_id.is_some() {
        object.conversation_id = entry.conversation_id.clone();
    }
    object.recording_id = entry.recording_id.clone();
    if let (Some(expected), Some(head)) = (entry.size, object.head())
        && expected != head.size
    {
        let actual = head.size;
        object
            .notes
            .push(DiscoveryNote::SizeMismatch { expected, actual });
    }
    object
}

async fn discover_export_prefix(
    store: &dyn StoreRead,
    scope: &ExportScope,
    prefix: &str,
    out: &mut Discovery,
) {
    let probe = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    if !probe.starts_with(&scope.prefix) && !scope.prefix.starts_with(&probe) {
        let refused = refuse(scope, &probe).expect("outside the prefix");
        out.objects.push(DiscoveredObject::new(
            &scope.bucket,
            prefix,
            ObjectState::OutOfScope(refused),
        ));
        return;
    }
    // Never list above the export prefix.
    let list_prefix = if probe.len() < scope.prefix.len() {
        scope.prefix.clone()
    } else {
        probe
    };
    let listing = match store.list(&list_prefix).await {
        Ok(listing) => listing,
        Err(e) => {
            out.objects.push(DiscoveredObject::new(
                &scope.bucket,
                &list_prefix,
                ObjectState::Unreadable(e.with_key(&list_prefix)),
            ));
            return;
        }
    };
    let mut folders: BTreeMap<ConversationFolder, Vec<String>> = BTreeMap::new();
    let mut loose = Vec::new();
    for summary in listing {
        if scope.check(&scope.bucket, &summary.key).is_err() {
            continue;
        }
        match ExportKey::parse(&summary.key) {
            Some(parsed) => folders.entry(parsed.folder).or_default().push(summary.key),
            None => loose.push(summary.key),
        }
    }
    for (folder, keys) in folders {
        discover_folder(store, scope, &folder, keys, out).await;
    }
    for (key, state) in head_all(store, loose, &list_prefix).await {
        let mut object = DiscoveredObject::new(&scope.bucket, &key, state);
        object.notes.push(DiscoveryNote::Unreferenced {
            reason: "not inside a .../conversation_id=<id>/ folder of the export layout"
                .to_string(),
        });
        out.objects.push(object);
    }
}
