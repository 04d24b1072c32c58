//! The compact set of identity prefixes behind the `duplicate` check (`docs/ledger.md`,
//! "Verification": memory). Verification streams; a set of every full identity would grow by
//! well over a hundred bytes per record, so it keeps, per record, one `u64`: the first bits of its
//! identity above the ordinal of the block holding it (as many bits as the listing's number of
//! blocks needs: 11 for 2,000 blocks, leaving 53 bits of identity), in sorted runs of a fixed size
//! (no doubling of a growing table). Two records whose prefixes differ cannot have the same
//! identity; records whose prefixes are equal are candidates only, and the exact check
//! ([`super::duplicates`]) re-reads the blocks holding them and compares full identities.
//!
//! A prefix is taken from the first 8 bytes of the identity (64 lower-case hex digits, the
//! SHA-256 of the fact a record states), or of the SHA-256 of the `id` text when it is not such a
//! digest (a record failing `identity` still counts for duplicates). Its width is a parameter so
//! that tests can force collisions with a 1-byte prefix and see the exact fallback at work.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashSet};

use sha2::{Digest, Sha256};

/// The prefix width verification asks for: 8 bytes, less the bits the block ordinals take. With
/// 10 million records in 2,000 blocks (53 bits left), the chance that any two distinct
/// identities share a prefix is about 1 in 200, and a collision costs reading two blocks again.
pub(super) const PREFIX_BYTES: u32 = 8;

/// Entries per sorted run: 8 MiB.
const RUN: usize = 1 << 20;

/// The top `bits` bits (1 to 64) of the first 8 bytes of an `id`'s identity.
pub(super) fn prefix_of(id: &str, bits: u32) -> u64 {
    let is_digest = id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let first8 = if is_digest {
        let mut out = [0u8; 8];
        hex::decode_to_slice(&id[..16], &mut out).expect("16 hex digits");
        u64::from_be_bytes(out)
    } else {
        let digest = Sha256::digest(id.as_bytes());
        u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
    };
    first8 >> (64 - bits.clamp(1, 64))
}

/// Prefixes that more than one record has, and the blocks holding those records.
#[derive(Debug, Default)]
pub(super) struct Collisions {
    pub prefixes: HashSet<u64>,
    /// Ordinals of the blocks to re-read, in ledger order.
    pub blocks: BTreeSet<u64>,
}

impl Collisions {
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }
}

/// A block ordinal the set was not sized for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("block ordinal {0} is beyond the blocks the prefix set was sized for")]
pub(super) struct OrdinalTooLarge(pub u64);

/// Identity prefixes with the block of each, in sorted runs; see the module documentation.
#[derive(Debug)]
pub(super) struct PrefixSet {
    prefix_bits: u32,
    ordinal_bits: u32,
    run: usize,
    runs: Vec<Vec<u64>>,
    current: Vec<u64>,
}

impl PrefixSet {
    /// A set for the records of up to `blocks` blocks, keeping prefixes of up to `width` bytes
    /// (1 to 8; fewer bits when the ordinals need them).
    pub fn new(width: u32, blocks: u64) -> PrefixSet {
        PrefixSet::with_run(width, blocks, RUN)
    }

    /// A set whose sorted runs hold `run` entries (tests use small runs to merge many).
    pub fn with_run(width: u32, blocks: u64, run: usize) -> PrefixSet {
        let ordinal_bits = (64 - blocks.saturating_sub(1).leading_zeros()).min(48);
        PrefixSet {
            prefix_bits: (8 * width.clamp(1, 8)).min(64 - ordinal_bits),
            ordinal_bits,
            run: run.max(1),
            runs: Vec::new(),
            current: Vec::new(),
        }
    }

    /// The bits of identity each entry keeps.
    pub fn prefix_bits(&self) -> u32 {
        self.prefix_bits
    }

    pub fn len(&self) -> usize {
        self.runs.iter().map(Vec::len).sum::<usize>() + self.current.len()
    }

    /// Bytes the entries take (8 per record), for benchmarks.
    pub fn bytes(&self) -> usize {
        self.len() * std::mem::size_of::<u64>()
    }

    pub fn insert(&mut self, id: &str, block: u64) -> Result<(), OrdinalTooLarge> {
        if self.ordinal_bits < 64 && block >> self.ordinal_bits != 0 {
            return Err(OrdinalTooLarge(block));
        }
        if self.current.capacity() == 0 {
            self.current.reserve_exact(self.run);
        }
        let prefix = prefix_of(id, self.prefix_bits);
        let entry = prefix.checked_shl(self.ordinal_bits).unwrap_or(0) | block;
        self.current.push(entry);
        if self.current.len() == self.run {
            let mut run = std::mem::take(&mut self.current);
            run.sort_unstable();
            self.runs.push(run);
        }
        Ok(())
    }

