//! The marks themselves, as pure functions: the tag set and the user metadata an object should
//! carry, merged with what it already has. Nothing here talks to a store.

use std::collections::{BTreeMap, BTreeSet};

use crate::store::Tag;

pub const TAG_LEGAL_HOLD: &str = "legal-hold";
pub const TAG_LEGAL_HOLD_MATTER: &str = "legal-hold-matter";
pub const META_LEGAL_HOLD: &str = "legal-hold";
pub const META_LEGAL_HOLD_MATTER: &str = "legal-hold-matter";
pub const META_LEGAL_HOLD_APPLIED_AT: &str = "legal-hold-applied-at";
/// The version a metadata copy was made from: lets a later run recognise its own copy.
pub const META_LEGAL_HOLD_SOURCE_VERSION: &str = "legal-hold-source-version";

/// S3 allows at most 10 tags per object version.
pub const MAX_TAGS: usize = 10;
/// S3 limits user metadata to 2 KB (keys and values, UTF-8 bytes).
pub const MAX_USER_METADATA_BYTES: usize = 2048;
/// Several matters holding one object are joined with this in tag values and metadata.
pub const MATTER_SEPARATOR: char = '+';

/// What a mark needs: nothing, or the complete new set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge<T> {
    AlreadyPresent,
    Write(T),
}

fn merged_matters(existing: Option<&str>, matters: &[String]) -> (String, bool) {
    let mut all: BTreeSet<String> = existing
        .unwrap_or("")
        .split(MATTER_SEPARATOR)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    let before = all.len();
    all.extend(matters.iter().cloned());
    let grew = all.len() != before;
    (all.into_iter().collect::<Vec<_>>().join("+"), grew)
}

/// The object's tags with `legal-hold=true` and (when matters hold it) `legal-hold-matter`
/// merged in. The object's own tags are all kept; when the result would exceed S3's 10-tag limit
/// (or a value its 256-character limit) nothing is written and the error says why.
pub fn merge_hold_tags(existing: &[Tag], matters: &[String]) -> Result<Merge<Vec<Tag>>, String> {
    let mut tags: BTreeMap<String, String> = existing
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    let mut changed = tags.get(TAG_LEGAL_HOLD).map(String::as_str) != Some("true");
    tags.insert(TAG_LEGAL_HOLD.to_string(), "true".to_string());
    if !matters.is_empty() {
        let (value, grew) =
            merged_matters(tags.get(TAG_LEGAL_HOLD_MATTER).map(String::as_str), matters);
        if value.chars().count() > 256 {
            return Err(format!(
                "tag {TAG_LEGAL_HOLD_MATTER} would be {} characters ({value}), over S3's 256-character limit; no tag was changed",
                value.chars().count()
            ));
        }
        changed |= grew;
        tags.insert(TAG_LEGAL_HOLD_MATTER.to_string(), value);
    }
    if !changed {
        return Ok(Merge::AlreadyPresent);
    }
    if tags.len() > MAX_TAGS {
        let own: Vec<&str> = existing
            .iter()
            .map(|t| t.key.as_str())
            .filter(|k| *k != TAG_LEGAL_HOLD && *k != TAG_LEGAL_HOLD_MATTER)
            .collect();
        return Err(format!(
            "the object already has {} tags of its own ({}); adding the hold tags would make {}, over S3's limit of {MAX_TAGS}; no tag was changed",
            own.len(),
            own.join(", "),
            tags.len()
        ));
    }
    // Keep the object's own tags in their original order, hold tags after them.
    let mut out: Vec<Tag> = existing
        .iter()
        .filter(|t| t.key != TAG_LEGAL_HOLD && t.key != TAG_LEGAL_HOLD_MATTER)
        .cloned()
        .collect();
    for key in [TAG_LEGAL_HOLD, TAG_LEGAL_HOLD_MATTER] {
        if let Some(value) = tags.get(key) {
            out.push(Tag::new(key, value.clone()));
        }
    }
    Ok(Merge::Write(out))
}

/// Whether user metadata already carries the hold for these matters.
pub fn metadata_has_hold(metadata: &BTreeMap<String, String>, matters: &[String]) -> bool {
    metadata.get(META_LEGAL_HOLD).map(String::as_str) == Some("true")
        && !merged_matters(
            metadata.get(META_LEGAL_HOLD_MATTER).map(String::as_str),
            matters,
        )
        .1
}

