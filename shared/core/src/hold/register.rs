//! The matter register: which conversations each legal matter holds.
//! `{ "matters": [ { "id": "M-1", "conversations": ["..."] } ] }`, from a store or from disk.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use crate::store::StoreRead;

/// A register that cannot be used, naming where it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("matter register {source_name}: {problem}")]
pub struct RegisterError {
    pub source_name: String,
    pub problem: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MatterRegister {
    pub source_name: String,
    /// conversation id -> matter ids holding it, sorted.
    by_conversation: BTreeMap<String, BTreeSet<String>>,
    matter_count: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterDocument {
    matters: Vec<MatterDocument>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatterDocument {
    id: String,
    conversations: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
}

impl MatterRegister {
    pub fn from_json(source_name: &str, bytes: &[u8]) -> Result<MatterRegister, RegisterError> {
        let fail = |problem: String| RegisterError {
            source_name: source_name.to_string(),
            problem,
        };
        let doc: RegisterDocument = serde_json::from_slice(bytes).map_err(|e| {
            fail(format!(
                "expected {{\"matters\": [{{\"id\": ..., \"conversations\": [...]}}]}}: {e}"
            ))
        })?;
        let mut register = MatterRegister {
            source_name: source_name.to_string(),
            matter_count: doc.matters.len(),
            ..Default::default()
        };
        let mut seen = BTreeSet::new();
        for (i, matter) in doc.matters.into_iter().enumerate() {
            check_matter_id(&matter.id).map_err(|p| fail(format!("matters[{i}].id: {p}")))?;
            if !seen.insert(matter.id.clone()) {
                return Err(fail(format!(
                    "matters[{i}].id: {:?} appears twice",
                    matter.id
                )));
            }
            for (j, conversation) in matter.conversations.into_iter().enumerate() {
                if conversation.trim().is_empty() {
                    return Err(fail(format!("matters[{i}].conversations[{j}] is empty")));
                }
                register
                    .by_conversation
                    .entry(conversation)
                    .or_default()
                    .insert(matter.id.clone());
            }
        }
        Ok(register)
    }

    pub fn load_path(path: &Path) -> Result<MatterRegister, RegisterError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| RegisterError {
            source_name: name.clone(),
            problem: format!("cannot read: {e}"),
        })?;
        Self::from_json(&name, &bytes)
    }

    pub async fn load_store(
        store: &dyn StoreRead,
        key: &str,
    ) -> Result<MatterRegister, RegisterError> {
        let name = format!("{}/{key}", store.location());
        let bytes = store
            .get_bytes(key, None)
            .await
            .map_err(|e| RegisterError {
                source_name: name.clone(),
                problem: e.to_string(),
            })?;
        Self::from_json(&name, &bytes)
    }

    /// The matters holding a conversation, sorted (empty when none).
    pub fn matters_for(&self, conversation_id: &str) -> Vec<String> {
        self.by_conversation
            .get(conversation_id)
            .map(|m| m.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn matter_count(&self) -> usize {
        self.matter_count
    }
}

/// Matter ids end up in tag values and metadata headers: keep them to the characters S3 tag
/// values allow, without `+` (the separator when several matters hold one object).
fn check_matter_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.chars().count() > 128 {
        return Err(format!("{id:?} must be 1 to 128 characters"));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.:/=@".contains(*c)))
    {
        return Err(format!(
            "{id:?} contains {bad:?}; matter ids may use letters, digits and - _ . : / = @"
        ));
    }
    Ok(())
}

impl MatterRegister {
    /// Load from where the policy says: a path, or `s3://bucket/key` read through `store`, which
    /// the caller opens on that bucket.
    pub async fn load(
        location: &super::policy::RegisterLocation,
        store: Option<&dyn StoreRead>,
    ) -> Result<MatterRegister, RegisterError> {
        match location {
            super::policy::RegisterLocation::Path(path) => Self::load_path(path),
            super::policy::RegisterLocation::S3 { bucket, key } => match store {
                Some(store) if store.bucket() == bucket => Self::load_store(store, key).await,
                _ => Err(RegisterError {
                    source_name: format!("s3://{bucket}/{key}"),
                    problem: format!("no store opened on bucket {bucket}"),
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversations_map_to_their_matters() {
        let r = MatterRegister::from_json(
            "m.json",
            br#"{"matters":[{"id":"M-2","conversations":["c1","c2"]},{"id":"M-1","conversations":["c1"]}]}"#,
        )
        .unwrap();
        assert_eq!(r.matters_for("c1"), vec!["M-1", "M-2"]);
        assert_eq!(r.matters_for("c2"), vec!["M-2"]);
        assert!(r.matters_for("c3").is_empty());
        assert_eq!(r.matter_count(), 2);
    }

    #[test]
    fn bad_registers_say_where_and_what() {
        for (json, needle) in [
            (
                r#"{"matters":[{"id":"M 1","conversations":[]}]}"#,
                "matters[0].id",
            ),
            (r#"{"matters":[{"id":"A+B","conversations":[]}]}"#, "'+'"),
            (
                r#"{"matters":[{"id":"M","conversations":[]},{"id":"M","conversations":[]}]}"#,
                "twice",
            ),
            (
                r#"{"matters":[{"id":"M","conversations":[""]}]}"#,
                "conversations[0]",
            ),
            (r#"{"matter":[]}"#, "expected"),
        ] {
            let err = MatterRegister::from_json("reg.json", json.as_bytes()).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("reg.json") && text.contains(needle), "{text}");
        }
    }
}
