//! A SeaweedFS server whose identities are the template's roles ([`crate::template`]): the
//! tagger, sequencer and auditor as `template.yaml` grants them (with every marking, so every
//! conditional grant of the tagger is in), and for each role's coarse action a copy of the role
//! without it. Buckets are named before the server starts (identities name them): an export bucket
//! with Object Lock holding `samples/export/` under [`EXPORT_PREFIX`], and a ledger bucket with
//! Object Lock and a default retention, the ledger under `ledger/` as the template places it.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow};
use aws_sdk_s3::types::{
    DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode,
    ObjectLockRule,
};
use custody_core::store::BucketSpec;

use crate::template::{Template, role_grants, seaweed_actions};
use crate::{IdentitySpec, SeaweedFs, unique_bucket, workspace_root};

/// The export prefix the template is instantiated with (the samples' organization id).
pub const EXPORT_PREFIX: &str = "3f1c9a52-7d0e-4b8a-9c61-0a2b4c6d8e10/";
/// The ledger's place in its bucket, as `template.yaml` sets `CUSTODY_LEDGER`.
pub const LEDGER_PREFIX: &str = "ledger";
/// The hold marking the template is instantiated with: every mechanism, every grant.
pub const MARKING: &str = "tags,metadata,object-lock";

/// The roles under test, by template logical id and identity name.
pub const ROLES: &[(&str, &str)] = &[
    ("TaggerRole", "tagger"),
    ("SequencerRole", "sequencer"),
    ("AuditorRole", "auditor"),
];

/// The server, its buckets and its identities.
pub struct PrivilegeWorld {
    pub server: SeaweedFs,
    pub export_bucket: String,
    pub ledger_bucket: String,
    /// Role identity name -> identity (`tagger`, `sequencer`, `auditor`).
    pub roles: BTreeMap<String, IdentitySpec>,
    /// (role identity name, removed coarse action, identity without it).
    pub without: Vec<(String, String, IdentitySpec)>,
    /// Every uploaded key with the version its upload created.
    pub versions: BTreeMap<String, String>,
}

/// The template's SeaweedFS actions of each role, instantiated for these buckets.
pub fn template_role_actions(
    export_bucket: &str,
    ledger_bucket: &str,
) -> Result<BTreeMap<String, Vec<String>>> {
    let path = workspace_root().join("template.yaml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    let template = Template::parse(
        &text,
        &[
            ("ExportBucketName", export_bucket),
            ("ExportPrefix", EXPORT_PREFIX),
            ("Marking", MARKING),
            (
                "SigningKeySecretArn",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:custody-key-AbCdEf",
            ),
        ],
        &[("LedgerBucket", ledger_bucket)],
    )?;
    let mut out = BTreeMap::new();
    for (role_id, name) in ROLES {
        let grants = role_grants(&template, role_id)?;
        out.insert(name.to_string(), seaweed_actions(&grants)?);
    }
    Ok(out)
}

impl PrivilegeWorld {
    pub async fn start(label: &str) -> Result<PrivilegeWorld> {
        let export_bucket = unique_bucket(&format!("{label}-exp"));
        let ledger_bucket = unique_bucket(&format!("{label}-led"));
        let actions = template_role_actions(&export_bucket, &ledger_bucket)?;
        let mut roles = BTreeMap::new();
        let mut without = Vec::new();
        for (name, acts) in &actions {
            roles.insert(name.clone(), IdentitySpec::new(name, acts.clone()));
            for (i, removed) in acts.iter().enumerate() {
                let rest: Vec<String> = acts.iter().filter(|a| *a != removed).cloned().collect();
                without.push((
                    name.clone(),
                    removed.clone(),
                    IdentitySpec::new(&format!("{name}-without-{i}"), rest),
                ));
            }
        }
        let identities: Vec<IdentitySpec> = roles
            .values()
            .cloned()
            .chain(without.iter().map(|(_, _, i)| i.clone()))
            .collect();
        let server = SeaweedFs::start_with(&identities).await?;
        let locked = BucketSpec {
            versioned: true,
            object_lock: true,
        };
        server.create_bucket(&export_bucket, locked).await?;
        server.create_bucket(&ledger_bucket, locked).await?;
        server
            .client()
            .await
            .put_object_lock_configuration()
            .bucket(&ledger_bucket)
            .object_lock_configuration(
                ObjectLockConfiguration::builder()
                    .object_lock_enabled(ObjectLockEnabled::Enabled)
                    .rule(
                        ObjectLockRule::builder()
                            .default_retention(
                                DefaultRetention::builder()
                                    .mode(ObjectLockRetentionMode::Governance)
                                    .days(1)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "PutObjectLockConfiguration {ledger_bucket}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        let mut world = PrivilegeWorld {
            server,
            export_bucket,
            ledger_bucket,
            roles,
            without,
            versions: BTreeMap::new(),
        };
        let root = workspace_root().join("samples/export");
        for (key, body) in files_under(&root)? {
            world.upload(&key, body).await?;
        }
        Ok(world)
    }

    /// Uploads `body` to `key` in the export bucket (as the admin) and remembers its version.
    pub async fn upload(&mut self, key: &str, body: Vec<u8>) -> Result<String> {
        let out = self
            .server
            .client()
            .await
            .put_object()
            .bucket(&self.export_bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "PutObject {key}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        let version = out
            .version_id()
            .ok_or_else(|| anyhow!("PutObject {key}: no version id"))?
            .to_string();
        self.versions.insert(key.to_string(), version.clone());
        Ok(version)
    }

    pub fn role(&self, name: &str) -> &IdentitySpec {
        self.roles
            .get(name)
            .unwrap_or_else(|| panic!("no role identity {name}"))
    }

    /// `s3://export-bucket/<prefix>`
    pub fn export_url(&self) -> String {
        format!("s3://{}/{EXPORT_PREFIX}", self.export_bucket)
    }

    /// `s3://ledger-bucket/ledger`
    pub fn ledger_url(&self) -> String {
        format!("s3://{}/{LEDGER_PREFIX}", self.ledger_bucket)
    }
}

impl PrivilegeWorld {
    /// `samples/events/s3-put-metadata.json` rewritten to name `key` at its uploaded version in
    /// the export bucket (the key URL-encoded as S3 sends it).
    pub fn s3_put_event(&self, key: &str) -> Result<serde_json::Value> {
        let path = workspace_root().join("samples/events/s3-put-metadata.json");
        let mut event: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
        let version = self
            .versions
            .get(key)
            .ok_or_else(|| anyhow!("{key} was not uploaded"))?;
        let s3 = event
            .pointer_mut("/Records/0/s3")
            .ok_or_else(|| anyhow!("{}: no Records[0].s3", path.display()))?;
        s3["bucket"]["name"] = serde_json::json!(self.export_bucket);
        s3["bucket"]["arn"] = serde_json::json!(format!("arn:aws:s3:::{}", self.export_bucket));
        s3["object"]["key"] = serde_json::json!(s3_event_key(key));
        s3["object"]["versionId"] = serde_json::json!(version);
        Ok(event)
    }
}

/// A key as S3 writes it into event notifications: URL-encoded, a space as `+`.
pub fn s3_event_key(key: &str) -> String {
    let mut out = String::new();
    for byte in key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Every file under `root`, keyed by its path relative to `root`.
fn files_under(root: &std::path::Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let key = path
                    .strip_prefix(root)?
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((key, std::fs::read(&path)?));
            }
        }
    }
    out.sort();
    Ok(out)
}
