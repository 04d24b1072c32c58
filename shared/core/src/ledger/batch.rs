//! Checkpoint signatures checked many at a time with Ed25519 batch verification.
//!
//! A ledger written by Lambda invocations holds one signed checkpoint per few records, so
//! verifying one signature at a time dominates verification. Every signature `(R, s)` on message
//! `M` by key `A` must satisfy `[s]B = R + [h]A` with `h = SHA-512(R || A || M) mod l`. A batch
//! checks, with fresh random 128-bit `z_i` (Bernstein et al., "High-speed high-security
//! signatures", section 5), the one equation
//!
//! ```text
//! sum(z_i R_i) + [sum(z_i h_i)] A - [sum(z_i s_i)] B = 0
//! ```
//!
//! which, all signatures being by one key, is one multiscalar multiplication over the `R_i` plus
//! two points: far cheaper per signature than a single check. A batch that fails says only that
//! some signature in it is bad, so its signatures are left unconfirmed and the caller checks them
//! one at a time, which names the failing block. (ed25519-dalek's own `verify_batch` multiplies
//! the key once per signature and needs a feature that rebuilds the AWS SDK's TLS stack.)
//!
//! The single check ([`ed25519_dalek::VerifyingKey::verify_strict`]) also refuses a weak
//! (small-order) key, a small-order `R`, a non-canonical encoding of `R` and a non-canonical `s`:
//! those are checked here before batching, and a signature that fails them is left unconfirmed.
//! Keys with a torsion component are never batched. What remains different: a signature whose
//! `R` has a torsion component (which only the holder of the private key can make) can pass a
//! batch (with probability at most 1/2 per try, the `z_i` being fresh) while `verify_strict`
//! rejects it; such a signature is valid under RFC 8032's cofactored equation and proves the
//! same signer.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::VerifyingKey;
use rand::RngCore;
use rayon::prelude::*;
use sha2::{Digest, Sha512};

use super::checkpoint::DeferredSignature;
use super::keys::TrustedKeys;

/// Signatures per batch: large enough that the multiscalar multiplication is cheap per
/// signature, small enough that a bad signature costs few single checks.
pub const BATCH_SIZE: usize = 64;

/// A signature that passed the checks `verify_strict` makes before its equation.
struct Candidate<'a> {
    check: usize,
    key: usize,
    message: &'a [u8],
    r_bytes: [u8; 32],
    r: EdwardsPoint,
    s: Scalar,
}

