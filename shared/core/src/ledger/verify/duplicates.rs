//! The exact `duplicate` check (`docs/ledger.md`, "Verification"): an identity at two leaves is
//! reported at the later leaf, naming the first one. Only records whose identity prefix another
//! record shares ([`super::prefixes`]) can be duplicates; their blocks are read again, in ledger
//! order, and their full identities compared here, so a prefix collision between distinct
//! identities is never reported and every real duplicate is, with both leaves.

use std::collections::{HashMap, HashSet};

use super::prefixes::prefix_of;
use super::report::{Failure, LedgerCheck};

/// The full identities of the records whose prefixes collide, in ledger order.
pub(super) struct ExactDuplicates {
    /// The bits of identity the prefixes keep.
    bits: u32,
    /// The prefixes that collide; `None`: every identity is compared.
    prefixes: Option<HashSet<u64>>,
    /// The first leaf of each identity seen (`None` when its leaf index does not fit 64 bits).
    first: HashMap<String, Option<u64>>,
    pub failures: Vec<Failure>,
}

impl ExactDuplicates {
    pub fn new(bits: u32, prefixes: HashSet<u64>) -> ExactDuplicates {
        ExactDuplicates {
            bits,
            prefixes: Some(prefixes),
            first: HashMap::new(),
            failures: Vec::new(),
        }
    }

    /// Compare every identity (when no prefix set could be kept).
    pub fn everything() -> ExactDuplicates {
        ExactDuplicates {
            bits: 64,
            prefixes: None,
            first: HashMap::new(),
            failures: Vec::new(),
        }
    }

    /// The records of the block at `position` (in place), in order: the leaf and identity of
    /// each record that is a custody record. Blocks must come in ledger order.
    pub fn visit(&mut self, position: u64, ids: impl IntoIterator<Item = (Option<u64>, String)>) {
        for (leaf, id) in ids {
            if let Some(prefixes) = &self.prefixes
                && !prefixes.contains(&prefix_of(&id, self.bits))
            {
                continue;
            }
            match self.first.get(&id) {
                Some(first) => {
                    let at = first
                        .map_or_else(|| "an earlier leaf".to_string(), |l| format!("leaf {l}"));
                    self.failures.push(Failure {
                        check: LedgerCheck::Duplicate,
                        block: Some(position),
                        leaf,
                        message: format!("identity {id} is already at {at}"),
                    });
                }
                None => {
                    self.first.insert(id, leaf);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_equal_identities_are_duplicates_and_the_first_leaf_is_named() {
        let a = "ab".repeat(32);
        let b = format!("ab{}", "cd".repeat(31)); // same first byte as `a`
        let prefixes: HashSet<u64> = [prefix_of(&a, 8)].into();
        let mut exact = ExactDuplicates::new(8, prefixes);
        exact.visit(1, [(Some(3), a.clone()), (Some(4), b.clone())]);
        exact.visit(2, [(Some(9), b), (Some(10), a.clone()), (None, a.clone())]);
        let found: Vec<(Option<u64>, Option<u64>, String)> = exact
            .failures
            .iter()
            .map(|f| (f.block, f.leaf, f.message.clone()))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    Some(2),
                    Some(9),
                    format!(
                        "identity {} is already at leaf 4",
                        "ab".to_string() + &"cd".repeat(31)
                    )
                ),
                (
                    Some(2),
                    Some(10),
                    format!("identity {a} is already at leaf 3")
                ),
                (Some(2), None, format!("identity {a} is already at leaf 3")),
            ]
        );
    }
}
