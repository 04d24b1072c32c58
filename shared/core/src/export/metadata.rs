//! The JSON metadata Genesys writes beside each exported recording, parsed tolerantly: the
//! documented fields are typed, everything else is kept as it came. Errors name the file, the
//! field and the problem.

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Map, Value};

/// A metadata file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {}{problem}", field.as_deref().map(|f| format!("field {f:?}: ")).unwrap_or_default())]
pub struct MetadataError {
    /// The metadata object's key (or path).
    pub key: String,
    pub field: Option<String>,
    pub problem: String,
}

impl MetadataError {
    fn field(key: &str, field: &str, problem: impl Into<String>) -> Self {
        MetadataError {
            key: key.to_string(),
            field: Some(field.to_string()),
            problem: problem.into(),
        }
    }
}

/// The media type of the interaction (`mediaType` in the export's JSON schema).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaType {
    Call,
    Chat,
    Email,
    Message,
    Callback,
    Screen,
    /// A value the documented schema does not list, kept as written.
    Other(String),
}

impl MediaType {
    fn parse(value: &str) -> MediaType {
        match value.to_ascii_lowercase().as_str() {
            "call" | "voice" => MediaType::Call,
            "chat" => MediaType::Chat,
            "email" => MediaType::Email,
            "message" => MediaType::Message,
            "callback" => MediaType::Callback,
            "screen" => MediaType::Screen,
            _ => MediaType::Other(value.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            MediaType::Call => "Call",
            MediaType::Chat => "Chat",
            MediaType::Email => "Email",
            MediaType::Message => "Message",
            MediaType::Callback => "Callback",
            MediaType::Screen => "Screen",
            MediaType::Other(other) => other,
        }
    }
}

/// One recording's `*_metadata.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingMetadata {
    pub conversation_id: String,
    pub recording_id: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub duration_ms: Option<u64>,
    pub initial_direction: Option<String>,
    pub media_type: Option<MediaType>,
    pub media_subtype: Option<String>,
    pub provider: Option<String>,
    pub user_ids: Vec<String>,
    /// Every field not typed above, as it came.
    pub extra: Map<String, Value>,
    /// The whole document, for field-match hold rules.
    pub raw: Value,
}

/// A conversation's `*_call_metadata.json`: only the conversation id is typed.
#[derive(Debug, Clone, PartialEq)]
pub struct CallMetadata {
    pub conversation_id: Option<String>,
    pub raw: Value,
}

const TYPED_FIELDS: &[&str] = &[
    "conversationId",
    "recordingId",
    "startTime",
    "endTime",
    "durationMs",
    "initialDirection",
    "mediaType",
    "mediaSubtype",
    "provider",
    "userIds",
];

