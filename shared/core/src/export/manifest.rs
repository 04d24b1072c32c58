//! Batch manifests: the project's own JSON manifest (see `docs/manifest.md`) and S3 Batch
//! Operations CSV manifests (`Bucket,Key[,VersionId]`, URL-encoded keys). A bad entry is
//! reported with its position and never stops the other entries.

use serde::{Deserialize, Serialize};

use super::s3_keys::decode_s3_url_key;

pub const MANIFEST_FORMAT: &str = "custody-manifest/1";

/// One object a manifest asks the tagger to process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestEntry {
    pub bucket: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Expected size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Expected SHA-256, lower-case hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_id: Option<String>,
    /// `true`: hold this object; `false`: observe it only; absent: the hold policy decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<bool>,
}

impl ManifestEntry {
    pub fn new(
        bucket: impl Into<String>,
        key: impl Into<String>,
        version_id: Option<String>,
    ) -> Self {
        ManifestEntry {
            bucket: bucket.into(),
            key: key.into(),
            version_id,
            size: None,
            sha256: None,
            conversation_id: None,
            recording_id: None,
            hold: None,
        }
    }
}

/// An entry that could not be read, with where it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {position}: {problem}")]
pub struct ManifestEntryError {
    pub source_name: String,
    /// `entries[3]` or `line 4`.
    pub position: String,
    pub problem: String,
}

/// A manifest that could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {problem}")]
pub struct ManifestError {
    pub source_name: String,
    pub problem: String,
}

/// A parsed manifest: the usable entries and the rejected ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    /// Where the manifest came from (`s3://bucket/key` or a path), for messages and records.
    pub source_name: String,
    pub export_job_id: Option<String>,
    pub entries: Vec<ManifestEntry>,
    pub rejected: Vec<ManifestEntryError>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ManifestDocument {
    format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    export_job_id: Option<String>,
    entries: Vec<serde_json::Value>,
}

impl Manifest {
    /// A manifest of one object (an S3 event or one S3 Batch Operations task).
    pub fn single(source_name: impl Into<String>, entry: ManifestEntry) -> Manifest {
        Manifest {
            source_name: source_name.into(),
            export_job_id: None,
            entries: vec![entry],
            rejected: Vec::new(),
        }
    }

    /// Parse the project's JSON manifest (`format: "custody-manifest/1"`).
    pub fn from_json(source_name: &str, bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let fail = |problem: String| ManifestError {
            source_name: source_name.to_string(),
            problem,
        };
        let doc: ManifestDocument = serde_json::from_slice(bytes)
            .map_err(|e| fail(format!("not a custody manifest: {e}")))?;
        if doc.format != MANIFEST_FORMAT {
            return Err(fail(format!(
                "format {:?} is not {MANIFEST_FORMAT:?}",
                doc.format
            )));
        }
        let mut manifest = Manifest {
            source_name: source_name.to_string(),
            export_job_id: doc.export_job_id,
            ..Default::default()
        };
        for (i, value) in doc.entries.into_iter().enumerate() {
            let position = format!("entries[{i}]");
            match serde_json::from_value::<ManifestEntry>(value)
                .map_err(|e| e.to_string())
                .and_then(normalize_entry)
            {
                Ok(entry) => manifest.entries.push(entry),
                Err(problem) => manifest.rejected.push(ManifestEntryError {
                    source_name: source_name.to_string(),
                    position,
                    problem,
                }),
            }
        }
        Ok(manifest)
    }

    /// Parse an S3 Batch Operations CSV manifest: `Bucket,Key[,VersionId]` per line, keys
    /// URL-encoded, no header; fields may be double-quoted.
    pub fn from_batch_csv(source_name: &str, text: &str) -> Manifest {
        let mut manifest = Manifest {
            source_name: source_name.to_string(),
            ..Default::default()
        };
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            match parse_csv_line(line).and_then(csv_entry) {
                Ok(entry) => manifest.entries.push(entry),
                Err(problem) => manifest.rejected.push(ManifestEntryError {
                    source_name: source_name.to_string(),
                    position: format!("line {}", i + 1),
                    problem,
                }),
            }
        }
        manifest
    }

    /// The JSON text of this manifest in the project's format (rejected entries are not written).
    pub fn to_json(&self) -> String {
        let doc = ManifestDocument {
            format: MANIFEST_FORMAT.to_string(),
            export_job_id: self.export_job_id.clone(),
            entries: self
                .entries
                .iter()
                .map(|e| serde_json::to_value(e).expect("entries serialize"))
                .collect(),
        };
        serde_json::to_string_pretty(&doc).expect("manifest serializes")
    }
}

