//! The configuration of a run, read the same way by the Lambda functions (environment variables)
//! and the CLI (flags whose values default to the same variables). Every error names the setting.

use std::sync::Arc;

use custody_core::digest::HashOptions;
use custody_core::export::ExportScope;
use custody_core::hold::{
    HoldPolicy, MatterRegister, PolicySettings, RegisterLocation, SelectionSpec,
};
use custody_core::ingest::{IngestConfig, Integration};
use custody_core::ledger::{KeySource, Ledger, LedgerConfig, Signer};
use custody_core::store::ObjectStore;
use custody_core::store::retrying::{RetryPolicy, RetryingStore};

use crate::location::open;
use crate::s3::{S3Options, StaticCredentials};
use crate::secrets::load_signer;

pub const ENV_EXPORT_BUCKET: &str = "CUSTODY_EXPORT_BUCKET";
pub const ENV_EXPORT_PREFIX: &str = "CUSTODY_EXPORT_PREFIX";
pub const ENV_LEDGER: &str = "CUSTODY_LEDGER";
pub const ENV_LEDGER_ORIGIN: &str = "CUSTODY_LEDGER_ORIGIN";
pub use custody_core::hold::{
    ENV_COPY_MULTIPART_THRESHOLD, ENV_COPY_PART_SIZE, ENV_HOLD_MARKING, ENV_HOLD_SELECT,
};
pub const ENV_MATTER: &str = "CUSTODY_MATTER";
pub const ENV_SIGNING_KEY_SECRET_ARN: &str = "CUSTODY_SIGNING_KEY_SECRET_ARN";
pub const ENV_SIGNING_KEY: &str = "CUSTODY_SIGNING_KEY";
pub const ENV_S3_ENDPOINT: &str = "CUSTODY_S3_ENDPOINT";
pub const ENV_S3_PATH_STYLE: &str = "CUSTODY_S3_PATH_STYLE";
/// `inline` (default): a run integrates its submissions; `sequencer`: it only submits, and the
/// sequencer function integrates.
pub const ENV_INTEGRATION: &str = "CUSTODY_INTEGRATION";

pub const DEFAULT_ORIGIN: &str = "custody.local/ledger";

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct SettingError {
    pub setting: String,
    pub problem: String,
}

fn problem(setting: &str, problem: impl Into<String>) -> SettingError {
    SettingError {
        setting: setting.to_string(),
        problem: problem.into(),
    }
}

/// Every setting as text, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `s3://bucket` or a folder standing in for the bucket.
    pub export: String,
    pub export_prefix: String,
    /// `s3://bucket/prefix` or a folder.
    pub ledger: String,
    pub origin: Option<String>,
    /// What is held: `all` | `matters:<s3://bucket/key or path>` | `field:<dotted.path>=<value>`.
    pub hold_select: String,
    /// Comma-separated `tags`, `metadata`, `object-lock`.
    pub hold_marking: String,
    /// The matter written on every hold when the selection names none (`all`, `field:`).
    pub matter: Option<String>,
    /// `arn:aws:secretsmanager:...`, `env:VAR`, `file:PATH` or a path.
    pub signing_key: Option<String>,
    pub copy_multipart_threshold: Option<String>,
    pub copy_part_size: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_path_style: bool,
    /// The buckets' region; `None` = the standard chain (`AWS_REGION`, profile, IMDS).
    pub s3_region: Option<String>,
    /// An access key given explicitly (a local S3 server); `None` = the standard chain.
    pub s3_credentials: Option<StaticCredentials>,
    /// `inline` (or empty) or `sequencer` (also `submit-only`).
    pub integration: Option<String>,
}

/// The services a run needs, built from [`Settings`] and checked.
pub struct Services {
    pub export: Arc<dyn ObjectStore>,
    pub ledger: Ledger,
    pub config: IngestConfig,
}