impl RecordingMetadata {
    /// Parse the metadata stored at `key`. `folder_conversation_id` is the conversation id of the
    /// folder the file sits in: it fills a missing `conversationId` and must agree with a present one.
    pub fn parse(
        key: &str,
        bytes: &[u8],
        folder_conversation_id: Option<&str>,
    ) -> Result<RecordingMetadata, MetadataError> {
        let raw = parse_object(key, bytes)?;
        let object = raw.as_object().expect("parse_object returns an object");
        let conversation_id = match (
            opt_string(key, object, "conversationId")?,
            folder_conversation_id,
        ) {
            (Some(id), Some(folder)) if id != folder => {
                return Err(MetadataError::field(
                    key,
                    "conversationId",
                    format!("{id:?} disagrees with the folder's conversation_id={folder}"),
                ));
            }
            (Some(id), _) => id,
            (None, Some(folder)) => folder.to_string(),
            (None, None) => {
                return Err(MetadataError::field(
                    key,
                    "conversationId",
                    "missing, and the key is not inside a conversation_id= folder",
                ));
            }
        };
        let start_time = opt_time(key, object, "startTime")?;
        let end_time = opt_time(key, object, "endTime")?;
        if let (Some(start), Some(end)) = (start_time, end_time)
            && end < start
        {
            return Err(MetadataError::field(
                key,
                "endTime",
                format!("{end} is before startTime {start}"),
            ));
        }
        let extra = object
            .iter()
            .filter(|(name, _)| !TYPED_FIELDS.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        Ok(RecordingMetadata {
            conversation_id,
            recording_id: opt_string(key, object, "recordingId")?,
            start_time,
            end_time,
            duration_ms: opt_u64(key, object, "durationMs")?,
            initial_direction: opt_string(key, object, "initialDirection")?,
            media_type: opt_string(key, object, "mediaType")?.map(|v| MediaType::parse(&v)),
            media_subtype: opt_string(key, object, "mediaSubtype")?,
            provider: opt_string(key, object, "provider")?,
            user_ids: opt_string_array(key, object, "userIds")?,
            extra,
            raw,
        })
    }
}

impl CallMetadata {
    pub fn parse(key: &str, bytes: &[u8]) -> Result<CallMetadata, MetadataError> {
        let raw = parse_object(key, bytes)?;
        let conversation_id = opt_string(key, raw.as_object().expect("object"), "conversationId")?;
        Ok(CallMetadata {
            conversation_id,
            raw,
        })
    }
}

/// Parse a Genesys timestamp: RFC 3339 (`Z`, `+00:00`) or the export's `+0000` offset form, with
/// or without fractional seconds.
pub fn parse_export_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::<FixedOffset>::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn parse_object(key: &str, bytes: &[u8]) -> Result<Value, MetadataError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| MetadataError {
        key: key.to_string(),
        field: None,
        problem: format!("not valid JSON: {e}"),
    })?;
    if !value.is_object() {
        return Err(MetadataError {
            key: key.to_string(),
            field: None,
            problem: format!("expected a JSON object, found {}", kind_of(&value)),
        });
    }
    Ok(value)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn opt_string(
    key: &str,
    o: &Map<String, Value>,
    field: &str,
) -> Result<Option<String>, MetadataError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(MetadataError::field(
            key,
            field,
            format!("expected a string, found {}", kind_of(other)),
        )),
    }
}

fn opt_time(
    key: &str,
    o: &Map<String, Value>,
    field: &str,
) -> Result<Option<DateTime<Utc>>, MetadataError> {
    match opt_string(key, o, field)? {
        None => Ok(None),
        Some(text) => parse_export_time(&text).map(Some).ok_or_else(|| {
            MetadataError::field(
                key,
                field,
                format!("{text:?} is not a timestamp like 2023-08-29T23:19:04.873+0000 or ...Z"),
            )
        }),
    }
}

fn opt_u64(key: &str, o: &Map<String, Value>, field: &str) -> Result<Option<u64>, MetadataError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            MetadataError::field(
                key,
                field,
                format!("{n} is not a non-negative whole number"),
            )
        }),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| {
            MetadataError::field(
                key,
                field,
                format!("{s:?} is not a non-negative whole number"),
            )
        }),
        Some(other) => Err(MetadataError::field(
            key,
            field,
            format!("expected a number, found {}", kind_of(other)),
        )),
    }
}

fn opt_string_array(
    key: &str,
    o: &Map<String, Value>,
    field: &str,
) -> Result<Vec<String>, MetadataError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(MetadataError::field(
                    key,
                    &format!("{field}[{i}]"),
                    format!("expected a string, found {}", kind_of(other)),
                )),
            })
            .collect(),
        Some(other) => Err(MetadataError::field(
            key,
            field,
            format!("expected an array of strings, found {}", kind_of(other)),
        )),
    }
}

/// The values at a dotted field path (`participantData.legalHold`), descending into every element
/// of any array met on the way.
pub fn values_at_path<'v>(document: &'v Value, path: &str) -> Vec<&'v Value> {
    let mut current = vec![document];
    for segment in path.split('.') {
        let mut next = Vec::new();
        for value in current {
            collect_field(value, segment, &mut next);
        }
        current = next;
    }
    current
}

