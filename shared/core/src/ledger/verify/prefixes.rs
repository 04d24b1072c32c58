//! The compact set of identity prefixes behind the `duplicate` check (`docs/ledger.md`,
//! "Verification": memory). Verification streams; a set of every full identity would grow by
//! well over a hundred bytes per record, so it keeps, per record, the first bytes of its
//! identity and the ordinal of the block holding it: 12 bytes, in sorted runs of a fixed size
//! (no doubling of a growing table). Two records whose prefixes differ cannot have the same
//! identity; records whose prefixes are equal are candidates only, and the exact check
//! ([`super::duplicates`]) re-reads the blocks holding them and compares full identities.
//!
//! A prefix is the first 8 bytes of the identity (64 lower-case hex digits, the SHA-256 of the
//! fact a record states), or of the SHA-256 of the `id` text when it is not such a digest (a
//! record failing `identity` still counts for duplicates). The width is a parameter so that tests
//! can force collisions with a 1-byte prefix and see the exact fallback at work.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashSet};

use sha2::{Digest, Sha256};

/// The prefix width verification uses: 8 bytes. With 10 million records, the chance that any two
/// distinct identities share a prefix is about 3 in a million.
pub(super) const PREFIX_BYTES: u32 = 8;

/// Entries per sorted run: 12 MiB.
const RUN: usize = 1 << 20;

/// One record: its identity prefix and the ordinal of its block, ordered by prefix then block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry([u32; 3]);

impl Entry {
    fn new(prefix: u64, block: u32) -> Entry {
        Entry([(prefix >> 32) as u32, prefix as u32, block])
    }

    fn prefix(&self) -> u64 {
        (u64::from(self.0[0]) << 32) | u64::from(self.0[1])
    }

    fn block(&self) -> u32 {
        self.0[2]
    }
}

/// The identity prefix of an `id`, `width` bytes wide (1 to 8).
pub(super) fn prefix_of(id: &str, width: u32) -> u64 {
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
    first8 >> (64 - 8 * width.clamp(1, 8))
}

/// Prefixes that more than one record has, and the blocks holding those records.
#[derive(Debug, Default)]
pub(super) struct Collisions {
    pub prefixes: HashSet<u64>,
    /// Ordinals of the blocks to re-read, in ledger order.
    pub blocks: BTreeSet<u32>,
}

impl Collisions {
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }
}

/// Identity prefixes with the block of each, in sorted runs.
#[derive(Debug)]
pub(super) struct PrefixSet {
    width: u32,
    run: usize,
    runs: Vec<Vec<Entry>>,
    current: Vec<Entry>,
}

impl PrefixSet {
    pub fn new(width: u32) -> PrefixSet {
        PrefixSet::with_run(width, RUN)
    }

    /// A set whose sorted runs hold `run` entries (tests use small runs to merge many).
    pub fn with_run(width: u32, run: usize) -> PrefixSet {
        PrefixSet {
            width: width.clamp(1, 8),
            run: run.max(1),
            runs: Vec::new(),
            current: Vec::new(),
        }
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn len(&self) -> usize {
        self.runs.iter().map(Vec::len).sum::<usize>() + self.current.len()
    }

    /// Bytes the entries take (12 per record), for benchmarks.
    pub fn bytes(&self) -> usize {
        self.len() * std::mem::size_of::<Entry>()
    }

    pub fn insert(&mut self, id: &str, block: u32) {
        if self.current.capacity() == 0 {
            self.current.reserve_exact(self.run);
        }
        self.current
            .push(Entry::new(prefix_of(id, self.width), block));
        if self.current.len() == self.run {
            let mut run = std::mem::take(&mut self.current);
            run.sort_unstable();
            self.runs.push(run);
        }
    }

    /// Every prefix held by two records or more, with the blocks holding them; consumes the
    /// set (a merge of the sorted runs, in place but for one cursor per run).
    pub fn collisions(mut self) -> Collisions {
        if !self.current.is_empty() {
            let mut run = std::mem::take(&mut self.current);
            run.sort_unstable();
            self.runs.push(run);
        }
        let mut heads: BinaryHeap<Reverse<(Entry, usize, usize)>> = self
            .runs
            .iter()
            .enumerate()
            .filter_map(|(r, run)| run.first().map(|e| Reverse((*e, r, 0))))
            .collect();
        let mut out = Collisions::default();
        let mut previous: Option<Entry> = None;
        while let Some(Reverse((entry, r, i))) = heads.pop() {
            if let Some(next) = self.runs[r].get(i + 1) {
                heads.push(Reverse((*next, r, i + 1)));
            }
            if let Some(prev) = previous
                && prev.prefix() == entry.prefix()
            {
                out.prefixes.insert(entry.prefix());
                out.blocks.insert(prev.block());
                out.blocks.insert(entry.block());
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
        assert_eq!(prefix_of(&id, 8), 0x0123_4567_89ab_cdef);
        assert_eq!(prefix_of(&id, 1), 0x01);
        assert_eq!(prefix_of(&id, 3), 0x01_2345);
        // Not a digest (upper case, short): the prefix of its SHA-256.
        let upper = id.to_ascii_uppercase();
        assert_ne!(prefix_of(&upper, 8), prefix_of(&id, 8));
        assert_eq!(prefix_of("x", 8), prefix_of("x", 8));
        assert_ne!(prefix_of("x", 8), prefix_of("y", 8));
    }

    #[test]
    fn distinct_identities_at_full_width_do_not_collide_and_equal_ones_do() {
        let mut set = PrefixSet::new(8);
        for n in 0..10_000 {
            set.insert(&id(n), (n / 100) as u32);
        }
        assert_eq!(set.bytes(), 120_000);
        let none = PrefixSet::new(8);
        assert!(none.collisions().is_empty());
        assert!(set.collisions().is_empty());

        let mut set = PrefixSet::new(8);
        for n in 0..1000 {
            set.insert(&id(n), (n / 10) as u32);
        }
        set.insert(&id(7), 500);
        let c = set.collisions();
        assert_eq!(c.prefixes.len(), 1);
        assert_eq!(c.blocks.iter().copied().collect::<Vec<_>>(), vec![0, 500]);
    }

    #[test]
    fn collisions_across_sorted_runs_are_found() {
        let mut set = PrefixSet::with_run(8, 7);
        for n in 0..100 {
            set.insert(&id(n), n as u32);
        }
        set.insert(&id(3), 100);
        set.insert(&id(99), 101);
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
        let mut set = PrefixSet::new(1);
        // 300 identities in 300 blocks: by pigeonhole at least 44 share a first byte.
        for n in 0..300 {
            set.insert(&id(n), n as u32);
        }
        let mut by_byte = std::collections::HashMap::<u64, Vec<u32>>::new();
        for n in 0..300u64 {
            by_byte
                .entry(prefix_of(&id(n), 1))
                .or_default()
                .push(n as u32);
        }
        let expected: BTreeSet<u32> = by_byte
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
