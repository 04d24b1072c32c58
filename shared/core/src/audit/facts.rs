//! The facts an attestation check has seen so far (`docs/records.md`, "Attestations"): 8-byte
//! prefixes of the SHA-256 of each `hashed` and `missing` fact, kept in sorted runs of at most
//! [`RUN`] entries behind a small hash buffer. Memory is 8 bytes per fact plus at most one
//! buffer and one run of slack, with no moment where a growing table is copied whole (a
//! `HashSet<u64>` takes 10 to 20 bytes per fact and, while it grows, three times its final
//! size): the check stays far below the verification it follows, whatever the ledger's size.
//! A lookup is one hash probe and a binary search per run.

use std::collections::HashSet;

/// Entries in the hash buffer before it is sorted into the runs.
const BUFFER: usize = 1 << 16;
/// Most entries of one sorted run (8 MiB).
const RUN: usize = 1 << 20;

/// A set of `u64` facts; see the module documentation.
#[derive(Debug, Default)]
pub(super) struct FactSet {
    buffer: HashSet<u64>,
    runs: Vec<Vec<u64>>,
}

impl FactSet {
    /// Add a fact. One already in a run is stored again (a fact is rarely recorded twice, and
    /// looking it up first would cost a search per run on every insert).
    pub fn insert(&mut self, fact: u64) {
        self.buffer.insert(fact);
        if self.buffer.len() < BUFFER {
            return;
        }
        let mut sorted: Vec<u64> = self.buffer.drain().collect();
        sorted.sort_unstable();
        match self.runs.last_mut() {
            Some(last) if last.len() + sorted.len() <= RUN => {
                last.extend_from_slice(&sorted);
                last.sort_unstable();
            }
            _ => {
                let mut run = Vec::with_capacity(RUN);
                run.extend_from_slice(&sorted);
                self.runs.push(run);
            }
        }
    }

    pub fn contains(&self, fact: u64) -> bool {
        self.buffer.contains(&fact) || self.runs.iter().any(|r| r.binary_search(&fact).is_ok())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buffer.len() + self.runs.iter().map(Vec::len).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(n: u64) -> u64 {
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17)
    }

    #[test]
    fn every_fact_inserted_is_found_across_buffer_and_runs_and_no_other() {
        let mut set = FactSet::default();
        let n = 3 * BUFFER as u64 + 123;
        for i in 0..n {
            set.insert(fact(i));
            set.insert(fact(i)); // in the buffer already: stored once (but after a flush)
        }
        let flushes = n / BUFFER as u64;
        assert!(
            (n..=n + flushes).contains(&(set.len() as u64)),
            "{}",
            set.len()
        );
        assert!(!set.runs.is_empty() && !set.buffer.is_empty());
        assert!(set.runs.iter().all(|r| r.windows(2).all(|w| w[0] <= w[1])));
        for i in 0..n {
            assert!(set.contains(fact(i)), "{i}");
        }
        for i in n..n + 10_000 {
            assert!(!set.contains(fact(i)), "{i}");
        }
    }
}