impl Settings {
    /// Read the Lambda function's environment. The export bucket names an S3 bucket.
    pub fn from_env() -> Result<Settings, SettingError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let bucket = var(ENV_EXPORT_BUCKET).ok_or_else(|| problem(ENV_EXPORT_BUCKET, "not set"))?;
        Ok(Settings {
            export: format!("s3://{bucket}"),
            export_prefix: var(ENV_EXPORT_PREFIX).unwrap_or_default(),
            ledger: var(ENV_LEDGER).ok_or_else(|| problem(ENV_LEDGER, "not set"))?,
            origin: var(ENV_LEDGER_ORIGIN),
            hold_select: var(ENV_HOLD_SELECT).unwrap_or_default(),
            hold_marking: var(ENV_HOLD_MARKING).unwrap_or_default(),
            matter: var(ENV_MATTER),
            signing_key: var(ENV_SIGNING_KEY_SECRET_ARN)
                .or_else(|| var(ENV_SIGNING_KEY).map(|_| format!("env:{ENV_SIGNING_KEY}"))),
            copy_multipart_threshold: var(ENV_COPY_MULTIPART_THRESHOLD),
            copy_part_size: var(ENV_COPY_PART_SIZE),
            s3_endpoint: var(ENV_S3_ENDPOINT),
            s3_path_style: var(ENV_S3_PATH_STYLE).is_some_and(|v| v == "true" || v == "1"),
            s3_region: None,
            s3_credentials: None,
            integration: var(ENV_INTEGRATION),
        })
    }

    /// The settings the integrator reads: the ledger, its origin, the signing key and the S3
    /// endpoint (no export).
    pub fn ledger_from_env() -> Result<Settings, SettingError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Ok(Settings {
            ledger: var(ENV_LEDGER).ok_or_else(|| problem(ENV_LEDGER, "not set"))?,
            origin: var(ENV_LEDGER_ORIGIN),
            signing_key: var(ENV_SIGNING_KEY_SECRET_ARN)
                .or_else(|| var(ENV_SIGNING_KEY).map(|_| format!("env:{ENV_SIGNING_KEY}"))),
            s3_endpoint: var(ENV_S3_ENDPOINT),
            s3_path_style: var(ENV_S3_PATH_STYLE).is_some_and(|v| v == "true" || v == "1"),
            ..Settings::default()
        })
    }

    pub fn s3_options(&self) -> S3Options {
        let mut options = S3Options::new("");
        options.endpoint = self.s3_endpoint.clone();
        options.force_path_style = self.s3_path_style;
        options.region = self.s3_region.clone();
        options.credentials = self.s3_credentials.clone();
        options
    }

    /// Who integrates a run's submissions ([`ENV_INTEGRATION`]).
    pub fn integration(&self) -> Result<Integration, SettingError> {
        let text = self.integration.as_deref().unwrap_or("");
        Integration::parse(text).ok_or_else(|| {
            problem(
                ENV_INTEGRATION,
                format!("{text:?} is neither \"inline\" nor \"sequencer\""),
            )
        })
    }

    pub fn origin(&self) -> String {
        self.origin
            .clone()
            .unwrap_or_else(|| DEFAULT_ORIGIN.to_string())
    }

    /// The hold policy these settings describe, with the matter register loaded.
    pub async fn hold_policy(&self) -> Result<HoldPolicy, SettingError> {
        let policy = PolicySettings::from_lookup(|name| match name {
            ENV_HOLD_SELECT => Some(self.hold_select.clone()),
            ENV_HOLD_MARKING => Some(self.hold_marking.clone()),
            ENV_COPY_MULTIPART_THRESHOLD => self.copy_multipart_threshold.clone(),
            ENV_COPY_PART_SIZE => self.copy_part_size.clone(),
            _ => None,
        })
        .map_err(|e| problem(&e.setting, e.problem))?;
        let register = match &policy.selection {
            SelectionSpec::Matters(location) => Some(self.load_register(location).await?),
            _ => None,
        };
        let mut policy = policy
            .into_policy(register)
            .map_err(|e| problem(&e.setting, e.problem))?;
        policy.default_matter = self.matter.clone();
        Ok(policy)
    }

    async fn load_register(
        &self,
        location: &RegisterLocation,
    ) -> Result<MatterRegister, SettingError> {
        let store = match location {
            RegisterLocation::S3 { bucket, .. } => Some(
                open(&format!("s3://{bucket}"), &self.s3_options())
                    .await
                    .map_err(|e| problem(ENV_HOLD_SELECT, e.to_string()))?
                    .store,
            ),
            RegisterLocation::Path(_) => None,
        };
        MatterRegister::load(
            location,
            store
                .as_deref()
                .map(|s| s as &dyn custody_core::store::StoreRead),
        )
        .await
        .map_err(|e| problem(ENV_HOLD_SELECT, e.to_string()))
    }

    /// The ledger alone, with the signing key when one is configured: what the integrator (the
    /// sequencer function, `custody integrate`) needs.
    pub async fn ledger_writer(&self) -> Result<Ledger, SettingError> {
        let signer = match &self.signing_key {
            Some(spec) => Some(
                load_signer(&KeySource::parse(spec))
                    .await
                    .map_err(|e| problem(ENV_SIGNING_KEY_SECRET_ARN, e.to_string()))?,
            ),
            None => None,
        };
        self.open_ledger(signer).await
    }

    /// The ledger, signing with `signer` (none: it reads and submits only).
    async fn open_ledger(&self, signer: Option<Signer>) -> Result<Ledger, SettingError> {
        if !self.ledger.starts_with("s3://") {
            // A new local ledger starts as an empty folder.
            std::fs::create_dir_all(self.ledger.trim_start_matches("file://"))
                .map_err(|e| problem(ENV_LEDGER, format!("creating {}: {e}", self.ledger)))?;
        }
        let ledger_store = open(&self.ledger, &self.s3_options())
            .await
            .map_err(|e| problem(ENV_LEDGER, e.to_string()))?;
        // The ledger's reads (blocks, submissions, keys) are retried in the run like the
        // export's: a transient error on one read must not fail a whole integration.
        let ledger_reads: Arc<dyn ObjectStore> = Arc::new(RetryingStore::new(
            ledger_store.store,
            RetryPolicy::default(),
        ));
        Ledger::open(
            ledger_reads,
            &ledger_store.prefix,
            LedgerConfig::new(self.origin()),
            signer,
        )
        .await
        .map_err(|e| problem(ENV_LEDGER, e.to_string()))
    }

    /// Open the stores, load the key and the register: everything a run needs.
    pub async fn services(&self) -> Result<Services, SettingError> {
        let export = open(&self.export, &self.s3_options())
            .await
            .map_err(|e| problem(ENV_EXPORT_BUCKET, e.to_string()))?;
        let integration = self.integration()?;
        let ledger = match integration {
            // A run that only submits never signs: it does not load the key (the tagger's role
            // has no access to the secret; only the sequencer signs).
            Integration::SubmitOnly => self.open_ledger(None).await?,
            Integration::Inline => self.ledger_writer().await?,
        };
        let bucket = export.store.bucket().to_string();
        let prefix = if self.export_prefix.is_empty() {
            export.prefix.clone()
        } else {
            self.export_prefix.clone()
        };
        Ok(Services {
            export: export.store,
            ledger,
            config: IngestConfig {
                hash: HashOptions::default(),
                integration,
                ..IngestConfig::new(ExportScope::new(bucket, prefix), self.hold_policy().await?)
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_submit_only_run_never_loads_the_signing_key() {
        let dir = tempfile::tempdir().unwrap();
        let export = dir.path().join("export");
        std::fs::create_dir_all(&export).unwrap();
        let settings = Settings {
            export: export.display().to_string(),
            ledger: dir.path().join("ledger").display().to_string(),
            hold_marking: "tags".to_string(),
            hold_select: "all".to_string(),
            // A key that cannot be loaded: only a run that signs may try.
            signing_key: Some("file:/nonexistent/custody-test.key".to_string()),
            integration: Some("sequencer".to_string()),
            ..Settings::default()
        };
        let services = settings.services().await;
        assert!(services.is_ok(), "{:?}", services.err());

        let inline = Settings {
            integration: Some("inline".to_string()),
            ..settings
        };
        let refused = inline.services().await.err().expect("the key is needed");
        assert!(
            refused.to_string().contains(ENV_SIGNING_KEY_SECRET_ARN),
            "{refused}"
        );
    }
}
