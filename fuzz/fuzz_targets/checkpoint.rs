//! A signed checkpoint note (a block's note, or a checkpoint an auditor pinned): parsing and
//! signature verification never panic, and a parsed checkpoint keeps its text unchanged.
#![no_main]

use std::sync::OnceLock;

use custody_core::ledger::{Checkpoint, Signer, TrustedKeys};
use libfuzzer_sys::fuzz_target;

fn trusted() -> &'static TrustedKeys {
    static T: OnceLock<TrustedKeys> = OnceLock::new();
    T.get_or_init(|| {
        let signer = Signer::generate("custody.fuzz/ledger").unwrap();
        TrustedKeys::new(vec![signer.verifier_key()])
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(cp) = Checkpoint::parse(data) {
        assert_eq!(cp.note().as_bytes(), data);
        let _ = cp.verify(trusted());
    }
});
