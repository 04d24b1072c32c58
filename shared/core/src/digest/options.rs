//! How hard to push: part size, concurrency, memory budget, retries.

use super::RetryPolicy;

const MIB: u64 = 1024 * 1024;

/// Options of the hashing engine. [`HashOptions::default`] scales concurrency to the cores.
#[derive(Debug, Clone)]
pub struct HashOptions {
    /// Objects larger than this are read as ranged GETs of this size (the same version each time).
    pub part_size: u64,
    /// Ranged GETs of one object in flight at once (the part being hashed included), and no
    /// more than half the memory budget's worth when `object_concurrency` > 1, so that two
    /// objects always hash at once.
    pub part_concurrency: usize,
    /// Objects hashed at once by [`hash_many`](super::hash_many).
    pub object_concurrency: usize,
    /// Bytes that may sit in buffers at once across all objects of one engine (parts being fetched,
    /// waiting for their turn, or being hashed). Parts larger than this are shrunk to fit.
    pub memory_budget: u64,
    /// Compute MD5 in the same pass and compare it with the ETag when the ETag is an MD5.
    pub verify_etag_md5: bool,
    pub retry: RetryPolicy,
}

impl Default for HashOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        HashOptions {
            // 4 parts of 4 MiB per object, half the budget: two objects hash at once (one
            // core each) with enough GETs in flight to keep the connection busy.
            part_size: 4 * MIB,
            part_concurrency: 4,
            object_concurrency: (16 * cores).max(16),
            memory_budget: 32 * MIB,
            verify_etag_md5: true,
            retry: RetryPolicy::default(),
        }
    }
}

impl HashOptions {
    /// The options with every value in its usable range.
    pub(crate) fn normalized(&self) -> HashOptions {
        let memory_budget = self.memory_budget.max(1);
        HashOptions {
            part_size: self.part_size.clamp(1, memory_budget),
            part_concurrency: self.part_concurrency.max(1),
            object_concurrency: self.object_concurrency.max(1),
            memory_budget,
            verify_etag_md5: self.verify_etag_md5,
            retry: self.retry.normalized(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_never_exceed_the_budget_and_nothing_is_zero() {
        let options = HashOptions {
            part_size: 0,
            part_concurrency: 0,
            object_concurrency: 0,
            memory_budget: 0,
            ..HashOptions::default()
        }
        .normalized();
        assert_eq!(options.part_size, 1);
        assert_eq!(options.part_concurrency, 1);
        assert_eq!(options.object_concurrency, 1);

        let big = HashOptions {
            part_size: 100 * MIB,
            memory_budget: 16 * MIB,
            ..HashOptions::default()
        }
        .normalized();
        assert_eq!(big.part_size, 16 * MIB);
    }
}