fn normalize_entry(mut entry: ManifestEntry) -> Result<ManifestEntry, String> {
    if entry.bucket.is_empty() {
        return Err("field \"bucket\" is empty".into());
    }
    if entry.key.is_empty() {
        return Err("field \"key\" is empty".into());
    }
    if entry.version_id.as_deref() == Some("") {
        entry.version_id = None;
    }
    if let Some(sha) = &entry.sha256 {
        let lower = sha.to_ascii_lowercase();
        if lower.len() != 64 || !lower.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("field \"sha256\": {sha:?} is not 64 hex digits"));
        }
        entry.sha256 = Some(lower);
    }
    Ok(entry)
}

fn csv_entry(fields: Vec<String>) -> Result<ManifestEntry, String> {
    if !(2..=3).contains(&fields.len()) {
        return Err(format!(
            "expected Bucket,Key[,VersionId], found {} fields",
            fields.len()
        ));
    }
    let key = decode_s3_url_key(&fields[1]).map_err(|e| format!("Key: {e}"))?;
    let version = fields.get(2).filter(|v| !v.is_empty()).cloned();
    normalize_entry(ManifestEntry::new(fields[0].clone(), key, version))
}

fn parse_csv_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("unterminated quoted field".into()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(c) => return Err(format!("unexpected {c:?} after a quoted field")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_manifest_round_trips_and_rejects_bad_entries_alone() {
        let text = r#"{
          "format": "custody-manifest/1",
          "exportJobId": "job-7",
          "entries": [
            {"bucket":"b","key":"k 1","versionId":"v1","size":10,
             "sha256":"AB00000000000000000000000000000000000000000000000000000000000000",
             "conversationId":"c","recordingId":"r","hold":true},
            {"bucket":"b","key":"k2","versionID":"typo"},
            {"bucket":"b","key":"k3","sha256":"xyz"},
            {"bucket":"b","key":"k4"}
          ]}"#;
        let m = Manifest::from_json("s3://b/m.json", text.as_bytes()).unwrap();
        assert_eq!(m.export_job_id.as_deref(), Some("job-7"));
        assert_eq!(m.entries.len(), 2);
        assert_eq!(m.entries[0].sha256.as_deref().unwrap()[..2], *"ab");
        assert_eq!(m.rejected.len(), 2);
        assert_eq!(m.rejected[0].position, "entries[1]");
        assert!(m.rejected[0].problem.contains("versionID"));
        assert!(m.rejected[1].to_string().contains("sha256"));
        let again = Manifest::from_json("x", m.to_json().as_bytes()).unwrap();
        assert_eq!(again.entries, m.entries);
    }

    #[test]
    fn json_manifest_needs_its_format_marker() {
        let err = Manifest::from_json("m.json", br#"{"format":"other","entries":[]}"#).unwrap_err();
        assert!(err.to_string().contains("m.json") && err.problem.contains("other"));
        assert!(Manifest::from_json("m.json", b"[]").is_err());
    }

    #[test]
    fn batch_csv_decodes_keys_and_reports_bad_lines() {
        let text = "exports,org/conversation_id%3Dc/a+b%2Bc.opus,v-1\r\n\
                    exports,plain.json\n\
                    \n\
                    \"exports\",\"quoted%2C key\",\n\
                    exports,bad%zz\n\
                    only-one-field\n";
        let m = Manifest::from_batch_csv("batch.csv", text);
        assert_eq!(m.entries.len(), 3);
        assert_eq!(m.entries[0].key, "org/conversation_id=c/a b+c.opus");
        assert_eq!(m.entries[0].version_id.as_deref(), Some("v-1"));
        assert_eq!(m.entries[1].version_id, None);
        assert_eq!(m.entries[2].key, "quoted, key");
        assert_eq!(m.rejected.len(), 2);
        assert_eq!(m.rejected[0].position, "line 5");
        assert_eq!(m.rejected[1].position, "line 6");
    }
}
