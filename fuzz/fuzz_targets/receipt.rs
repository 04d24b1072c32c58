//! An offline receipt as handed to `custody verify-receipt`: decoding and checking never panic.
#![no_main]

use std::sync::OnceLock;

use custody_core::ledger::{Receipt, Signer, TrustedKeys};
use libfuzzer_sys::fuzz_target;

fn trusted() -> &'static TrustedKeys {
    static T: OnceLock<TrustedKeys> = OnceLock::new();
    T.get_or_init(|| {
        let signer = Signer::generate("custody.fuzz/ledger").unwrap();
        TrustedKeys::new(vec![signer.verifier_key()])
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(receipt) = serde_json::from_slice::<Receipt>(data) {
        let _ = receipt.verify(trusted());
    }
});
