//! The environment variables the tagger reads, in three groups the template check
//! (`scripts/template_rules`) holds `template.yaml` to: every `required` one is set on the
//! function, `optional` ones may be, `local` ones (a local S3 endpoint, a signing key in the
//! environment) must not be. The lists are built from the constants the reading code uses and
//! written to `functions/tagger/env-vars.json`, which a test keeps equal to them:
//!
//! ```text
//! {"function": "TaggerFunction", "required": ["CUSTODY_EXPORT_BUCKET", ...], "optional": [...], "local": [...]}
//! ```

use custody_aws::services::{
    ENV_COPY_MULTIPART_THRESHOLD, ENV_COPY_PART_SIZE, ENV_EXPORT_BUCKET, ENV_EXPORT_PREFIX,
    ENV_HOLD_MARKING, ENV_HOLD_SELECT, ENV_INTEGRATION, ENV_LEDGER, ENV_LEDGER_ORIGIN, ENV_MATTER,
    ENV_S3_ENDPOINT, ENV_S3_PATH_STYLE, ENV_SIGNING_KEY,
};

/// The log filter, read by `custody_lambda::log::init`.
pub const ENV_RUST_LOG: &str = "RUST_LOG";

/// No signing key: the tagger submits (`CUSTODY_INTEGRATION=sequencer`) and never signs; only
/// the sequencer is given the key's secret (`template.yaml`).
pub const REQUIRED: &[&str] = &[
    ENV_EXPORT_BUCKET,
    ENV_EXPORT_PREFIX,
    ENV_LEDGER,
    ENV_LEDGER_ORIGIN,
    ENV_HOLD_SELECT,
    ENV_HOLD_MARKING,
    ENV_MATTER,
    ENV_COPY_MULTIPART_THRESHOLD,
    ENV_INTEGRATION,
    ENV_RUST_LOG,
];

pub const OPTIONAL: &[&str] = &[ENV_COPY_PART_SIZE];

pub const LOCAL: &[&str] = &[ENV_S3_ENDPOINT, ENV_S3_PATH_STYLE, ENV_SIGNING_KEY];

/// The lists as the JSON file holds them.
pub fn as_json() -> serde_json::Value {
    serde_json::json!({
        "function": "TaggerFunction",
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
            "{path} is stale: run CUSTODY_WRITE_ENV_VARS=1 cargo test -p custody-tagger --lib env"
        );
    }
}
