//! The invocation deadline. The Lambda runtime API gives it as `Lambda-Runtime-Deadline-Ms`
//! (milliseconds since the Unix epoch), which `lambda_runtime::Context::deadline` carries; a
//! function that works through a batch asks [`Deadline::remaining`] before it takes the next
//! item, and hands back what it did not start instead of letting the timeout redeliver all.

use std::time::{Duration, SystemTime};

/// 2001-09-09T01:46:40Z in milliseconds since the epoch: no Lambda deadline is earlier.
pub const EPOCH_MILLIS_FLOOR: u64 = 1_000_000_000_000;

/// When the invocation will be stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Option<SystemTime>,
}

impl Deadline {
    /// The deadline of an invocation, from the context's milliseconds since the Unix epoch. `0`
    /// (as tests and some local emulators send) means none. A value below
    /// [`EPOCH_MILLIS_FLOOR`] is no time since the epoch but a budget from now: `cargo lambda
    /// watch` sends the constant `600000` (ten minutes) with every invocation.
    pub fn from_epoch_millis(millis: u64) -> Deadline {
        let at = match millis {
            0 => None,
            budget if budget < EPOCH_MILLIS_FLOOR => {
                Some(SystemTime::now() + Duration::from_millis(budget))
            }
            epoch => Some(SystemTime::UNIX_EPOCH + Duration::from_millis(epoch)),
        };
        Deadline { at }
    }

    /// A deadline `after` from now.
    pub fn after(after: Duration) -> Deadline {
        Deadline {
            at: Some(SystemTime::now() + after),
        }
    }

    /// No deadline at all (a direct call from a test or the CLI).
    pub fn none() -> Deadline {
        Deadline { at: None }
    }

    /// Time left; `None` when there is no deadline. Zero once it has passed.
    pub fn remaining(&self) -> Option<Duration> {
        self.at.map(|at| {
            at.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        })
    }

    /// Whether at least `needed` is left (always true without a deadline).
    pub fn allows(&self, needed: Duration) -> bool {
        self.remaining().is_none_or(|left| left >= needed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_deadline_allows_anything() {
        assert!(Deadline::none().allows(Duration::from_secs(3600)));
        assert!(Deadline::from_epoch_millis(0).remaining().is_none());
    }

    #[test]
    fn a_budget_below_any_epoch_time_counts_from_now() {
        // cargo lambda watch's constant: ten minutes from now, not 600 s after 1970.
        let budget = Deadline::from_epoch_millis(600_000);
        let left = budget.remaining().unwrap();
        assert!(left > Duration::from_secs(590) && left <= Duration::from_secs(600));
    }

    #[test]
    fn a_past_deadline_has_nothing_left() {
        let past = Deadline::from_epoch_millis(1_600_000_000_000);
        assert_eq!(past.remaining(), Some(Duration::ZERO));
        assert!(!past.allows(Duration::from_millis(1)));
    }

    #[test]
    fn a_near_deadline_refuses_what_needs_more_time() {
        let soon = Deadline::after(Duration::from_secs(5));
        assert!(soon.allows(Duration::from_secs(1)));
        assert!(!soon.allows(Duration::from_secs(60)));
    }
}
