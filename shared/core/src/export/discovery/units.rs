//! Discovery in units, for the streaming ingest: the same objects [`discover`] finds, delivered
//! one *unit* at a time, so that a run holds one unit (and a few queued) rather than the export.
//!
//! A unit is the smallest set of objects whose discovery needs nothing outside it:
//!
//! | starting point | unit |
//! |---|---|
//! | metadata key, object arrival | the whole (small) discovery |
//! | conversation folder | that folder |
//! | export prefix | each conversation folder (its keys are contiguous in a key-ordered listing, read page by page), and batches of loose keys |
//! | manifest | whole conversations of entries, packed up to [`UNIT_MANIFEST_ENTRIES`]; the manifest's rejected entries go with the first unit |
//!
//! Metadata files name recordings only inside their own folder, and a hold rule that matches a
//! metadata field decides per conversation, so a unit never needs another unit's documents.
//!
//! A unit comes in two halves: the HEAD of every object ([`DiscoveryUnit::discovery`], no
//! content read), then [`DiscoveryUnit::complete`], which reads the metadata and resolves what it
//! names. A caller that finds every version of a unit already recorded skips the second half,
//! and so reads none of the unit's content.

use std::collections::{BTreeMap, HashMap};

use futures::{StreamExt, stream};
use tokio::sync::mpsc;

use super::super::layout::{ConversationFolder, ExportKey};
use super::super::manifest::{Manifest, ManifestEntry};
use super::super::scope::ExportScope;
use super::folder::{head_folder, resolve_folder};
use super::manifest::{discover_entry, read_metadata_of};
use super::*;
use crate::store::StoreRead;

/// Manifest entries one unit holds at most (a conversation is never split, so a unit holding
/// one large conversation may hold more).
pub const UNIT_MANIFEST_ENTRIES: usize = 1_000;

/// Keys one listing page asks for (S3's largest page).
const LIST_PAGE: usize = 1_000;

/// Loose keys (outside the folder layout) per unit.
const LOOSE_UNIT: usize = 500;

/// One unit of discovery: objects HEADed; [`DiscoveryUnit::complete`] finishes it.
#[derive(Debug)]
pub struct DiscoveryUnit {
    /// The unit's objects as HEAD found them (and, for a metadata key or an object's arrival,
    /// already complete).
    pub discovery: Discovery,
    /// For a manifest read in several units: this unit's number (from 1) and the count of
    /// units, which attestations name (`export-job:<id>#part-<n>-of-<count>`).
    pub part: Option<(usize, usize)>,
    rest: Rest,
}

#[derive(Debug)]
enum Rest {
    Done,
    Folder(ConversationFolder),
    ManifestMetadata,
}

impl DiscoveryUnit {
    fn done(discovery: Discovery) -> Self {
        DiscoveryUnit {
            discovery,
            part: None,
            rest: Rest::Done,
        }
    }

    /// The second half: read the unit's metadata, name its missing and unreferenced files.
    pub async fn complete(self, store: &dyn StoreRead, scope: &ExportScope) -> Discovery {
        let DiscoveryUnit {
            mut discovery,
            rest,
            ..
        } = self;
        match rest {
            Rest::Done => discovery,
            Rest::Folder(folder) => {
                let objects = std::mem::take(&mut discovery.objects);
                resolve_folder(store, scope, &folder, objects, &mut discovery).await;
                discovery
            }
            Rest::ManifestMetadata => {
                let objects = std::mem::take(&mut discovery.objects);
                read_metadata_of(store, objects, &mut discovery).await;
                discovery
            }
        }
    }
}