fn collect_field<'v>(value: &'v Value, segment: &str, into: &mut Vec<&'v Value>) {
    match value {
        Value::Object(map) => {
            if let Some(found) = map.get(segment) {
                into.push(found);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_field(item, segment, into)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const KEY: &str =
        "o/year=2023/month=08/day=29/hour=23/conversation_id=c-1/r-1.opus_metadata.json";

    fn parse(json: &str) -> Result<RecordingMetadata, MetadataError> {
        RecordingMetadata::parse(KEY, json.as_bytes(), Some("c-1"))
    }

    #[test]
    fn both_time_formats_parse_to_the_same_instant() {
        let expected = Utc.with_ymd_and_hms(2023, 8, 29, 23, 19, 4).unwrap()
            + chrono::Duration::milliseconds(873);
        for text in [
            "2023-08-29T23:19:04.873+0000",
            "2023-08-29T23:19:04.873Z",
            "2023-08-29T23:19:04.873+00:00",
            "2023-08-30T01:19:04.873+0200",
        ] {
            assert_eq!(parse_export_time(text), Some(expected), "{text}");
        }
        assert_eq!(
            parse_export_time("2023-08-29T23:19:04Z"),
            Some(Utc.with_ymd_and_hms(2023, 8, 29, 23, 19, 4).unwrap())
        );
        assert_eq!(parse_export_time("29/08/2023 23:19"), None);
    }

    #[test]
    fn documented_fields_are_typed_and_unknown_ones_kept() {
        let m = parse(
            r#"{"conversationId":"c-1","recordingId":"r-1","startTime":"2023-08-29T23:19:04.873+0000",
                "endTime":"2023-08-29T23:21:04.873Z","durationMs":120000,"initialDirection":"inbound",
                "mediaType":"Call","mediaSubtype":"Trunk","provider":"edge","userIds":["u-1","u-2"],
                "queueIds":["q-9"],"participantData":{"legalHold":"true"}}"#,
        )
        .unwrap();
        assert_eq!(m.conversation_id, "c-1");
        assert_eq!(m.recording_id.as_deref(), Some("r-1"));
        assert_eq!(m.duration_ms, Some(120_000));
        assert_eq!(m.media_type, Some(MediaType::Call));
        assert_eq!(m.media_subtype.as_deref(), Some("Trunk"));
        assert_eq!(m.user_ids, vec!["u-1", "u-2"]);
        assert_eq!(
            m.end_time.unwrap() - m.start_time.unwrap(),
            chrono::Duration::minutes(2)
        );
        assert_eq!(m.extra.len(), 2);
        assert_eq!(m.extra["queueIds"], serde_json::json!(["q-9"]));
        assert_eq!(
            values_at_path(&m.raw, "participantData.legalHold"),
            vec![&Value::String("true".into())]
        );
    }

    #[test]
    fn tolerant_of_missing_and_unusual_values() {
        let m = parse(r#"{"mediaType":"chat","durationMs":"42","recordingId":""}"#).unwrap();
        assert_eq!(m.conversation_id, "c-1", "taken from the folder");
        assert_eq!(m.media_type, Some(MediaType::Chat));
        assert_eq!(m.duration_ms, Some(42));
        assert_eq!(m.recording_id, None);
        let m = parse(r#"{"mediaType":"Hologram"}"#).unwrap();
        assert_eq!(m.media_type, Some(MediaType::Other("Hologram".into())));
    }

    #[test]
    fn errors_name_the_key_and_the_field() {
        let err = parse(r#"{"startTime":"yesterday"}"#).unwrap_err();
        assert_eq!(err.key, KEY);
        assert_eq!(err.field.as_deref(), Some("startTime"));
        let text = err.to_string();
        assert!(text.contains(KEY) && text.contains("startTime") && text.contains("yesterday"));

        let err = parse(r#"{"durationMs":-5}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("durationMs"));
        let err = parse(r#"{"userIds":["u",7]}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("userIds[1]"));
        let err = parse(r#"{"conversationId":"other"}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("conversationId"));
        assert!(err.problem.contains("c-1"));
        let err = parse(r#"{"startTime":"2023-08-29T23:19:04Z","endTime":"2023-08-29T23:00:00Z"}"#)
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("endTime"));
        let err = parse("[1,2]").unwrap_err();
        assert_eq!(err.field, None);
        assert!(err.to_string().contains("an array"));
        let err = parse("{").unwrap_err();
        assert!(err.problem.starts_with("not valid JSON"));
        let err = RecordingMetadata::parse("loose.json", b"{}", None).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("conversationId"));
    }

    #[test]
    fn field_paths_descend_into_arrays() {
        let doc = serde_json::json!({"participants":[{"attributes":{"hold":"yes"}},{"attributes":{"hold":"no"}}]});
        assert_eq!(
            values_at_path(&doc, "participants.attributes.hold").len(),
            2
        );
        assert!(values_at_path(&doc, "participants.missing").is_empty());
    }
}
