//! The RFC 6962 Merkle tree over all ledger records: leaf and node hashes, the right frontier that
//! lets a writer extend the tree without old leaves, and inclusion and consistency proofs.
//!
//! Proofs are generated here and checked with `tlog_tiles` (Cloudflare's port of Go's
//! `sumdb/tlog`), so that the checking side is independent of the generating side.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    1u64 << (n - 1).ilog2()
}

/// The right frontier of a tree of `size` leaves: the roots of the perfect subtrees that make up
/// the binary decomposition of `size`, largest (leftmost) first. One hash per set bit of `size`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    pub fn empty() -> Self {
        Frontier::default()
    }

    /// A frontier as stored in a block; `None` when the number of hashes does not fit `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Option<Self> {
        (hashes.len() == size.count_ones() as usize).then_some(Frontier { size, hashes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Add one leaf hash at the right edge.
    pub fn push(&mut self, leaf: Hash) {
        let mut carry = leaf;
        let mut size = self.size;
        while size & 1 == 1 {
            let left = self.hashes.pop().expect("one hash per set bit");
            carry = node_hash(&left, &carry);
            size >>= 1;
        }
        self.hashes.push(carry);
        self.size += 1;
    }

    /// The RFC 6962 root of the tree this frontier describes.
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        let Some(last) = iter.next() else {
            return EMPTY_ROOT;
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }

    /// The perfect subtree `[lo, lo + width)` when it is one of the frontier's nodes.
    fn node(&self, lo: u64, width: u64) -> Option<Hash> {
        let mut start = 0u64;
        for (bit, hash) in (0..64u32)
            .rev()
            .filter(|b| self.size >> b & 1 == 1)
            .zip(&self.hashes)
        {
            let w = 1u64 << bit;
            if start == lo && w == width {
                return Some(*hash);
            }
            start += w;
        }
        None
    }
}

/// Leaves `[base.size(), base.size() + leaves.len())` on top of a frontier: enough to compute any
/// node of the tree that does not lie wholly inside the base other than a frontier node. With an
/// empty base this is the whole tree.
pub struct PartialTree<'a> {
    pub base: &'a Frontier,
    pub leaves: &'a [Hash],
}

/// A proof could not be built from the hashes at hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("range {lo}..{hi} is not in the tree")]
    OutsideTree { lo: u64, hi: u64 },
    #[error("subtree {lo}..{hi} lies inside the first {base} leaves, whose hashes are not at hand")]
    NotAtHand { lo: u64, hi: u64, base: u64 },
    #[error("leaf {index} is not in a tree of {size} leaves")]
    NoSuchLeaf { index: u64, size: u64 },
    #[error("no consistency proof from size {old_size} to size {size}")]
    NoConsistency { old_size: u64, size: u64 },
}

impl PartialTree<'_> {
    pub fn size(&self) -> u64 {
        self.base.size() + self.leaves.len() as u64
    }

    /// `MTH(D[lo:hi])` as RFC 6962 defines it.
    pub fn subtree(&self, lo: u64, hi: u64) -> Result<Hash, ProofError> {
        let base = self.base.size();
        if hi <= lo || hi > self.size() {
            return Err(ProofError::OutsideTree { lo, hi });
        }
        if hi <= base {
            return self
                .base
                .node(lo, hi - lo)
                .ok_or(ProofError::NotAtHand { lo, hi, base });
        }
        if hi - lo == 1 {
            return Ok(self.leaves[(lo - base) as usize]);
        }
        let k = split_point(hi - lo);
        Ok(node_hash(
            &self.subtree(lo, lo + k)?,
            &self.subtree(lo + k, hi)?,
        ))
    }

    /// RFC 6962 audit path for leaf `index` in the tree of all leaves at hand, bottom-up.
    pub fn inclusion_proof(&self, index: u64) -> Result<Vec<Hash>, ProofError> {
        let size = self.size();
        if index >= size {
            return Err(ProofError::NoSuchLeaf { index, size });
        }
        let mut proof = Vec::new();
        self.path(index, 0, size, &mut proof)?;
        Ok(proof)
    }

    fn path(&self, m: u64, lo: u64, hi: u64, out: &mut Vec<Hash>) -> Result<(), ProofError> {
        if hi - lo == 1 {
            return Ok(());
        }
        let k = split_point(hi - lo);
        if m < lo + k {
            self.path(m, lo, lo + k, out)?;
            out.push(self.subtree(lo + k, hi)?);
        } else {
            self.path(m, lo + k, hi, out)?;
            out.push(self.subtree(lo, lo + k)?);
        }
        Ok(())
    }

    /// RFC 6962 consistency proof from the tree of `old_size` leaves to the tree of all leaves.
    pub fn consistency_proof(&self, old_size: u64) -> Result<Vec<Hash>, ProofError> {
        let size = self.size();
        if old_size == 0 || old_size > size {
            return Err(ProofError::NoConsistency { old_size, size });
        }
        let mut proof = Vec::new();
        self.subproof(old_size, 0, size, true, &mut proof)?;
        Ok(proof)
    }

    fn subproof(
        &self,
        m: u64,
        lo: u64,
        hi: u64,
        whole_old_tree: bool,
        out: &mut Vec<Hash>,
    ) -> Result<(), ProofError> {
        if m == hi - lo {
            if !whole_old_tree {
                out.push(self.subtree(lo, hi)?);
            }
            return Ok(());
        }
        let k = split_point(hi - lo);
        if m <= k {
            self.subproof(m, lo, lo + k, whole_old_tree, out)?;
            out.push(self.subtree(lo + k, hi)?);
        } else {
            self.subproof(m - k, lo + k, hi, false, out)?;
            out.push(self.subtree(lo, lo + k)?);
        }
        Ok(())
    }
}

