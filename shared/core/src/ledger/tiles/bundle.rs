//! Entry bundles (<https://c2sp.org/tlog-tiles>, "Log entries"): up to 256 consecutive log
//! entries, each a big-endian `uint16` length and that many bytes, nothing between or after.
//!
//! ```text
//! tile/entries/<N>[.p/<W>]:   [len: u16 BE][entry] [len: u16 BE][entry] ...   (W entries)
//! ```
//!
//! A custody entry is the exact stored record line without its newline, the leaf data whose
//! leaf hash is `SHA-256(0x00 || line)`. tlog_tiles 0.2 has no entry-bundle codec, hence this
//! one.

use super::error::TilesError;

/// The longest entry a bundle can hold: its length prefix is a `uint16`.
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// Encode entries as a bundle; fails naming the first entry longer than [`MAX_ENTRY_BYTES`],
/// `first_leaf` being the leaf index of `entries[0]`.
pub fn encode_bundle<E: AsRef<[u8]>>(
    first_leaf: u64,
    entries: &[E],
) -> Result<Vec<u8>, TilesError> {
    let len = entries.iter().map(|e| e.as_ref().len() + 2).sum();
    let mut out = Vec::with_capacity(len);
    for (k, entry) in entries.iter().enumerate() {
        let entry = entry.as_ref();
        let Ok(prefix) = u16::try_from(entry.len()) else {
            return Err(TilesError::EntryTooLarge {
                leaf: first_leaf + k as u64,
                len: entry.len(),
            });
        };
        out.extend_from_slice(&prefix.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Split a bundle stored under `key` into exactly `width` entries.
pub fn decode_bundle<'a>(
    key: &str,
    bytes: &'a [u8],
    width: usize,
) -> Result<Vec<&'a [u8]>, TilesError> {
    let bad = |message: String| TilesError::Malformed {
        key: key.to_string(),
        message,
    };
    let mut entries = Vec::with_capacity(width);
    let mut rest = bytes;
    while !rest.is_empty() {
        let [hi, lo, tail @ ..] = rest else {
            return Err(bad(format!(
                "a length prefix is cut after entry {}",
                entries.len()
            )));
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if tail.len() < len {
            return Err(bad(format!("entry {} is cut short", entries.len())));
        }
        entries.push(&tail[..len]);
        rest = &tail[len..];
    }
    if entries.len() != width {
        return Err(bad(format!(
            "{} entries where the path says {width}",
            entries.len()
        )));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_does_not_fit() {
        let entries = [b"{}".to_vec(), vec![b'x'; MAX_ENTRY_BYTES], b"a".to_vec()];
        let bundle = encode_bundle(0, &entries).unwrap();
        assert_eq!(&bundle[..4], &[0, 2, b'{', b'}']);
        assert_eq!(bundle.len(), 2 + 2 + 2 + MAX_ENTRY_BYTES + 2 + 1);
        let decoded = decode_bundle("k", &bundle, 3).unwrap();
        assert_eq!(
            decoded,
            entries.iter().map(|e| e.as_slice()).collect::<Vec<_>>()
        );

        let too_long = [b"a".to_vec(), vec![b'x'; MAX_ENTRY_BYTES + 1]];
        assert!(matches!(
            encode_bundle(10, &too_long),
            Err(TilesError::EntryTooLarge { leaf: 11, len }) if len == MAX_ENTRY_BYTES + 1
        ));

        assert!(decode_bundle("k", &bundle, 2).is_err());
        assert!(decode_bundle("k", &bundle[..bundle.len() - 1], 3).is_err());
        assert!(decode_bundle("k", &[0], 1).is_err());
    }
}
