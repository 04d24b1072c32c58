//! SeaweedFS identities derived from `template.yaml`'s role policies, for the least-privilege
//! tests: the tagger, sequencer and auditor run against SeaweedFS as identities that hold exactly
//! what their template roles grant, as far as SeaweedFS can express it.
//!
//! SeaweedFS's identity file (`weed s3 -config`, `-s3.config` of `weed mini`) grants *coarse*
//! actions, optionally limited to a bucket or to a key pattern:
//!
//! ```json
//! {"identities":[{"name":"tagger","credentials":[{"accessKey":"…","secretKey":"…"}],
//!   "actions":["Read:exports/org/*","Tagging:exports/org/*","List:exports","Read:ledger-b/ledger/*"]}]}
//! ```
//!
//! `Action:bucket` allows the action anywhere in the bucket; `Action:bucket/pattern*` (a pattern
//! with `*` or `?`) allows it on matching keys only (`Identity.CanDo`, weed/s3api/auth_credentials.go).
//! The router decides which coarse action a request needs (weed/s3api/s3api_server.go, SeaweedFS
//! 4.x), which gives this mapping of the template's IAM actions:
//!
//! | IAM action (template)                                | SeaweedFS 4.48 | request it covers |
//! |------------------------------------------------------|----------------|-------------------|
//! | s3:GetObject, s3:GetObjectVersion                    | Read           | GET/HEAD object |
//! | s3:GetObjectTagging, s3:GetObjectVersionTagging      | Read           | GET ?tagging |
//! | s3:GetBucketVersioning                               | Read (bucket)  | GET ?versioning |
//! | s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload | Write        | PUT/COPY/DELETE object, multipart |
//! | s3:PutObjectTagging, s3:PutObjectVersionTagging      | Tagging        | PUT/DELETE ?tagging |
//! | s3:ListBucket, s3:ListBucketVersions                 | List           | GET bucket (list, versions) |
//! | s3:GetObjectLegalHold                                | GetObjectLegalHold | GET ?legal-hold |
//! | s3:PutObjectLegalHold                                | PutObjectLegalHold | PUT ?legal-hold |
//! | s3:GetBucketObjectLockConfiguration                  | GetBucketObjectLockConfiguration | GET ?object-lock |
//! | logs:*, sqs:*, secretsmanager:*, kms:*               | -              | no SeaweedFS counterpart: not tested here (the doctor probes secretsmanager on AWS) |
//!
//! The router's table in the SeaweedFS source names `Read`/`Write` for the legal hold and Object
//! Lock calls, but the installed 4.48 authorises them by their own action names (or `Admin`): the
//! rows above were established by calling each one as identities holding only `Read`, `Write`,
//! the specific action or `Admin`, and the least-privilege tests would fail if they were wrong.
//!
//! How coarse this is, honestly:
//!
//! - One SeaweedFS action stands for several IAM actions: an identity with `Read` on a key reads
//!   its tags too; `Write` on a key also deletes it and aborts uploads. Removing
//!   one IAM action from the template is therefore invisible here unless it removes the whole
//!   coarse action; the tests remove one *coarse* action at a time.
//! - A bucket-level grant (`Read:bucket`, from `GetBucketVersioning` on the bucket ARN) matches
//!   every key of the bucket, so it also covers `Read:bucket/prefix*`; the tests report such a
//!   removal as "still covered" instead of expecting a failure.
//! - `s3:prefix` conditions on `s3:ListBucket` are not expressible: `List:bucket` lists the whole
//!   bucket.
//! - Bucket policies (the ledger's create-only rules) are not part of identities and are not
//!   tested here.

pub mod eval;

use std::collections::BTreeSet;

use anyhow::{Result, anyhow, bail};
use serde_json::Value;

pub use eval::Template;

/// One `Allow` of a role policy, evaluated: an IAM action on one resource ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub sid: String,
    pub action: String,
    pub resource: String,
}

