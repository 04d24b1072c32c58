//! Object keys as S3 sends them in event notifications, S3 Batch Operations tasks and CSV
//! manifests: URL-encoded, with `+` standing for a space (so a literal `+` arrives as `%2B` and
//! `=` as `%3D`). Every place that receives such a key decodes it here and nowhere else.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Why an encoded key could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyDecodeError {
    #[error("malformed percent escape at byte {position} of encoded key {encoded:?}")]
    MalformedEscape { encoded: String, position: usize },
    #[error("encoded key {encoded:?} does not decode to UTF-8")]
    NotUtf8 { encoded: String },
    #[error("encoded key is empty")]
    Empty,
}

/// Decode a URL-encoded key: `+` becomes a space first, then `%XX` escapes are decoded, and the
/// result must be UTF-8. A `%` not followed by two hex digits is refused rather than guessed at.
pub fn decode_s3_url_key(encoded: &str) -> Result<String, KeyDecodeError> {
    if encoded.is_empty() {
        return Err(KeyDecodeError::Empty);
    }
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16));
                let lo = bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                    _ => {
                        return Err(KeyDecodeError::MalformedEscape {
                            encoded: encoded.to_string(),
                            position: i,
                        });
                    }
                }
                i += 3;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| KeyDecodeError::NotUtf8 {
        encoded: encoded.to_string(),
    })
}

/// Characters left as they are when encoding: what S3's own encoder leaves alone, and `/`.
const KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'*')
    .remove(b'/');

/// Encode a key the way S3 event notifications do (space as `+`, `+` as `%2B`, `=` as `%3D`):
/// for sample events, CSV manifests and tests. `decode_s3_url_key(encode_s3_url_key(k)) == k`.
pub fn encode_s3_url_key(key: &str) -> String {
    key.split(' ')
        .map(|part| utf8_percent_encode(part, KEEP).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_is_a_space_and_escapes_decode_after() {
        assert_eq!(
            decode_s3_url_key("org/conversation_id%3Dabc/a+b%2Bc.opus").unwrap(),
            "org/conversation_id=abc/a b+c.opus"
        );
        assert_eq!(decode_s3_url_key("100%25+sure").unwrap(), "100% sure");
        assert_eq!(
            decode_s3_url_key("caf%C3%A9%2F%E2%82%AC").unwrap(),
            "café/€"
        );
    }

    #[test]
    fn a_decoded_plus_is_not_turned_into_a_space_again() {
        assert_eq!(decode_s3_url_key("%2B%2B+").unwrap(), "++ ");
    }

    #[test]
    fn malformed_escapes_and_bad_utf8_are_refused_with_the_key() {
        let err = decode_s3_url_key("a%zzb").unwrap_err();
        assert_eq!(
            err,
            KeyDecodeError::MalformedEscape {
                encoded: "a%zzb".into(),
                position: 1
            }
        );
        assert!(err.to_string().contains("a%zzb"));
        assert!(matches!(
            decode_s3_url_key("trailing%4"),
            Err(KeyDecodeError::MalformedEscape { position: 8, .. })
        ));
        assert!(matches!(
            decode_s3_url_key("%FF%FE"),
            Err(KeyDecodeError::NotUtf8 { .. })
        ));
        assert_eq!(decode_s3_url_key(""), Err(KeyDecodeError::Empty));
    }

    #[test]
    fn encoding_round_trips_awkward_keys() {
        for key in [
            "o/year=2024/month=01/day=02/hour=03/conversation_id=c 1/a+b%c=d ünï €.opus",
            "plain/key.json",
            "  leading and trailing  ",
        ] {
            let encoded = encode_s3_url_key(key);
            assert!(
                !encoded.contains(' ') && !encoded.contains('='),
                "{encoded}"
            );
            assert_eq!(decode_s3_url_key(&encoded).unwrap(), key);
        }
        assert_eq!(encode_s3_url_key("a=b c+d"), "a%3Db+c%2Bd");
    }
}
