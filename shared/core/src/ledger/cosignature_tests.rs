use sha2::{Digest, Sha256};

use super::*;
use crate::ledger::Signer;

const ORIGIN: &str = "custody.test/ledger";

fn signed_checkpoint(size: u64, root: [u8; 32]) -> (Checkpoint, TrustedKeys) {
    let log = Signer::generate(ORIGIN).unwrap();
    let cp = Checkpoint::sign(ORIGIN, size, root, &log).unwrap();
    (cp, TrustedKeys::new(vec![log.verifier_key()]))
}

#[test]
fn a_cosignature_is_the_c2sp_v1_signature_line() {
    let witness = WitnessSigner::generate("witness.test/w1").unwrap();
    let (cp, log_keys) = signed_checkpoint(7, [9; 32]);
    let cosigned = witness.cosign(cp.note().as_bytes(), 1_679_315_147).unwrap();
    let text = String::from_utf8(cosigned.clone()).unwrap();
    let line = text.lines().last().unwrap();
    let b64 = line.strip_prefix("— witness.test/w1 ").unwrap();
    let raw = BASE64.decode(b64).unwrap();
    assert_eq!(raw.len(), 4 + 8 + 64);
    // Key ID: SHA-256(name || "\n" || 0x04 || public key)[:4].
    let key = witness.verifier();
    let mut h = Sha256::new();
    h.update(b"witness.test/w1\n\x04");
    h.update(key.key.as_bytes());
    assert_eq!(raw[..4], h.finalize()[..4]);
    assert_eq!(
        u64::from_be_bytes(raw[4..12].try_into().unwrap()),
        1_679_315_147
    );
    // The signed message: the two header lines, then the note body with its final newline.
    let body = cp.note().split("\n\n").next().unwrap();
    let msg = format!("cosignature/v1\ntime 1679315147\n{body}\n");
    let sig = ed25519_dalek::Signature::from_bytes(raw[12..].try_into().unwrap());
    key.key.verify_strict(msg.as_bytes(), &sig).unwrap();
    // And it verifies as a cosignature, with the ledger's signature.
    let (checked, time) = key.verify(&cosigned, &log_keys).unwrap();
    assert_eq!(
        (checked.size, checked.root, time),
        (7, [9; 32], 1_679_315_147)
    );
}

#[test]
fn keys_round_trip_through_their_text() {
    let witness = WitnessSigner::generate("witness.test/w1").unwrap();
    let again = WitnessSigner::from_text(&witness.to_text()).unwrap();
    assert_eq!(again.verifier(), witness.verifier());
    let vkey = witness.verifier().to_text();
    assert!(vkey.starts_with("witness.test/w1+"));
    assert_eq!(WitnessKey::parse(&vkey).unwrap(), witness.verifier());
    // A ledger (type 1) key is not a witness key.
    let log = Signer::generate(ORIGIN).unwrap();
    assert!(WitnessKey::parse(&log.verifier_key().to_text()).is_err());
    assert!(WitnessSigner::from_text(&log.to_text()).is_err());
}

#[test]
fn what_is_not_a_cosignature_of_that_witness_on_that_checkpoint_is_refused() {
    let witness = WitnessSigner::generate("witness.test/w1").unwrap();
    let other = WitnessSigner::generate("witness.test/w1").unwrap();
    let (cp, log_keys) = signed_checkpoint(7, [9; 32]);
    let cosigned = witness.cosign(cp.note().as_bytes(), 100).unwrap();
    let key = witness.verifier();

    // Not cosigned at all.
    assert_eq!(
        key.verify(cp.note().as_bytes(), &log_keys).unwrap_err(),
        CosignatureError::NotCosigned(key.label())
    );
    // Cosigned by another key of the same name.
    let by_other = other.cosign(cp.note().as_bytes(), 100).unwrap();
    assert!(matches!(
        key.verify(&by_other, &log_keys),
        Err(CosignatureError::NotCosigned(_))
    ));
    // Its time changed: the signature covers it.
    let text = String::from_utf8(cosigned.clone()).unwrap();
    let line = text.lines().last().unwrap().to_string();
    let b64 = line.rsplit(' ').next().unwrap();
    let mut raw = BASE64.decode(b64).unwrap();
    raw[11] ^= 1;
    let forged = text.replace(b64, &BASE64.encode(&raw));
    assert_eq!(
        key.verify(forged.as_bytes(), &log_keys).unwrap_err(),
        CosignatureError::Invalid(key.label())
    );
    // The cosignature moved onto another checkpoint of the same ledger.
    let log = Signer::generate(ORIGIN).unwrap();
    let other_cp = Checkpoint::sign(ORIGIN, 8, [1; 32], &log).unwrap();
    let moved = format!("{}{}\n", other_cp.note(), line);
    assert_eq!(
        key.verify(
            moved.as_bytes(),
            &TrustedKeys::new(vec![log.verifier_key()])
        )
        .unwrap_err(),
        CosignatureError::Invalid(key.label())
    );
    // Cosigned, but the ledger's signature is not one the auditor trusts.
    let stranger = TrustedKeys::new(vec![Signer::generate(ORIGIN).unwrap().verifier_key()]);
    assert!(matches!(
        key.verify(&cosigned, &stranger),
        Err(CosignatureError::NotLogSigned(_))
    ));
}