/// The `Allow` statements of role `role_id` (e.g. `TaggerRole`), one grant per action and resource.
pub fn role_grants(template: &Template, role_id: &str) -> Result<Vec<Grant>> {
    let props = template.resource_properties(role_id)?;
    let mut out = Vec::new();
    for policy in props
        .get("Policies")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("{role_id}: no Policies"))?
    {
        let statements = policy
            .pointer("/PolicyDocument/Statement")
            .and_then(Value::as_array)
            .ok_or_else(|| anyhow!("{role_id}: a policy without statements"))?;
        for s in statements {
            if s.get("Effect").and_then(Value::as_str) != Some("Allow") {
                continue;
            }
            let sid = s
                .get("Sid")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            for action in strings(s.get("Action"))? {
                for resource in strings(s.get("Resource"))? {
                    out.push(Grant {
                        sid: sid.clone(),
                        action: action.clone(),
                        resource,
                    });
                }
            }
        }
    }
    Ok(out)
}

fn strings(v: Option<&Value>) -> Result<Vec<String>> {
    match v {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| anyhow!("not a string: {i}"))
            })
            .collect(),
        other => bail!("expected a string or a list of strings, got {other:?}"),
    }
}

/// The SeaweedFS action an IAM S3 action needs (table above); `None` for other services.
pub fn coarse_action(iam_action: &str) -> Result<Option<&'static str>> {
    let Some(name) = iam_action.strip_prefix("s3:") else {
        return Ok(None);
    };
    Ok(Some(match name {
        "GetObject"
        | "GetObjectVersion"
        | "GetObjectTagging"
        | "GetObjectVersionTagging"
        | "GetBucketVersioning" => "Read",
        "PutObject" | "DeleteObject" | "AbortMultipartUpload" => "Write",
        "GetObjectLegalHold" => "GetObjectLegalHold",
        "PutObjectLegalHold" => "PutObjectLegalHold",
        "GetBucketObjectLockConfiguration" => "GetBucketObjectLockConfiguration",
        "PutObjectTagging" | "PutObjectVersionTagging" => "Tagging",
        "ListBucket" | "ListBucketVersions" => "List",
        other => bail!(
            "s3:{other} has no SeaweedFS mapping in tests/src/template/mod.rs: add it to the table"
        ),
    }))
}

/// `Read:bucket/prefix*` or `List:bucket` for one grant; `None` for other services.
pub fn seaweed_action(grant: &Grant) -> Result<Option<String>> {
    let Some(coarse) = coarse_action(&grant.action)? else {
        return Ok(None);
    };
    let path = grant
        .resource
        .strip_prefix("arn:aws:s3:::")
        .ok_or_else(|| anyhow!("{} {}: not an S3 resource ARN", grant.sid, grant.resource))?;
    Ok(Some(format!("{coarse}:{path}")))
}

/// The distinct SeaweedFS actions of a role, sorted.
pub fn seaweed_actions(grants: &[Grant]) -> Result<Vec<String>> {
    let mut out = BTreeSet::new();
    for g in grants {
        if let Some(a) = seaweed_action(g)? {
            out.insert(a);
        }
    }
    Ok(out.into_iter().collect())
}

/// Whether `action` (`Coarse:bucket/key-pattern`) is still allowed by one of `others`: the same
/// coarse action on the whole bucket, or on a pattern that is a prefix pattern of it.
pub fn covered_by(action: &str, others: &[String]) -> bool {
    let Some((coarse, path)) = action.split_once(':') else {
        return false;
    };
    let bucket = path.split('/').next().unwrap_or(path);
    others.iter().any(|o| {
        o != action
            && o.split_once(':').is_some_and(|(c, p)| {
                c == coarse
                    && (p == bucket
                        || p.strip_suffix('*')
                            .is_some_and(|pre| path.trim_end_matches('*').starts_with(pre)))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_grant_covers_its_keys_and_not_the_other_way() {
        let others = vec!["Read:b".to_string(), "Write:b/p/*".to_string()];
        assert!(covered_by("Read:b/p/*", &others));
        assert!(!covered_by("Tagging:b/p/*", &others));
        assert!(!covered_by("Read:b", &["Read:b/p/*".to_string()]));
        assert!(covered_by("Write:b/p/q/*", &others));
    }

    #[test]
    fn unknown_s3_actions_are_refused_and_other_services_skipped() {
        assert_eq!(coarse_action("s3:GetObjectTagging").unwrap(), Some("Read"));
        assert_eq!(
            coarse_action("s3:PutObjectLegalHold").unwrap(),
            Some("PutObjectLegalHold")
        );
        assert_eq!(coarse_action("sqs:ReceiveMessage").unwrap(), None);
        assert!(coarse_action("s3:PutBucketPolicy").is_err());
    }
}