/// Discover `start` unit by unit into `sink`, in the order [`discover`] lists objects (a
/// manifest: by conversation). Stops early when the receiver is gone.
pub async fn discover_units(
    store: &dyn StoreRead,
    scope: &ExportScope,
    start: &StartingPoint,
    sink: &mpsc::Sender<DiscoveryUnit>,
) {
    let base = Discovery {
        location: store.location(),
        ..Default::default()
    };
    match start {
        StartingPoint::ConversationFolder(prefix) => {
            let mut unit = Discovery {
                source: prefix.clone(),
                ..base
            };
            let folder = match ConversationFolder::parse(prefix) {
                Some(folder) if refuse(scope, &folder.prefix).is_none() => folder,
                _ => {
                    // Refused as a whole: the one-shot discovery says why.
                    discover_folder_prefix(store, scope, prefix, &mut unit).await;
                    let _ = sink.send(DiscoveryUnit::done(unit)).await;
                    return;
                }
            };
            match store.list(&folder.prefix).await {
                Ok(listing) => {
                    let keys = listing.into_iter().map(|s| s.key).collect();
                    unit.objects = head_folder(store, scope, &folder, keys).await;
                    let _ = sink
                        .send(DiscoveryUnit {
                            discovery: unit,
                            part: None,
                            rest: Rest::Folder(folder),
                        })
                        .await;
                }
                Err(e) => {
                    unit.objects.push(DiscoveredObject::new(
                        &scope.bucket,
                        &folder.prefix,
                        ObjectState::Unreadable(e.with_key(&folder.prefix)),
                    ));
                    let _ = sink.send(DiscoveryUnit::done(unit)).await;
                }
            }
        }
        StartingPoint::ExportPrefix(prefix) => {
            let base = Discovery {
                source: prefix.clone(),
                ..base
            };
            export_prefix_units(store, scope, prefix, base, sink).await;
        }
        StartingPoint::Manifest(manifest) => {
            let base = Discovery {
                source: manifest.source_name.clone(),
                export_job_id: manifest.export_job_id.clone(),
                ..base
            };
            manifest_units(store, scope, manifest, base, sink).await;
        }
        StartingPoint::MetadataKey(_) | StartingPoint::ObjectArrived { .. } => {
            let _ = sink
                .send(DiscoveryUnit::done(discover(store, scope, start).await))
                .await;
        }
    }
}

async fn export_prefix_units(
    store: &dyn StoreRead,
    scope: &ExportScope,
    prefix: &str,
    base: Discovery,
    sink: &mpsc::Sender<DiscoveryUnit>,
) {
    let probe = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    let with = |objects: Vec<DiscoveredObject>| Discovery {
        objects,
        ..base.clone()
    };
    if !probe.starts_with(&scope.prefix) && !scope.prefix.starts_with(&probe) {
        let refused = refuse(scope, &probe).expect("outside the prefix");
        let object = DiscoveredObject::new(&scope.bucket, prefix, ObjectState::OutOfScope(refused));
        let _ = sink.send(DiscoveryUnit::done(with(vec![object]))).await;
        return;
    }
    // Never list above the export prefix.
    let list_prefix = if probe.len() < scope.prefix.len() {
        scope.prefix.clone()
    } else {
        probe
    };
    let mut after: Option<String> = None;
    let mut current: Option<(ConversationFolder, Vec<String>)> = None;
    let mut loose: Vec<String> = Vec::new();
    loop {
        let page = match store
            .list_page(&list_prefix, after.as_deref(), LIST_PAGE)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                let object = DiscoveredObject::new(
                    &scope.bucket,
                    &list_prefix,
                    ObjectState::Unreadable(e.with_key(&list_prefix)),
                );
                let _ = sink.send(DiscoveryUnit::done(with(vec![object]))).await;
                return;
            }
        };
        for summary in page.objects {
            if scope.check(&scope.bucket, &summary.key).is_err() {
                continue;
            }
            let Some(parsed) = ExportKey::parse(&summary.key) else {
                loose.push(summary.key);
                if loose.len() >= LOOSE_UNIT {
                    let keys = std::mem::take(&mut loose);
                    let unit = loose_unit(store, scope, keys, &list_prefix, with(Vec::new()));
                    if sink.send(unit.await).await.is_err() {
                        return;
                    }
                }
                continue;
            };
            if let Some((_, keys)) = current
                .as_mut()
                .filter(|(folder, _)| *folder == parsed.folder)
            {
                keys.push(summary.key);
                continue;
            }
            let finished = current.replace((parsed.folder, vec![summary.key]));
            if let Some((folder, keys)) = finished {
                let unit = folder_unit(store, scope, folder, keys, with(Vec::new()));
                if sink.send(unit.await).await.is_err() {
                    return;
                }
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    if let Some((folder, keys)) = current {
        let unit = folder_unit(store, scope, folder, keys, with(Vec::new())).await;
        if sink.send(unit).await.is_err() {
            return;
        }
    }
    if !loose.is_empty() {
        let unit = loose_unit(store, scope, loose, &list_prefix, with(Vec::new())).await;
        let _ = sink.send(unit).await;
    }
}

async fn folder_unit(
    store: &dyn StoreRead,
    scope: &ExportScope,
    folder: ConversationFolder,
    keys: Vec<String>,
    mut discovery: Discovery,
) -> DiscoveryUnit {
    discovery.objects = head_folder(store, scope, &folder, keys).await;
    DiscoveryUnit {
        discovery,
        part: None,
        rest: Rest::Folder(folder),
    }
}

async fn loose_unit(
    store: &dyn StoreRead,
    scope: &ExportScope,
    keys: Vec<String>,
    named_by: &str,
    mut discovery: Discovery,
) -> DiscoveryUnit {
    for (key, state) in head_all(store, keys, named_by).await {
        let mut object = DiscoveredObject::new(&scope.bucket, &key, state);
        object.notes.push(DiscoveryNote::Unreferenced {
            reason: "not inside a .../conversation_id=<id>/ folder of the export layout"
                .to_string(),
        });
        discovery.objects.push(object);
    }
    DiscoveryUnit::done(discovery)
}

/// The entries of a manifest grouped by conversation (the entry's, else its folder's; an entry
/// with neither is a group of its own), groups in order of first appearance, packed into units.
fn manifest_groups(manifest: &Manifest) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_conversation: HashMap<String, usize> = HashMap::new();
    for (n, entry) in manifest.entries.iter().enumerate() {
        let conversation = entry
            .conversation_id
            .clone()
            .or_else(|| ExportKey::parse(&entry.key).map(|k| k.folder.conversation_id));
        match conversation {
            Some(c) => match by_conversation.get(&c) {
                Some(&g) => groups[g].push(n),
                None => {
                    by_conversation.insert(c, groups.len());
                    groups.push(vec![n]);
                }
            },
            None => groups.push(vec![n]),
        }
    }
    let mut units: Vec<Vec<usize>> = Vec::new();
    for group in groups {
        match units.last_mut() {
            Some(unit) if unit.len() + group.len() <= UNIT_MANIFEST_ENTRIES => unit.extend(group),
            _ => units.push(group),
        }
    }
    units
}

