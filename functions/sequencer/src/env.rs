//! The environment variables the sequencer reads, in the three groups the template check
//! (`scripts/template_rules`) holds `template.yaml` to, written to
//! `functions/sequencer/env-vars.json`, which a test keeps equal to these lists:
//!
//! ```text
//! {"function": "SequencerFunction", "required": ["CUSTODY_LEDGER", ...], "optional": [], "local": [...]}
//! ```

use custody_aws::services::{
    ENV_LEDGER, ENV_LEDGER_ORIGIN, ENV_S3_ENDPOINT, ENV_S3_PATH_STYLE, ENV_SIGNING_KEY,
    ENV_SIGNING_KEY_SECRET_ARN,
};

/// The log filter, read by `custody_lambda::log::init`.
pub const ENV_RUST_LOG: &str = "RUST_LOG";

pub const REQUIRED: &[&str] = &[
    ENV_LEDGER,
    ENV_LEDGER_ORIGIN,
    ENV_SIGNING_KEY_SECRET_ARN,
    ENV_RUST_LOG,
];

pub const OPTIONAL: &[&str] = &[];

pub const LOCAL: &[&str] = &[ENV_S3_ENDPOINT, ENV_S3_PATH_STYLE, ENV_SIGNING_KEY];

/// The lists as the JSON file holds them.
pub fn as_json() -> serde_json::Value {
    serde_json::json!({
        "function": "SequencerFunction",
        "required": REQUIRED,
        "optional": OPTIONAL,
        "local": LOCAL,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_vars_json_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/env-vars.json");
        let want = format!("{:#}\n", super::as_json());
        if std::env::var_os("CUSTODY_WRITE_ENV_VARS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            have, want,
            "{path} is stale: run CUSTODY_WRITE_ENV_VARS=1 cargo test -p custody-sequencer --lib env"
        );
    }
}
