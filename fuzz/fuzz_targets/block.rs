//! A block file as found in the ledger's storage: parsing never panics, an accepted header is
//! byte-identical to its canonical re-encoding, and verifying it (alone, as block 0, and after
//! an honest block 0) never panics.
#![no_main]

use std::sync::OnceLock;

use custody_core::ledger::{
    BlockView, Signer, Tip, Trust, TrustedKeys, VerifyInput, build_block, tip_of, verify_blocks,
};
use libfuzzer_sys::fuzz_target;

const ORIGIN: &str = "custody.fuzz/ledger";

fn fixture() -> &'static (TrustedKeys, Vec<u8>) {
    static F: OnceLock<(TrustedKeys, Vec<u8>)> = OnceLock::new();
    F.get_or_init(|| {
        let signer = Signer::generate(ORIGIN).unwrap();
        let block = build_block(
            &Tip::genesis(),
            &[b"{\"n\":0}".to_vec()],
            ORIGIN,
            &signer,
            "2024-05-01T10:00:00.000Z",
        )
        .unwrap();
        (TrustedKeys::new(vec![signer.verifier_key()]), block.bytes)
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(view) = BlockView::parse(data) {
        assert_eq!(view.header.to_line(), view.header_line);
        let _ = tip_of(&view);
        let _ = view.checkpoint();
        for k in 0..view.records.len() {
            let _ = view.leaf_index(k);
        }
    }
    let (trusted, block0) = fixture();
    let bytes = bytes::Bytes::copy_from_slice(data);
    for blocks in [
        vec![(0, bytes.clone())],
        vec![(0, bytes::Bytes::from(block0.clone())), (1, bytes)],
    ] {
        let _ = verify_blocks(VerifyInput {
            location: "fuzz".into(),
            origin: ORIGIN,
            trusted,
            trust: Trust::PinnedKeys,
            pinned: None,
            found: Vec::new(),
            blocks,
        });
    }
});