async fn manifest_units(
    store: &dyn StoreRead,
    scope: &ExportScope,
    manifest: &Manifest,
    base: Discovery,
    sink: &mpsc::Sender<DiscoveryUnit>,
) {
    let units = manifest_groups(manifest);
    let count = units.len();
    if units.is_empty() {
        let unit = Discovery {
            rejected_entries: manifest.rejected.clone(),
            ..base
        };
        let _ = sink.send(DiscoveryUnit::done(unit)).await;
        return;
    }
    for (n, members) in units.into_iter().enumerate() {
        let entries: Vec<&ManifestEntry> = members.iter().map(|&i| &manifest.entries[i]).collect();
        let objects: Vec<DiscoveredObject> = stream::iter(entries)
            .map(|entry| discover_entry(store, scope, entry, &manifest.source_name))
            .buffered(DISCOVERY_CONCURRENCY)
            .collect()
            .await;
        let discovery = Discovery {
            objects,
            rejected_entries: if n == 0 {
                manifest.rejected.clone()
            } else {
                Vec::new()
            },
            documents: BTreeMap::new(),
            ..base.clone()
        };
        let unit = DiscoveryUnit {
            discovery,
            part: (count > 1).then_some((n + 1, count)),
            rest: Rest::ManifestMetadata,
        };
        if sink.send(unit).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(conversation: &str, n: usize) -> ManifestEntry {
        let key = format!(
            "org/year=2024/month=01/day=02/hour=03/conversation_id={conversation}/r{n}.opus"
        );
        ManifestEntry::new("b".to_string(), key, None)
    }

    #[test]
    fn manifest_units_keep_each_conversation_whole_and_stay_near_the_bound() {
        let mut manifest = Manifest::single("m", entry("c-0", 0));
        // c-1 interleaved with c-2: each conversation still lands in one unit.
        for n in 0..(UNIT_MANIFEST_ENTRIES - 2) {
            manifest
                .entries
                .push(entry(if n % 2 == 0 { "c-1" } else { "c-2" }, n));
        }
        for n in 0..10 {
            manifest.entries.push(entry("c-3", n));
        }
        manifest.entries.push(ManifestEntry::new(
            "b".to_string(),
            "loose.bin".to_string(),
            None,
        ));
        let units = manifest_groups(&manifest);
        let total: usize = units.iter().map(Vec::len).sum();
        assert_eq!(total, manifest.entries.len());
        let conversation_of =
            |i: usize| ExportKey::parse(&manifest.entries[i].key).map(|k| k.folder.conversation_id);
        for conversation in ["c-0", "c-1", "c-2", "c-3"] {
            let holding: Vec<usize> = units
                .iter()
                .enumerate()
                .filter(|(_, u)| {
                    u.iter()
                        .any(|&i| conversation_of(i).as_deref() == Some(conversation))
                })
                .map(|(n, _)| n)
                .collect();
            assert_eq!(holding.len(), 1, "{conversation} in units {holding:?}");
        }
        assert_eq!(units.len(), 2, "c-0, c-1, c-2 fill the first unit");
        assert!(units.iter().all(|u| u.len() <= UNIT_MANIFEST_ENTRIES));
    }
}
