//! Key text: a verifier key (C2SP vkey, from `keys/` in the bucket or a `--key` file) and a
//! signer key (from a file, a variable or a secret). Parsing never panics, and an accepted key
//! re-encodes to text that parses to the same key.
#![no_main]

use custody_core::ledger::{Signer, VerifierKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = VerifierKey::parse(text) {
        assert_eq!(VerifierKey::parse(&key.to_text()).unwrap(), key);
    }
    if let Ok(signer) = Signer::from_text(text) {
        let again = Signer::from_text(&signer.to_text()).unwrap();
        assert_eq!(again.key_id(), signer.key_id());
    }
});
