//! Pages of `/records`: a Function URL response is at most 6 MB, so a query that matches more
//! than one page answers with `next`, an opaque continuation token, and the caller asks again
//! with `?next=<token>` and the same filter. The token is base64url (no padding) of
//! `after:<leaf index>`: records are in ledger order, and the next page starts after the last
//! leaf returned, so appends between pages never shift what a page holds.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Records per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 500;
/// The most records one page may hold.
pub const MAX_LIMIT: usize = 5_000;
/// Serialised records per page stay under this, well inside the 6 MB response limit.
pub const MAX_PAGE_BYTES: usize = 5 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("query parameter next: not a continuation token this auditor issued")]
    BadToken,
    #[error("query parameter limit: {0:?} is not a number from 1 to {MAX_LIMIT}")]
    BadLimit(String),
}

/// The token for a page that continues after `leaf_index`.
pub fn token_after(leaf_index: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("after:{leaf_index}"))
}

/// The leaf index a token continues after.
pub fn parse_token(token: &str) -> Result<u64, PageError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim())
        .map_err(|_| PageError::BadToken)?;
    let text = String::from_utf8(bytes).map_err(|_| PageError::BadToken)?;
    text.strip_prefix("after:")
        .and_then(|n| n.parse().ok())
        .ok_or(PageError::BadToken)
}

pub fn parse_limit(limit: Option<&String>) -> Result<usize, PageError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(PageError::BadLimit(text.clone())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_garbage_is_refused() {
        assert_eq!(parse_token(&token_after(41)).unwrap(), 41);
        assert_eq!(parse_token("bm9wZQ"), Err(PageError::BadToken));
        assert_eq!(parse_token("%%%"), Err(PageError::BadToken));
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(parse_limit(Some(&"7".to_string())).unwrap(), 7);
        assert!(parse_limit(Some(&"0".to_string())).is_err());
        assert!(parse_limit(Some(&"5001".to_string())).is_err());
        assert!(parse_limit(Some(&"many".to_string())).is_err());
    }
}
