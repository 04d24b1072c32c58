//! Discovery of whole conversation folders (one, or every folder under a prefix), with the
//! completeness check: every object is named by some metadata, or it is unreferenced.

use std::collections::{BTreeMap, BTreeSet};

use super::super::layout::{ConversationFolder, ExportKey, FileRole, recording_name_of_metadata};

use super::super::scope::ExportScope;
use super::metadata_key::{read_call_metadata, read_recording_metadata, resolve_recording, stem};
use super::*;
use crate::store::StoreRead;

pub(super) async fn discover_folder_prefix(
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
pub(super) async fn discover_folder(
    store: &dyn StoreRead,
    scope: &ExportScope,
    folder: &ConversationFolder,
    keys: Vec<String>,
    out: &mut Discovery,
) {
    let objects = head_folder(store, scope, folder, keys).await;
    resolve_folder(store, scope, folder, objects, out).await;
}

/// The first half of [`discover_folder`]: the HEAD of every listed key (no content read).
pub(super) async fn head_folder(
    store: &dyn StoreRead,
    scope: &ExportScope,
    folder: &ConversationFolder,
    keys: Vec<String>,
) -> Vec<DiscoveredObject> {
    head_all(store, keys, &folder.prefix)
        .await
        .into_iter()
        .map(|(key, state)| {
            let mut object = DiscoveredObject::new(&scope.bucket, &key, state);
            object.conversation_id = Some(folder.conversation_id.clone());
            object
        })
        .collect()
}

/// The second half of [`discover_folder`]: read the metadata, resolve what it names, and note
/// missing and unreferenced files.
pub(super) async fn resolve_folder(
    store: &dyn StoreRead,
    scope: &ExportScope,
    folder: &ConversationFolder,
    mut objects: Vec<DiscoveredObject>,
    out: &mut Discovery,
) {
    let present: BTreeSet<String> = objects.iter().map(|o| o.key.clone()).collect();
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

pub(super) async fn discover_export_prefix(
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
