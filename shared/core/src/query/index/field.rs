//! The fields the query index knows, and the values a record gives each (`docs/query.md`).
//!
//! | field | values of one record |
//! |---|---|
//! | `conversation` | `why.conversation_id` |
//! | `recording` | `why.recording_id` |
//! | `folder` | every prefix of `what.key` that ends in `/` (`org/`, `org/year=2024/`, …); a key without `/` is its own value |
//! | `matter` | each of the `+`-joined matters of `why.matter` |
//! | `event` | `event` (`hashed`, `hold_applied`, …) |
//! | `day` | the UTC date of `at`, `YYYY-MM-DD` |
//!
//! A query by exact key uses the folder the key is in; by key prefix, the deepest folder the
//! prefix names (a prefix without `/` cannot use the index); by time, the days of the range.

use std::fmt;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::ledger::CustodyRecord;

/// An indexed field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Conversation,
    Recording,
    Folder,
    Matter,
    Event,
    Day,
}

impl Field {
    pub const ALL: [Field; 6] = [
        Field::Conversation,
        Field::Recording,
        Field::Folder,
        Field::Matter,
        Field::Event,
        Field::Day,
    ];

    /// The name used in keys and postings.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Conversation => "conversation",
            Field::Recording => "recording",
            Field::Folder => "folder",
            Field::Matter => "matter",
            Field::Event => "event",
            Field::Day => "day",
        }
    }

    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// Whether `record` gives this field the value `value`: the check a posting must pass.
    pub fn holds(self, record: &CustodyRecord, value: &str) -> bool {
        values_of(self, record).iter().any(|v| v == value)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The values `record` gives `field` (none, one or several).
pub fn values_of(field: Field, record: &CustodyRecord) -> Vec<String> {
    match field {
        Field::Conversation => record.why.conversation_id.iter().cloned().collect(),
        Field::Recording => record.why.recording_id.iter().cloned().collect(),
        Field::Folder => folders_of(&record.what.key),
        Field::Matter => record.why.matters(),
        Field::Event => vec![record.event.as_str().to_string()],
        Field::Day => day_of(&record.at).into_iter().collect(),
    }
}

/// Every `(field, value)` pair of a record, without repeats.
pub fn index_values(record: &CustodyRecord) -> Vec<(Field, String)> {
    let mut all: Vec<(Field, String)> = Field::ALL
        .into_iter()
        .flat_map(|f| values_of(f, record).into_iter().map(move |v| (f, v)))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    all.sort();
    all.dedup();
    all
}

/// The folders a key is in: each prefix ending in `/` (the key itself when it ends in `/`); a
/// key without `/` is its own value.
pub fn folders_of(key: &str) -> Vec<String> {
    if !key.contains('/') {
        return vec![key.to_string()];
    }
    key.match_indices('/')
        .map(|(i, _)| key[..=i].to_string())
        .collect()
}

/// The folder value an exact key is found under.
pub fn folder_of_key(key: &str) -> String {
    match key.rfind('/') {
        Some(i) => key[..=i].to_string(),
        None => key.to_string(),
    }
}

/// The deepest folder a key prefix names, when it names one.
pub fn folder_of_prefix(prefix: &str) -> Option<String> {
    prefix.rfind('/').map(|i| prefix[..=i].to_string())
}

/// The UTC day of an RFC 3339 time, `YYYY-MM-DD`.
pub fn day_of(at: &str) -> Option<String> {
    DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.with_timezone(&Utc).format("%Y-%m-%d").to_string())
}

/// The hash naming a value's postings: the first 32 hex digits of SHA-256 of the value.
pub fn value_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_every_slash_prefix() {
        assert_eq!(
            folders_of("org/year=2024/conversation_id=c/r.opus"),
            vec!["org/", "org/year=2024/", "org/year=2024/conversation_id=c/"]
        );
        assert_eq!(folders_of("org/a/"), vec!["org/", "org/a/"]);
        assert_eq!(folders_of("export-job:j-1"), vec!["export-job:j-1"]);
        assert_eq!(folder_of_key("org/a/r.opus"), "org/a/");
        assert_eq!(folder_of_key("export-job:j-1"), "export-job:j-1");
        assert_eq!(folder_of_prefix("org/a/r"), Some("org/a/".to_string()));
        assert_eq!(folder_of_prefix("org"), None);
    }

    #[test]
    fn days_are_utc() {
        assert_eq!(
            day_of("2024-05-01T23:30:00.000-02:00").as_deref(),
            Some("2024-05-02")
        );
        assert_eq!(day_of("yesterday"), None);
    }

    #[test]
    fn value_hashes_are_stable() {
        assert_eq!(value_hash(""), "e3b0c44298fc1c149afbf4c8996fb924");
        assert_eq!(value_hash("c-1").len(), 32);
    }
}