fn tlog(h: &Hash) -> tlog_tiles::Hash {
    tlog_tiles::Hash(*h)
}

/// Whether `proof` shows leaf `leaf` at `index` in the tree of `size` leaves with `root`.
pub fn check_inclusion(proof: &[Hash], size: u64, root: &Hash, index: u64, leaf: &Hash) -> bool {
    let proof: Vec<_> = proof.iter().map(tlog).collect();
    tlog_tiles::check_record(&proof, size, tlog(root), index, tlog(leaf)).is_ok()
}

/// Whether `proof` shows the tree (`old_size`, `old_root`) to be a prefix of (`size`, `root`).
pub fn check_consistency(
    proof: &[Hash],
    old_size: u64,
    old_root: &Hash,
    size: u64,
    root: &Hash,
) -> bool {
    if old_size == size {
        return proof.is_empty() && old_root == root;
    }
    let proof: Vec<_> = proof.iter().map(tlog).collect();
    tlog_tiles::check_tree(&proof, size, tlog(root), old_size, tlog(old_root)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn frontier_root_matches_recursive_root_and_tlog_tiles() {
        let empty = Frontier::empty();
        for n in 0..70u64 {
            let l = leaves(n);
            let mut f = Frontier::empty();
            l.iter().for_each(|h| f.push(*h));
            let tree = PartialTree {
                base: &empty,
                leaves: &l,
            };
            let expected = if n == 0 {
                EMPTY_ROOT
            } else {
                tree.subtree(0, n).unwrap()
            };
            assert_eq!(f.root(), expected, "size {n}");
            assert_eq!(f.hashes().len(), n.count_ones() as usize);
            let mut stored = StoredHashes(Vec::new());
            for (i, h) in l.iter().enumerate() {
                let new =
                    tlog_tiles::stored_hashes_for_record_hash(i as u64, tlog(h), &stored).unwrap();
                stored.0.extend(new);
            }
            let theirs = tlog_tiles::tree_hash(n, &stored).unwrap();
            assert_eq!(theirs.0, f.root(), "size {n} against tlog_tiles");
        }
    }

    struct StoredHashes(Vec<tlog_tiles::Hash>);

    impl tlog_tiles::HashReader for StoredHashes {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
            indexes
                .iter()
                .map(|&i| {
                    self.0
                        .get(i as usize)
                        .copied()
                        .ok_or(tlog_tiles::Error::IndexesNotInTree)
                })
                .collect()
        }
    }

    #[test]
    fn proofs_from_a_frontier_base_equal_proofs_from_all_leaves() {
        let empty = Frontier::empty();
        for total in 1..40u64 {
            let l = leaves(total);
            let full = PartialTree {
                base: &empty,
                leaves: &l,
            };
            for base_size in 0..total {
                let mut base = Frontier::empty();
                l[..base_size as usize].iter().for_each(|h| base.push(*h));
                let partial = PartialTree {
                    base: &base,
                    leaves: &l[base_size as usize..],
                };
                for i in base_size..total {
                    assert_eq!(
                        partial.inclusion_proof(i).unwrap(),
                        full.inclusion_proof(i).unwrap(),
                        "total {total} base {base_size} leaf {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_frontier_of_the_wrong_length_is_refused() {
        assert!(Frontier::from_parts(3, vec![[0; 32]]).is_none());
        assert!(Frontier::from_parts(3, vec![[0; 32], [1; 32]]).is_some());
    }

    fn flip(h: &Hash, bit: usize) -> Hash {
        let mut out = *h;
        out[bit / 8 % 32] ^= 1 << (bit % 8);
        out
    }

    /// Every size up to 160, every index and every old size: proofs verify, and changing any one
    /// hash of the proof, the leaf, the root or the index makes them fail.
    #[test]
    fn every_proof_up_to_160_verifies_and_any_altered_hash_fails() {
        let all = leaves(160);
        let empty = Frontier::empty();
        for n in 1..=160u64 {
            let tree = PartialTree {
                base: &empty,
                leaves: &all[..n as usize],
            };
            let root = tree.subtree(0, n).unwrap();
            for i in 0..n {
                let proof = tree.inclusion_proof(i).unwrap();
                let leaf = all[i as usize];
                assert!(check_inclusion(&proof, n, &root, i, &leaf), "n {n} i {i}");
                assert!(!check_inclusion(
                    &proof,
                    n,
                    &flip(&root, i as usize),
                    i,
                    &leaf
                ));
                assert!(!check_inclusion(&proof, n, &root, i, &flip(&leaf, 3)));
                for k in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[k] = flip(&bad[k], k * 7 + i as usize);
                    assert!(
                        !check_inclusion(&bad, n, &root, i, &leaf),
                        "n {n} i {i} k {k}"
                    );
                }
                if n > 1 {
                    let other = (i + 1) % n;
                    assert!(!check_inclusion(&proof, n, &root, other, &leaf));
                }
            }
            for m in 1..=n {
                let old_root = tree.subtree(0, m).unwrap();
                let proof = tree.consistency_proof(m).unwrap();
                assert!(
                    check_consistency(&proof, m, &old_root, n, &root),
                    "m {m} n {n}"
                );
                assert!(!check_consistency(&proof, m, &flip(&old_root, 5), n, &root));
                assert!(!check_consistency(&proof, m, &old_root, n, &flip(&root, 9)));
                for k in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[k] = flip(&bad[k], k + m as usize);
                    assert!(
                        !check_consistency(&bad, m, &old_root, n, &root),
                        "m {m} n {n} k {k}"
                    );
                }
            }
        }
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Random sizes up to 400: inclusion proofs verify for the right leaf and fail for any
        /// altered proof hash.
        #[test]
        fn inclusion_holds_and_alterations_fail(n in 1u64..400, i_seed in any::<u64>(), k_seed in any::<usize>(), bit in 0usize..256) {
            let i = i_seed % n;
            let all = leaves(n);
            let empty = Frontier::empty();
            let tree = PartialTree { base: &empty, leaves: &all };
            let root = tree.subtree(0, n).unwrap();
            let proof = tree.inclusion_proof(i).unwrap();
            prop_assert!(check_inclusion(&proof, n, &root, i, &all[i as usize]));
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let k = k_seed % proof.len();
                bad[k] = flip(&bad[k], bit);
                prop_assert!(!check_inclusion(&bad, n, &root, i, &all[i as usize]));
            }
            prop_assert!(!check_inclusion(&proof, n, &flip(&root, bit), i, &all[i as usize]));
        }

        /// Random old and new sizes up to 400: consistency proofs verify, and fail for any altered
        /// proof hash or old root, and for an old tree that is not a prefix (a fork).
        #[test]
        fn consistency_holds_and_alterations_fail(n in 1u64..400, m_seed in any::<u64>(), k_seed in any::<usize>(), bit in 0usize..256) {
            let m = m_seed % n + 1;
            let all = leaves(n);
            let empty = Frontier::empty();
            let tree = PartialTree { base: &empty, leaves: &all };
            let root = tree.subtree(0, n).unwrap();
            let old_root = tree.subtree(0, m).unwrap();
            let proof = tree.consistency_proof(m).unwrap();
            prop_assert!(check_consistency(&proof, m, &old_root, n, &root));
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let k = k_seed % proof.len();
                bad[k] = flip(&bad[k], bit);
                prop_assert!(!check_consistency(&bad, m, &old_root, n, &root));
            }
            let mut forked = all[..m as usize].to_vec();
            let j = (k_seed as u64 % m) as usize;
            forked[j] = flip(&forked[j], bit);
            let forked_root = PartialTree { base: &empty, leaves: &forked }.subtree(0, m).unwrap();
            prop_assert!(!check_consistency(&proof, m, &forked_root, n, &root));
        }

        /// Proofs built from a block's base frontier equal those tlog_tiles builds from all stored
        /// hashes.
        #[test]
        fn proofs_match_tlog_tiles(n in 1u64..300, i_seed in any::<u64>()) {
            let i = i_seed % n;
            let all = leaves(n);
            let mut stored = StoredHashes(Vec::new());
            for (j, h) in all.iter().enumerate() {
                let new = tlog_tiles::stored_hashes_for_record_hash(j as u64, tlog(h), &stored).unwrap();
                stored.0.extend(new);
            }
            let empty = Frontier::empty();
            let tree = PartialTree { base: &empty, leaves: &all };
            let theirs: Vec<Hash> = tlog_tiles::prove_record(n, i, &stored).unwrap().iter().map(|h| h.0).collect();
            prop_assert_eq!(tree.inclusion_proof(i).unwrap(), theirs);
            let m = i + 1;
            let theirs: Vec<Hash> = tlog_tiles::prove_tree(n, m, &stored).unwrap().iter().map(|h| h.0).collect();
            prop_assert_eq!(tree.consistency_proof(m).unwrap(), theirs);
        }
    }
}
