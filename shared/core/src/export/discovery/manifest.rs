//! Discovery from a manifest: exactly its entries, each pinned to the version it names.

use futures::{StreamExt, stream};

use super::super::layout::FileRole;
use super::super::manifest::{Manifest, ManifestEntry};

use super::super::scope::ExportScope;
use super::metadata_key::{read_call_metadata, read_recording_metadata};
use super::*;
use crate::store::StoreRead;

pub(super) async fn discover_manifest(
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
    read_metadata_of(store, objects, out).await;
}

/// The second half of manifest discovery: read the metadata files among `objects` (their
/// documents feed hold rules) and add every object to `out`.
pub(super) async fn read_metadata_of(
    store: &dyn StoreRead,
    objects: Vec<DiscoveredObject>,
    out: &mut Discovery,
) {
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

pub(super) async fn discover_entry(
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
