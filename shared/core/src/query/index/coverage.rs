//! How far the index reaches: the newest block `W` such that blocks `0..=W` are all indexed.
//! Found from the hint `query/covered.json`, which is never believed blindly: the marker of `W`
//! must exist and name block `W`'s header hash (read from the block with one ranged read).
//! Without a usable hint, the markers are listed and the first gap found. Then markers after
//! `W` are probed one by one (the blocks the writer indexed since the hint was written).
//!
//! What this cannot see: a marker or a posting deleted *below* `W`. Such a deletion hides
//! records from indexed queries until a scan (`docs/query.md`).

use serde::Serialize;

use crate::ledger::Layout;
use crate::store::{StoreErrorKind, StoreRead};

use super::error::QueryIndexError;
use super::header::read_header;
use super::keys::IndexKeys;
use super::marker::{CoveredHint, Marker};

/// How far the index reaches, and why a hint was not used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Blocks `0..=covered` are indexed; `None`: none is.
    pub covered: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What the marker of one block says, once checked against the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerCheck {
    Missing,
    Holds(Marker),
    /// The marker exists but does not describe the block (or the block is gone).
    Wrong(String),
}

/// The marker of `block`, checked against the block's header.
pub async fn check_marker(
    store: &dyn StoreRead,
    layout: &Layout,
    block: u64,
) -> Result<MarkerCheck, QueryIndexError> {
    let keys = IndexKeys::new(layout);
    let key = keys.marker(block);
    let bytes = match store.get_bytes(&key, None).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind == StoreErrorKind::NotFound => return Ok(MarkerCheck::Missing),
        Err(e) => return Err(e.into()),
    };
    let marker = match Marker::parse(&key, &bytes) {
        Ok(marker) => marker,
        Err(e) => return Ok(MarkerCheck::Wrong(e.to_string())),
    };
    if marker.block != block {
        return Ok(MarkerCheck::Wrong(format!(
            "index marker {key}: field block is {}",
            marker.block
        )));
    }
    let Some((header, hash)) = read_header(store, layout, block).await? else {
        return Ok(MarkerCheck::Wrong(format!(
            "index marker {key}: block {block} does not exist"
        )));
    };
    if hash != marker.header_sha256
        || header.first_leaf != marker.first_leaf
        || header.count != marker.count
    {
        return Ok(MarkerCheck::Wrong(format!(
            "index marker {key} does not describe block {block} (header hash {hash}, marker \
             says {})",
            marker.header_sha256
        )));
    }
    Ok(MarkerCheck::Holds(marker))
}

async fn marker_exists(store: &dyn StoreRead, key: &str) -> Result<bool, QueryIndexError> {
    match store.head(key, None).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind == StoreErrorKind::NotFound => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// How far the index of the ledger reaches, given its newest block `head`.
pub async fn coverage(
    store: &dyn StoreRead,
    layout: &Layout,
    head: Option<u64>,
) -> Result<Coverage, QueryIndexError> {
    let Some(head) = head else {
        return Ok(Coverage {
            covered: None,
            notes: Vec::new(),
        });
    };
    let keys = IndexKeys::new(layout);
    let mut notes = Vec::new();
    let hint = match store.get_bytes(&keys.covered_hint(), None).await {
        Ok(bytes) => match serde_json::from_slice::<CoveredHint>(&bytes) {
            Ok(hint) => Some(hint.block),
            Err(e) => {
                notes.push(format!("{} is not a hint: {e}", keys.covered_hint()));
                None
            }
        },
        Err(e) if e.kind == StoreErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let mut start = None;
    if let Some(w) = hint {
        if w > head {
            notes.push(format!(
                "{} names block {w}, beyond the newest block {head}",
                keys.covered_hint()
            ));
        } else {
            match check_marker(store, layout, w).await? {
                MarkerCheck::Holds(_) => start = Some(w),
                MarkerCheck::Missing => notes.push(format!(
                    "{} names block {w}, whose marker is missing",
                    keys.covered_hint()
                )),
                MarkerCheck::Wrong(why) => notes.push(why),
            }
        }
    }
    let Some(start) = start else {
        return Ok(Coverage {
            covered: listed_coverage(store, layout, &keys, head, &mut notes).await?,
            notes,
        });
    };
    // Blocks indexed since the hint: probe the markers after it.
    let mut next = start + 1;
    while next <= head && marker_exists(store, &keys.marker(next)).await? {
        next += 1;
    }
    let reached = next - 1;
    let covered = if reached == start {
        start
    } else {
        match check_marker(store, layout, reached).await? {
            MarkerCheck::Holds(_) => reached,
            MarkerCheck::Missing => start,
            MarkerCheck::Wrong(why) => {
                notes.push(why);
                start
            }
        }
    };
    Ok(Coverage {
        covered: Some(covered),
        notes,
    })
}

/// Without a usable hint: the markers are listed, the first gap found, and the newest marker
/// before it checked against its block (stepping back over a few that do not hold).
async fn listed_coverage(
    store: &dyn StoreRead,
    layout: &Layout,
    keys: &IndexKeys,
    head: u64,
    notes: &mut Vec<String>,
) -> Result<Option<u64>, QueryIndexError> {
    const STEPS_BACK: u64 = 3;
    let mut indexed: Vec<u64> = store
        .list(&keys.markers_prefix())
        .await?
        .iter()
        .filter_map(|o| keys.marker_block(&o.key))
        .filter(|&b| b <= head)
        .collect();
    indexed.sort_unstable();
    let Some(contiguous) = indexed
        .iter()
        .enumerate()
        .take_while(|(i, b)| *i as u64 == **b)
        .last()
        .map(|(_, b)| *b)
    else {
        return Ok(None);
    };
    for candidate in (contiguous.saturating_sub(STEPS_BACK)..=contiguous).rev() {
        match check_marker(store, layout, candidate).await? {
            MarkerCheck::Holds(_) => return Ok(Some(candidate)),
            MarkerCheck::Missing => {}
            MarkerCheck::Wrong(why) => notes.push(why),
        }
    }
    Ok(None)
}
