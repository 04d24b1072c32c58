//! The environment variables the auditor reads, grouped as for the tagger (`required`,
//! `optional`, `local`; see `custody_tagger::env`) and written to
//! `functions/auditor/env-vars.json`, which a test keeps equal to these lists.

use custody_aws::services::{ENV_LEDGER, ENV_LEDGER_ORIGIN, ENV_S3_ENDPOINT, ENV_S3_PATH_STYLE};

use crate::trust::{ENV_PINNED_CHECKPOINT, ENV_TRUSTED_KEYS};

/// The log filter, read by `custody_lambda::log::init`.
pub const ENV_RUST_LOG: &str = "RUST_LOG";

pub const REQUIRED: &[&str] = &[
    ENV_LEDGER,
    ENV_LEDGER_ORIGIN,
    ENV_TRUSTED_KEYS,
    ENV_RUST_LOG,
];

pub const OPTIONAL: &[&str] = &[ENV_PINNED_CHECKPOINT];

pub const LOCAL: &[&str] = &[ENV_S3_ENDPOINT, ENV_S3_PATH_STYLE];

/// The lists as the JSON file holds them.
pub fn as_json() -> serde_json::Value {
    serde_json::json!({
        "function": "AuditorFunction",
        "required": REQUIRED,
        "optional": OPTIONAL,
        "local": LOCAL,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_vars_json_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/env-vars.json");
        let want = format!("{:#}\n", super::as_json());
        if std::env::var_os("CUSTODY_WRITE_ENV_VARS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            have, want,
            "{path} is stale: run CUSTODY_WRITE_ENV_VARS=1 cargo test -p custody-auditor --lib env"
        );
    }
}
