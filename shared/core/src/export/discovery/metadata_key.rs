//! Discovery from one `*_metadata.json` key: the metadata file and the files it names.

use std::collections::BTreeSet;

use super::super::layout::{ExportKey, FileRole, recording_name_of_metadata};

use super::super::metadata::{CallMetadata, RecordingMetadata};
use super::super::scope::ExportScope;
use super::*;
use crate::store::StoreRead;

pub(super) async fn discover_metadata_key(
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

pub(super) fn stem(file_name: &str) -> Option<String> {
    file_name
        .split('.')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The key of the recording a metadata file names: its exact sibling when present, else the one
/// object named `<recordingId>.<ext>` in the folder.
pub(super) fn resolve_recording(
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

pub(super) async fn read_recording_metadata(
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

pub(super) async fn read_call_metadata(
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