/// The complete new user metadata for the in-place copy: every existing entry kept, the hold
/// entries set. `applied_at` is kept from an earlier marking when there is one.
pub fn merge_hold_metadata(
    existing: &BTreeMap<String, String>,
    matters: &[String],
    applied_at: &str,
    source_version: Option<&str>,
) -> Result<Merge<BTreeMap<String, String>>, String> {
    if metadata_has_hold(existing, matters) {
        return Ok(Merge::AlreadyPresent);
    }
    let mut metadata = existing.clone();
    metadata.insert(META_LEGAL_HOLD.to_string(), "true".to_string());
    let (value, _) = merged_matters(
        existing.get(META_LEGAL_HOLD_MATTER).map(String::as_str),
        matters,
    );
    if !value.is_empty() {
        metadata.insert(META_LEGAL_HOLD_MATTER.to_string(), value);
    }
    metadata
        .entry(META_LEGAL_HOLD_APPLIED_AT.to_string())
        .or_insert_with(|| applied_at.to_string());
    if let Some(version) = source_version {
        metadata.insert(
            META_LEGAL_HOLD_SOURCE_VERSION.to_string(),
            version.to_string(),
        );
    }
    let bytes: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_USER_METADATA_BYTES {
        return Err(format!(
            "user metadata would be {bytes} bytes with the hold entries, over S3's {MAX_USER_METADATA_BYTES}-byte limit; the object was not copied"
        ));
    }
    Ok(Merge::Write(metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<Tag> {
        pairs.iter().map(|(k, v)| Tag::new(*k, *v)).collect()
    }

    #[test]
    fn hold_tags_merge_into_the_existing_set() {
        let merged = merge_hold_tags(&tags(&[("team", "sales")]), &["M-1".into()]).unwrap();
        assert_eq!(
            merged,
            Merge::Write(tags(&[
                ("team", "sales"),
                ("legal-hold", "true"),
                ("legal-hold-matter", "M-1")
            ]))
        );
        let again = merge_hold_tags(
            &tags(&[
                ("team", "sales"),
                ("legal-hold", "true"),
                ("legal-hold-matter", "M-1"),
            ]),
            &["M-1".into()],
        )
        .unwrap();
        assert_eq!(again, Merge::AlreadyPresent);
        let more = merge_hold_tags(
            &tags(&[("legal-hold", "true"), ("legal-hold-matter", "M-1")]),
            &["M-2".into()],
        )
        .unwrap();
        assert_eq!(
            more,
            Merge::Write(tags(&[
                ("legal-hold", "true"),
                ("legal-hold-matter", "M-1+M-2")
            ]))
        );
        assert_eq!(
            merge_hold_tags(&tags(&[("legal-hold", "false")]), &[]).unwrap(),
            Merge::Write(tags(&[("legal-hold", "true")]))
        );
    }

    #[test]
    fn too_many_tags_is_an_error_that_changes_nothing() {
        let nine: Vec<Tag> = (0..9).map(|i| Tag::new(format!("k{i}"), "v")).collect();
        assert!(matches!(merge_hold_tags(&nine, &[]), Ok(Merge::Write(t)) if t.len() == 10));
        let err = merge_hold_tags(&nine, &["M-1".into()]).unwrap_err();
        assert!(
            err.contains("9 tags") && err.contains("k0") && err.contains("11"),
            "{err}"
        );
    }

    #[test]
    fn metadata_keeps_old_entries_and_earlier_timestamp() {
        let mut old = BTreeMap::new();
        old.insert("owner".to_string(), "qm".to_string());
        let Merge::Write(new) =
            merge_hold_metadata(&old, &["M-1".into()], "2024-01-01T00:00:00Z", Some("v0")).unwrap()
        else {
            panic!("expected a write")
        };
        assert_eq!(new["owner"], "qm");
        assert_eq!(new[META_LEGAL_HOLD], "true");
        assert_eq!(new[META_LEGAL_HOLD_MATTER], "M-1");
        assert_eq!(new[META_LEGAL_HOLD_SOURCE_VERSION], "v0");
        assert_eq!(
            merge_hold_metadata(&new, &["M-1".into()], "later", None).unwrap(),
            Merge::AlreadyPresent
        );
        let Merge::Write(newer) =
            merge_hold_metadata(&new, &["M-2".into()], "later", Some("v1")).unwrap()
        else {
            panic!("expected a write")
        };
        assert_eq!(newer[META_LEGAL_HOLD_MATTER], "M-1+M-2");
        assert_eq!(newer[META_LEGAL_HOLD_APPLIED_AT], "2024-01-01T00:00:00Z");
    }

    #[test]
    fn metadata_over_two_kilobytes_is_refused() {
        let mut old = BTreeMap::new();
        old.insert("notes".to_string(), "x".repeat(2040));
        let err = merge_hold_metadata(&old, &[], "now", None).unwrap_err();
        assert!(err.contains("2048"), "{err}");
    }
}
