//! The export key layout:
//! `[root/]{organizationId}/year={yyyy}/month={mm}/day={dd}/hour={hh}/conversation_id={id}/{file}`.
//! A conversation folder holds each recording with its `*_metadata.json` sibling, and optionally
//! `<conversationId>.<ext>_call_metadata.json` and `<conversationId>-<communicationId>.transcript.json`.

/// One conversation folder of an export.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConversationFolder {
    /// Everything up to and including the trailing `/` of `conversation_id={id}/`.
    pub prefix: String,
    pub organization_id: String,
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub conversation_id: String,
}

/// A key inside a conversation folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportKey {
    pub folder: ConversationFolder,
    /// The part of the key after the folder prefix.
    pub file_name: String,
}

/// What a file in a conversation folder is, judged by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileRole {
    /// `<recordingId>.<ext>_metadata.json`: the metadata of one recording.
    RecordingMetadata,
    /// `<conversationId>.<ext>_call_metadata.json`.
    CallMetadata,
    /// `<conversationId>-<communicationId>.transcript.json`.
    Transcript,
    /// Anything else: a recording (voice, screen) or a chat/message/email transcript when some
    /// metadata names it; unreferenced otherwise.
    Media,
}

impl FileRole {
    pub fn of(file_name: &str) -> FileRole {
        if file_name.ends_with("_call_metadata.json") {
            FileRole::CallMetadata
        } else if file_name.ends_with("_metadata.json") {
            FileRole::RecordingMetadata
        } else if file_name.ends_with(".transcript.json") {
            FileRole::Transcript
        } else {
            FileRole::Media
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            FileRole::RecordingMetadata => "recording_metadata",
            FileRole::CallMetadata => "call_metadata",
            FileRole::Transcript => "transcript",
            FileRole::Media => "media",
        }
    }
}

/// The recording file a metadata file stands beside: its name without `_metadata.json`.
pub fn recording_name_of_metadata(metadata_file_name: &str) -> Option<&str> {
    metadata_file_name
        .strip_suffix("_metadata.json")
        .filter(|stem| !stem.is_empty() && !stem.ends_with('/'))
}

impl ExportKey {
    /// Parse a key of the export layout; `None` when the key is not inside a conversation folder.
    pub fn parse(key: &str) -> Option<ExportKey> {
        let folder_end = key.find("/conversation_id=").map(|at| at + 1)?;
        let after = &key[folder_end + "conversation_id=".len()..];
        let slash = after.find('/')?;
        let conversation_id = &after[..slash];
        let file_name = &after[slash + 1..];
        if conversation_id.is_empty() || file_name.is_empty() {
            return None;
        }
        let prefix_len = folder_end + "conversation_id=".len() + slash + 1;
        let mut parents = key[..folder_end - 1].rsplit('/');
        let hour = date_part(parents.next()?, "hour=", 0, 23)?;
        let day = date_part(parents.next()?, "day=", 1, 31)?;
        let month = date_part(parents.next()?, "month=", 1, 12)?;
        let year = date_part(parents.next()?, "year=", 1970, 9999)?;
        let organization_id = parents.next().filter(|org| !org.is_empty())?;
        Some(ExportKey {
            folder: ConversationFolder {
                prefix: key[..prefix_len].to_string(),
                organization_id: organization_id.to_string(),
                year: year as u16,
                month: month as u8,
                day: day as u8,
                hour: hour as u8,
                conversation_id: conversation_id.to_string(),
            },
            file_name: file_name.to_string(),
        })
    }

    pub fn role(&self) -> FileRole {
        FileRole::of(&self.file_name)
    }

    pub fn key(&self) -> String {
        format!("{}{}", self.folder.prefix, self.file_name)
    }
}

impl ConversationFolder {
    /// Parse a folder prefix (with or without its trailing `/`).
    pub fn parse(prefix: &str) -> Option<ConversationFolder> {
        let probe = format!("{}/probe", prefix.trim_end_matches('/'));
        ExportKey::parse(&probe).map(|k| k.folder)
    }

    pub fn key_of(&self, file_name: &str) -> String {
        format!("{}{file_name}", self.prefix)
    }
}

fn date_part(segment: &str, name: &str, min: u32, max: u32) -> Option<u32> {
    let digits = segment.strip_prefix(name)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|v| (min..=max).contains(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_layout() {
        let k = ExportKey::parse(
            "org-1/year=2023/month=08/day=29/hour=23/conversation_id=c-1/r-1.opus_metadata.json",
        )
        .unwrap();
        assert_eq!(k.folder.organization_id, "org-1");
        assert_eq!(
            (k.folder.year, k.folder.month, k.folder.day, k.folder.hour),
            (2023, 8, 29, 23)
        );
        assert_eq!(k.folder.conversation_id, "c-1");
        assert_eq!(
            k.folder.prefix,
            "org-1/year=2023/month=08/day=29/hour=23/conversation_id=c-1/"
        );
        assert_eq!(k.file_name, "r-1.opus_metadata.json");
        assert_eq!(k.role(), FileRole::RecordingMetadata);
        assert_eq!(
            k.key(),
            "org-1/year=2023/month=08/day=29/hour=23/conversation_id=c-1/r-1.opus_metadata.json"
        );
    }

    #[test]
    fn accepts_a_root_prefix_before_the_organization() {
        let k = ExportKey::parse(
            "exports/genesys/org/year=2024/month=1/day=2/hour=0/conversation_id=c/x.opus",
        )
        .unwrap();
        assert_eq!(k.folder.organization_id, "org");
        assert!(k.folder.prefix.starts_with("exports/genesys/org/"));
        assert_eq!(k.role(), FileRole::Media);
    }

    #[test]
    fn rejects_keys_outside_the_layout() {
        for key in [
            "org/year=2023/month=08/day=29/hour=23/conversation_id=c-1/",
            "org/year=2023/month=13/day=29/hour=23/conversation_id=c-1/a",
            "org/year=2023/month=08/day=29/hour=24/conversation_id=c-1/a",
            "org/year=20x3/month=08/day=29/hour=23/conversation_id=c-1/a",
            "year=2023/month=08/day=29/hour=23/conversation_id=c-1/a",
            "org/year=2023/month=08/day=29/conversation_id=c-1/a",
            "org/conversation_id=c-1/a",
            "manifests/run.json",
        ] {
            assert_eq!(ExportKey::parse(key), None, "{key}");
        }
    }

    #[test]
    fn classifies_files_by_name() {
        assert_eq!(
            FileRole::of("c.opus_call_metadata.json"),
            FileRole::CallMetadata
        );
        assert_eq!(
            FileRole::of("r.json_metadata.json"),
            FileRole::RecordingMetadata
        );
        assert_eq!(FileRole::of("c-k.transcript.json"), FileRole::Transcript);
        assert_eq!(FileRole::of("r.opus"), FileRole::Media);
        assert_eq!(
            recording_name_of_metadata("r-1.opus_metadata.json"),
            Some("r-1.opus")
        );
        assert_eq!(recording_name_of_metadata("_metadata.json"), None);
    }

    #[test]
    fn folder_parse_accepts_prefix_with_or_without_slash() {
        let a = ConversationFolder::parse("o/year=2024/month=02/day=03/hour=04/conversation_id=c")
            .unwrap();
        let b = ConversationFolder::parse("o/year=2024/month=02/day=03/hour=04/conversation_id=c/")
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.key_of("f"),
            "o/year=2024/month=02/day=03/hour=04/conversation_id=c/f"
        );
    }
}