    /// Every prefix held by two records or more, with the blocks holding them; consumes the
    /// set (a merge of the sorted runs, in place but for one cursor per run).
    pub fn collisions(mut self) -> Collisions {
        if !self.current.is_empty() {
            let mut run = std::mem::take(&mut self.current);
            run.sort_unstable();
            self.runs.push(run);
        }
        let ordinal_mask = (1u64 << self.ordinal_bits) - 1;
        let prefix = |entry: u64| entry.checked_shr(self.ordinal_bits).unwrap_or(0);
        let mut heads: BinaryHeap<Reverse<(u64, usize, usize)>> = self
            .runs
            .iter()
            .enumerate()
            .filter_map(|(r, run)| run.first().map(|e| Reverse((*e, r, 0))))
            .collect();
        let mut out = Collisions::default();
        let mut previous: Option<u64> = None;
        while let Some(Reverse((entry, r, i))) = heads.pop() {
            if let Some(next) = self.runs[r].get(i + 1) {
                heads.push(Reverse((*next, r, i + 1)));
            }
            if let Some(prev) = previous
                && prefix(prev) == prefix(entry)
            {
                out.prefixes.insert(prefix(entry));
                out.blocks.insert(prev & ordinal_mask);
                out.blocks.insert(entry & ordinal_mask);
            }
            previous = Some(entry);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> String {
        hex::encode(Sha256::digest(n.to_be_bytes()))
    }

    #[test]
    fn a_prefix_is_the_first_bytes_of_the_identity() {
        let id = "0123456789abcdef".repeat(4);
        assert_eq!(prefix_of(&id, 64), 0x0123_4567_89ab_cdef);
        assert_eq!(prefix_of(&id, 8), 0x01);
        assert_eq!(prefix_of(&id, 24), 0x01_2345);
        assert_eq!(prefix_of(&id, 53), 0x0123_4567_89ab_cdef >> 11);
        // Not a digest (upper case, short): the prefix of its SHA-256.
        let upper = id.to_ascii_uppercase();
        assert_ne!(prefix_of(&upper, 64), prefix_of(&id, 64));
        assert_eq!(prefix_of("x", 64), prefix_of("x", 64));
        assert_ne!(prefix_of("x", 64), prefix_of("y", 64));
    }

    #[test]
    fn the_ordinals_take_the_bits_they_need_and_no_more() {
        assert_eq!(PrefixSet::new(8, 1).prefix_bits(), 64);
        assert_eq!(PrefixSet::new(8, 2).prefix_bits(), 63);
        assert_eq!(PrefixSet::new(8, 2000).prefix_bits(), 53);
        assert_eq!(PrefixSet::new(8, 2048).prefix_bits(), 53);
        assert_eq!(PrefixSet::new(8, 2049).prefix_bits(), 52);
        assert_eq!(PrefixSet::new(1, 2000).prefix_bits(), 8);
        let mut set = PrefixSet::new(8, 2000);
        assert_eq!(set.insert(&id(1), 2047), Ok(()));
        assert_eq!(set.insert(&id(2), 2048), Err(OrdinalTooLarge(2048)));
        let mut one = PrefixSet::new(8, 1);
        assert_eq!(one.insert(&id(1), 0), Ok(()));
        assert_eq!(one.insert(&id(1), 0), Ok(()));
        assert_eq!(one.insert(&id(2), 1), Err(OrdinalTooLarge(1)));
        let c = one.collisions();
        assert_eq!(c.prefixes, [prefix_of(&id(1), 64)].into());
        assert_eq!(c.blocks, [0].into());
    }

    #[test]
    fn distinct_identities_at_full_width_do_not_collide_and_equal_ones_do() {
        let mut set = PrefixSet::new(8, 100);
        for n in 0..10_000 {
            set.insert(&id(n), n / 100).unwrap();
        }
        assert_eq!(set.bytes(), 80_000);
        let none = PrefixSet::new(8, 0);
        assert!(none.collisions().is_empty());
        assert!(set.collisions().is_empty());

        let mut set = PrefixSet::new(8, 501);
        for n in 0..1000 {
            set.insert(&id(n), n / 10).unwrap();
        }
        set.insert(&id(7), 500).unwrap();
        let c = set.collisions();
        assert_eq!(c.prefixes.len(), 1);
        assert_eq!(c.blocks.iter().copied().collect::<Vec<_>>(), vec![0, 500]);
    }

    #[test]
    fn collisions_across_sorted_runs_are_found() {
        let mut set = PrefixSet::with_run(8, 102, 7);
        for n in 0..100 {
            set.insert(&id(n), n).unwrap();
        }
        set.insert(&id(3), 100).unwrap();
        set.insert(&id(99), 101).unwrap();
        assert_eq!(set.len(), 102);
        let c = set.collisions();
        assert_eq!(c.prefixes.len(), 2);
        assert_eq!(
            c.blocks.iter().copied().collect::<Vec<_>>(),
            vec![3, 99, 100, 101]
        );
    }

    #[test]
    fn a_one_byte_prefix_collides_and_names_every_block_involved() {
        let mut set = PrefixSet::new(1, 300);
        // 300 identities in 300 blocks: by pigeonhole at least 44 share a first byte.
        for n in 0..300 {
            set.insert(&id(n), n).unwrap();
        }
        let mut by_byte = std::collections::HashMap::<u64, Vec<u64>>::new();
        for n in 0..300u64 {
            by_byte.entry(prefix_of(&id(n), 8)).or_default().push(n);
        }
        let expected: BTreeSet<u64> = by_byte
            .values()
            .filter(|b| b.len() > 1)
            .flatten()
            .copied()
            .collect();
        let c = set.collisions();
        assert!(expected.len() >= 44);
        assert_eq!(c.blocks, expected);
        assert_eq!(
            c.prefixes.len(),
            by_byte.values().filter(|b| b.len() > 1).count()
        );
    }
}
