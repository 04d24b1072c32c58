//! A postings object: where one field value occurs in one block.
//!
//! ```json
//! {"format":"custody-postings/1","field":"conversation","value":"c-1","block":42,
//!  "entries":[{"leaf":4200,"offset":1031,"length":812},{"leaf":4203,"offset":3467,"length":790}]}
//! ```
//!
//! (Shown wrapped; stored as one compact line.) `offset` and `length` are the byte range of the
//! record's line in the block file (without its newline), `leaf` its leaf index; entries are in
//! leaf order. Written create-only by [`index_block`](super::index_block); a reader believes none
//! of it until the cited bytes, read from the block, are the record it says.

use serde::{Deserialize, Serialize};

use super::error::QueryIndexError;
use super::field::Field;

pub const POSTINGS_FORMAT: &str = "custody-postings/1";

/// One record of a block holding the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub leaf: u64,
    pub offset: u64,
    pub length: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Postings {
    pub format: String,
    pub field: String,
    pub value: String,
    pub block: u64,
    pub entries: Vec<Entry>,
}

impl Postings {
    pub fn new(field: Field, value: &str, block: u64, entries: Vec<Entry>) -> Postings {
        Postings {
            format: POSTINGS_FORMAT.to_string(),
            field: field.as_str().to_string(),
            value: value.to_string(),
            block,
            entries,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("postings serialize")
    }

    /// Parse the postings stored at `key`, which must be those of `field`=`value` in `block`.
    pub fn parse(
        key: &str,
        bytes: &[u8],
        field: Field,
        value: &str,
        block: u64,
    ) -> Result<Postings, QueryIndexError> {
        let bad = |message: String| QueryIndexError::Posting {
            key: key.to_string(),
            message,
        };
        let postings: Postings = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("not a postings object: {e}")))?;
        if postings.format != POSTINGS_FORMAT {
            return Err(bad(format!(
                "field format is {:?}, not {POSTINGS_FORMAT:?}",
                postings.format
            )));
        }
        if postings.field != field.as_str() || postings.value != value {
            return Err(bad(format!(
                "names {}={:?}, not {field}={value:?}",
                postings.field, postings.value
            )));
        }
        if postings.block != block {
            return Err(bad(format!(
                "field block is {}, the key names block {block}",
                postings.block
            )));
        }
        if postings.entries.is_empty() {
            return Err(bad("field entries is empty".to_string()));
        }
        Ok(postings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postings_round_trip_and_name_what_they_index() {
        let p = Postings::new(
            Field::Conversation,
            "c-1",
            4,
            vec![Entry {
                leaf: 9,
                offset: 300,
                length: 700,
            }],
        );
        let bytes = p.to_bytes();
        assert_eq!(
            Postings::parse("k", &bytes, Field::Conversation, "c-1", 4).unwrap(),
            p
        );
        let other = Postings::parse("k", &bytes, Field::Conversation, "c-2", 4).unwrap_err();
        assert!(other.to_string().contains("k"), "{other}");
        assert!(Postings::parse("k", &bytes, Field::Conversation, "c-1", 5).is_err());
        assert!(Postings::parse("k", &bytes, Field::Recording, "c-1", 4).is_err());
        assert!(Postings::parse("k", b"{}", Field::Conversation, "c-1", 4).is_err());
    }
}
