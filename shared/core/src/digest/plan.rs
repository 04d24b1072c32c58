//! Splitting one object into the byte ranges fetched as separate GETs.

use crate::store::ByteRange;

/// One piece of an object to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Part {
    /// Offset of the first byte in the object.
    pub offset: u64,
    pub len: u64,
    /// Whether this part is the whole object (fetched without a `Range` header, which also works
    /// for empty objects, where any range is unsatisfiable).
    pub whole: bool,
}

impl Part {
    /// The range still to fetch after `received` bytes of this part arrived, or `None` to ask
    /// for the whole object.
    pub fn remaining(&self, received: u64) -> Option<ByteRange> {
        if self.whole && received == 0 {
            return None;
        }
        Some(ByteRange {
            first: self.offset + received,
            last: self.offset + self.len - 1,
        })
    }
}

/// The parts of an object of `size` bytes, lazily (a huge object does not need a huge list).
pub(crate) fn parts(size: u64, part_size: u64) -> impl Iterator<Item = Part> + Send + 'static {
    let part_size = part_size.max(1);
    let count = if size <= part_size {
        1
    } else {
        size.div_ceil(part_size)
    };
    (0..count).map(move |index| {
        let offset = index * part_size;
        Part {
            offset,
            len: (size - offset).min(part_size),
            whole: count == 1,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_empty_objects_are_one_whole_part() {
        let empty: Vec<Part> = parts(0, 8).collect();
        assert_eq!(
            empty,
            [Part {
                offset: 0,
                len: 0,
                whole: true
            }]
        );
        assert_eq!(empty[0].remaining(0), None);
        let exact: Vec<Part> = parts(8, 8).collect();
        assert_eq!(
            exact,
            [Part {
                offset: 0,
                len: 8,
                whole: true
            }]
        );
    }

    #[test]
    fn large_objects_are_covered_exactly_once() {
        let all: Vec<Part> = parts(20, 8).collect();
        assert_eq!(
            all.iter().map(|p| (p.offset, p.len)).collect::<Vec<_>>(),
            [(0, 8), (8, 8), (16, 4)]
        );
        assert!(all.iter().all(|p| !p.whole));
        assert_eq!(all[1].remaining(0), Some(ByteRange { first: 8, last: 15 }));
        assert_eq!(
            all[1].remaining(5),
            Some(ByteRange {
                first: 13,
                last: 15
            })
        );
    }

    #[test]
    fn resuming_a_whole_object_asks_for_the_rest() {
        let whole = parts(10, 16).next().unwrap();
        assert_eq!(whole.remaining(4), Some(ByteRange { first: 4, last: 9 }));
    }
}