/// For each check, whether a batch proved it valid. `false` means not proven: check it alone.
pub fn confirm(trusted: &TrustedKeys, checks: &[&DeferredSignature]) -> Vec<bool> {
    let keys: Vec<Option<VerifyingKey>> = trusted
        .keys()
        .iter()
        .map(|k| {
            let key = *k.ed25519();
            (!key.is_weak() && key.to_edwards().is_torsion_free()).then_some(key)
        })
        .collect();
    let mut candidates: Vec<Candidate<'_>> = checks
        .par_iter()
        .enumerate()
        .filter_map(|(i, c)| {
            keys.get(c.key).copied().flatten()?;
            candidate(i, c)
        })
        .collect();
    // One key per batch.
    candidates.sort_by_key(|c| (c.key, c.check));
    let mut batches: Vec<&[Candidate<'_>]> = Vec::new();
    for same_key in candidates.chunk_by(|a, b| a.key == b.key) {
        batches.extend(same_key.chunks(BATCH_SIZE));
    }
    let proven: Vec<&[Candidate<'_>]> = batches
        .into_par_iter()
        .filter(|batch| {
            let key = keys[batch[0].key].expect("only batchable keys have candidates");
            holds(&key, batch)
        })
        .collect();
    let mut confirmed = vec![false; checks.len()];
    for batch in proven {
        for c in batch {
            confirmed[c.check] = true;
        }
    }
    confirmed
}

/// The signature, when it is 64 bytes, `s` is canonical (below the group order) and `R` is the
/// canonical encoding of a point that is not of small order.
fn candidate(check: usize, c: &DeferredSignature) -> Option<Candidate<'_>> {
    let bytes: &[u8; 64] = c.signature.as_slice().try_into().ok()?;
    let r_bytes: [u8; 32] = bytes[..32].try_into().expect("32 bytes");
    let s_bytes: [u8; 32] = bytes[32..].try_into().expect("32 bytes");
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
    if !is_canonical_y(&r_bytes) {
        return None;
    }
    let r = CompressedEdwardsY(r_bytes).decompress()?;
    if r.is_small_order() {
        return None;
    }
    Some(Candidate {
        check,
        key: c.key,
        message: &c.message,
        r_bytes,
        r,
        s,
    })
}

/// Whether the batch equation holds for signatures all made by `key`.
fn holds(key: &VerifyingKey, batch: &[Candidate<'_>]) -> bool {
    let mut rng = rand::rngs::OsRng;
    let mut scalars = Vec::with_capacity(batch.len() + 2);
    let mut points = Vec::with_capacity(batch.len() + 2);
    let mut key_coefficient = Scalar::ZERO;
    let mut base_coefficient = Scalar::ZERO;
    for c in batch {
        let h = Scalar::from_hash(
            Sha512::new()
                .chain_update(c.r_bytes)
                .chain_update(key.as_bytes())
                .chain_update(c.message),
        );
        let mut z = [0u8; 16];
        rng.fill_bytes(&mut z);
        let z = Scalar::from(u128::from_le_bytes(z));
        key_coefficient += z * h;
        base_coefficient += z * c.s;
        scalars.push(z);
        points.push(c.r);
    }
    scalars.push(key_coefficient);
    points.push(key.to_edwards());
    scalars.push(-base_coefficient);
    points.push(ED25519_BASEPOINT_POINT);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

/// Whether the y coordinate of a compressed Edwards point is below p = 2^255 - 19. Decoding
/// reduces a larger y silently; `verify_strict` compares encodings and so refuses it. (An x of
/// zero with the sign bit set is the other non-canonical form; it only occurs for y = 1 and
/// y = -1, which are of small order and refused anyway.)
fn is_canonical_y(encoded: &[u8; 32]) -> bool {
    let high = encoded[31] & 0x7f;
    !(high == 0x7f && encoded[1..31].iter().all(|&b| b == 0xff) && encoded[0] >= 0xed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Signer;
    use signed_note::Signer as _;

    fn check(signer: &Signer, msg: &[u8]) -> DeferredSignature {
        DeferredSignature {
            key: 0,
            message: msg.to_vec(),
            signature: signer.sign(msg).unwrap(),
        }
    }

    fn trusting(signer: &Signer) -> TrustedKeys {
        TrustedKeys::new(vec![signer.verifier_key()])
    }

    #[test]
    fn canonical_y_is_below_p() {
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!is_canonical_y(&p), "p itself");
        let mut below = p;
        below[0] = 0xec;
        assert!(is_canonical_y(&below), "p - 1");
        let mut with_sign = p;
        with_sign[31] = 0xff;
        assert!(!is_canonical_y(&with_sign), "p with the sign bit");
        assert!(is_canonical_y(&[0; 32]));
    }

    #[test]
    fn a_bad_signature_leaves_its_batch_unconfirmed_and_no_other() {
        let signer = Signer::generate("o").unwrap();
        let trusted = trusting(&signer);
        let n = BATCH_SIZE * 3 + 5;
        let mut checks: Vec<DeferredSignature> = (0..n)
            .map(|i| check(&signer, format!("message {i}").as_bytes()))
            .collect();
        let all: Vec<&DeferredSignature> = checks.iter().collect();
        assert!(confirm(&trusted, &all).iter().all(|&c| c));

        checks[BATCH_SIZE + 3].message.push(b'!');
        let all: Vec<&DeferredSignature> = checks.iter().collect();
        let confirmed = confirm(&trusted, &all);
        for (i, c) in confirmed.iter().enumerate() {
            assert_eq!(*c, i / BATCH_SIZE != 1, "check {i}");
        }
    }

    #[test]
    fn signatures_by_two_keys_are_batched_per_key() {
        let a = Signer::generate("o").unwrap();
        let b = Signer::generate("o").unwrap();
        let trusted = TrustedKeys::new(vec![a.verifier_key(), b.verifier_key()]);
        let mut checks: Vec<DeferredSignature> = (0..100)
            .map(|i| {
                let (signer, key) = if i % 3 == 0 { (&b, 1) } else { (&a, 0) };
                let mut c = check(signer, format!("m{i}").as_bytes());
                c.key = key;
                c
            })
            .collect();
        let all: Vec<&DeferredSignature> = checks.iter().collect();
        assert!(confirm(&trusted, &all).iter().all(|&c| c));
        // Claimed by the other key: the equation fails.
        checks[3].key = 0;
        let all: Vec<&DeferredSignature> = checks.iter().collect();
        assert!(!confirm(&trusted, &all)[3]);
    }

    #[test]
    fn a_check_by_an_unknown_key_index_is_not_confirmed() {
        let signer = Signer::generate("o").unwrap();
        let mut c = check(&signer, b"m");
        c.key = 1;
        assert_eq!(confirm(&trusting(&signer), &[&c]), vec![false]);
    }

    #[test]
    fn signatures_verify_strict_refuses_are_never_confirmed() {
        let signer = Signer::generate("o").unwrap();
        let good = check(&signer, b"m");
        assert!(candidate(0, &good).is_some());

        // R replaced by the identity, a point of small order.
        let mut small = good.clone();
        small.signature[..32].fill(0);
        small.signature[0] = 1;
        assert!(candidate(0, &small).is_none());

        // R = y + p for y = 2: the decoder reads the same point as y = 2, verify_strict's
        // comparison of encodings would not match it.
        let mut y2 = [0u8; 32];
        y2[0] = 2;
        let mut y2_plus_p = [0xffu8; 32];
        y2_plus_p[0] = 0xef;
        y2_plus_p[31] = 0x7f;
        match (
            VerifyingKey::from_bytes(&y2),
            VerifyingKey::from_bytes(&y2_plus_p),
        ) {
            (Ok(a), Ok(b)) => assert_eq!(a.to_edwards(), b.to_edwards()),
            (a, b) => assert_eq!(a.is_ok(), b.is_ok()),
        }
        let mut twin = good.clone();
        twin.signature[..32].copy_from_slice(&y2_plus_p);
        assert!(candidate(0, &twin).is_none());

        // s + l: the same equation, a non-canonical scalar.
        let mut high_s = good.clone();
        let s = Scalar::from_canonical_bytes(good.signature[32..].try_into().unwrap()).unwrap();
        let l_bytes = (Scalar::ZERO - Scalar::ONE).to_bytes(); // l - 1
        let mut sum = [0u8; 32];
        let mut carry = 1u16; // (l - 1) + 1 = l, then + s
        for i in 0..32 {
            let v = l_bytes[i] as u16 + s.to_bytes()[i] as u16 + carry;
            sum[i] = v as u8;
            carry = v >> 8;
        }
        high_s.signature[32..].copy_from_slice(&sum);
        assert!(candidate(0, &high_s).is_none());

        let mut short = good.clone();
        short.signature.pop();
        let all = [&good, &small, &twin, &high_s, &short];
        assert_eq!(
            confirm(&trusting(&signer), &all),
            vec![true, false, false, false, false]
        );
    }
}
