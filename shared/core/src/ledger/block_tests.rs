use super::*;

const T: &str = "2024-05-01T10:00:00.000Z";

fn signer() -> Signer {
    Signer::generate("o").unwrap()
}

fn block0(signer: &Signer) -> NewBlock {
    let records = vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()];
    build_block(&Tip::genesis(), &records, "o", signer, T).unwrap()
}

fn with_header(bytes: &[u8], header_line: &[u8]) -> Vec<u8> {
    let end = bytes.iter().position(|&b| b == b'\n').unwrap();
    let mut out = header_line.to_vec();
    out.extend_from_slice(&bytes[end..]);
    out
}

#[test]
fn a_built_block_parses_back() {
    let signer = signer();
    let records = [b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()];
    let b0 = block0(&signer);
    let view = BlockView::parse(&b0.bytes).unwrap();
    assert_eq!(view.records, vec![&records[0][..], &records[1][..]]);
    assert_eq!(view.header.index, 0);
    assert_eq!(tip_of(&view).unwrap(), b0.tip_after);
    let b1 = build_block(&b0.tip_after, &records[..1], "o", &signer, T).unwrap();
    let view1 = BlockView::parse(&b1.bytes).unwrap();
    assert_eq!(view1.header.first_leaf, 2);
    assert_eq!(view1.header.tree_size, 3);
    assert_eq!(view1.decoded().prev, view.hash());
    assert_eq!(
        build_block(&Tip::genesis(), &[b"a\nb".to_vec()], "o", &signer, T).unwrap_err(),
        BlockError::RecordLine(0)
    );
    assert_eq!(
        build_block(&Tip::genesis(), &[], "o", &signer, T).unwrap_err(),
        BlockError::NoRecords
    );
}

#[test]
fn only_the_canonical_header_parses() {
    let b0 = block0(&signer());
    let line = b0.header.to_line();
    let text = String::from_utf8(line.clone()).unwrap();
    let variants = [
        // Spaces after the separators.
        text.replace(",\"", ", \""),
        // Fields reordered.
        text.replacen("\"format\":\"custody-block/1\",", "", 1)
            .replacen('{', "{\"format\":\"custody-block/1\",", 1)
            .replace("\"index\":0,", "")
            .replacen('{', "{\"index\":0,", 1),
        // An extra field.
        text.replacen('}', ",\"legal_hold_released\":true}", 1),
        // Upper-case hex in prev.
        text.replace(&"0".repeat(64), &format!("{}A", "0".repeat(63))),
        // A string escaped differently.
        text.replace("custody-block/1", "custody-block\\/1"),
        // A number written otherwise.
        text.replace("\"count\":2", "\"count\":2.0"),
    ];
    for v in variants {
        assert_ne!(v.as_bytes(), &line[..]);
        let bytes = with_header(&b0.bytes, v.as_bytes());
        assert!(BlockView::parse(&bytes).is_err(), "{v} parsed");
    }
    // count 0.
    let mut h = b0.header.clone();
    h.count = 0;
    let bytes = with_header(&b0.bytes, &h.to_line());
    assert_eq!(BlockView::parse(&bytes).unwrap_err(), BlockError::NoRecords);
    // Upper-case prev, re-encoded canonically otherwise.
    let mut h = b0.header.clone();
    h.prev = "AB".repeat(32);
    let bytes = with_header(&b0.bytes, &h.to_line());
    assert!(matches!(
        BlockView::parse(&bytes).unwrap_err(),
        BlockError::Hex { field: "prev", .. }
    ));
    // A root in non-canonical base64 (the last character's unused bits set).
    let mut h = b0.header.clone();
    let mut root = h.root.clone().into_bytes();
    let at = root.len() - 2;
    root[at] = if root[at] == b'A' { b'B' } else { root[at] ^ 1 };
    h.root = String::from_utf8(root).unwrap();
    let bytes = with_header(&b0.bytes, &h.to_line());
    assert!(BlockView::parse(&bytes).is_err());
}

#[test]
fn a_block_above_the_cap_is_refused_before_parsing() {
    let big = vec![b'x'; MAX_BLOCK_BYTES as usize + 1];
    assert_eq!(
        BlockView::parse(&big).unwrap_err(),
        BlockError::TooLarge {
            size: MAX_BLOCK_BYTES + 1
        }
    );
}

#[test]
fn header_numbers_that_overflow_are_errors_not_panics() {
    let signer = signer();
    let b0 = block0(&signer);
    let mut h = b0.header.clone();
    h.first_leaf = u64::MAX;
    let bytes = with_header(&b0.bytes, &h.to_line());
    let view = BlockView::parse(&bytes).unwrap();
    assert_eq!(view.leaf_index(0), Some(u64::MAX));
    assert_eq!(view.leaf_index(1), None);
    assert!(matches!(
        tip_of(&view).unwrap_err(),
        BlockError::LeafRange { .. }
    ));
    let mut tip = b0.tip_after.clone();
    tip.index = Some(u64::MAX);
    assert!(matches!(
        build_block(&tip, &[b"{}".to_vec()], "o", &signer, T).unwrap_err(),
        BlockError::LeafOverflow { .. }
    ));
}
