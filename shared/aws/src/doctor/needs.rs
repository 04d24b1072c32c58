//! What each function's role needs: the S3 and Secrets Manager actions of `template.yaml`'s role
//! policies (TaggerRole, SequencerRole, AuditorRole), as the code calls them. A test in
//! custody-tests derives the same sets from the template and compares, so the two cannot drift.
//!
//! | role      | export bucket (under the prefix)                                  | ledger bucket (under `ledger/`) |
//! |-----------|-------------------------------------------------------------------|---------------------------------|
//! | tagger    | ListBucket; Get/GetVersion/GetTagging/GetVersionTagging/GetLegalHold; with `object-lock`: GetBucketVersioning, GetBucketObjectLockConfiguration, PutObjectLegalHold; with `tags` or `metadata`: PutObjectTagging, PutObjectVersionTagging; with `metadata`: PutObject, AbortMultipartUpload | GetObject, PutObject, ListBucket (submits; no signing key) |
//! | sequencer | -                                                                 | GetObject, PutObject, DeleteObject, ListBucket; secret |
//! | auditor   | -                                                                 | GetObject, ListBucket |

use custody_core::hold::Marking;

/// The function whose permissions are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Tagger,
    Sequencer,
    Auditor,
}

/// A role name that is none of `tagger`, `sequencer`, `auditor`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--role {0:?}: expected tagger, sequencer or auditor")]
pub struct RoleParseError(pub String);

impl Role {
    pub fn parse(text: &str) -> Result<Role, RoleParseError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "tagger" => Ok(Role::Tagger),
            "sequencer" => Ok(Role::Sequencer),
            "auditor" => Ok(Role::Auditor),
            _ => Err(RoleParseError(text.to_string())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Tagger => "tagger",
            Role::Sequencer => "sequencer",
            Role::Auditor => "auditor",
        }
    }

    /// The template's logical id of the role.
    pub fn template_role(self) -> &'static str {
        match self {
            Role::Tagger => "TaggerRole",
            Role::Sequencer => "SequencerRole",
            Role::Auditor => "AuditorRole",
        }
    }
}

/// Which bucket an action is needed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Export,
    Ledger,
    /// Not a bucket: the signing key secret.
    Secret,
}

/// One IAM action a role needs, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub action: &'static str,
    pub on: Which,
    /// Granted on the bucket ARN rather than the objects under the prefix.
    pub bucket_level: bool,
    pub why: &'static str,
}

const fn object(action: &'static str, on: Which, why: &'static str) -> Need {
    Need {
        action,
        on,
        bucket_level: false,
        why,
    }
}

const fn bucket(action: &'static str, on: Which, why: &'static str) -> Need {
    Need {
        action,
        on,
        bucket_level: true,
        why,
    }
}

/// Every action `role` needs with the hold `marking` (the tagger's only).
pub fn role_needs(role: Role, marking: &Marking) -> Vec<Need> {
    use Which::*;
    let mut out = Vec::new();
    match role {
        Role::Tagger => {
            out.push(bucket("s3:ListBucket", Export, "discovers the export"));
            out.push(object(
                "s3:GetObject",
                Export,
                "reads metadata and manifests",
            ));
            out.push(object(
                "s3:GetObjectVersion",
                Export,
                "reads and hashes the pinned version",
            ));
            out.push(object(
                "s3:GetObjectTagging",
                Export,
                "merges the hold tags with existing ones",
            ));
            out.push(object(
                "s3:GetObjectVersionTagging",
                Export,
                "reads the pinned version's tags",
            ));
            out.push(object(
                "s3:GetObjectLegalHold",
                Export,
                "sees a legal hold already set",
            ));
            if marking.object_lock {
                out.push(bucket(
                    "s3:GetBucketVersioning",
                    Export,
                    "checks versioning before legal holds",
                ));
                out.push(bucket(
                    "s3:GetBucketObjectLockConfiguration",
                    Export,
                    "checks Object Lock before legal holds",
                ));
                out.push(object(
                    "s3:PutObjectLegalHold",
                    Export,
                    "sets the Object Lock legal hold",
                ));
            }
            if marking.tags || marking.metadata {
                out.push(object(
                    "s3:PutObjectTagging",
                    Export,
                    "writes the hold tags (the metadata copy carries tags too)",
                ));
                out.push(object(
                    "s3:PutObjectVersionTagging",
                    Export,
                    "tags the pinned version",
                ));
            }
            if marking.metadata {
                out.push(object(
                    "s3:PutObject",
                    Export,
                    "copies the object onto itself with hold metadata",
                ));
                out.push(object(
                    "s3:AbortMultipartUpload",
                    Export,
                    "cleans up a failed multipart copy",
                ));
            }
            // The tagger only submits; the sequencer alone loads the signing key.
            out.extend(ledger_append());
        }
        Role::Sequencer => {
            out.extend(ledger_append());
            out.push(object(
                "s3:DeleteObject",
                Ledger,
                "retires integrated submissions",
            ));
            out.push(secret());
        }
        Role::Auditor => {
            out.push(object(
                "s3:GetObject",
                Ledger,
                "reads blocks, keys, checkpoints",
            ));
            out.push(bucket("s3:ListBucket", Ledger, "lists blocks"));
        }
    }
    out
}

fn ledger_append() -> [Need; 3] {
    [
        object(
            "s3:GetObject",
            Which::Ledger,
            "reads the ledger's head and blocks",
        ),
        object(
            "s3:PutObject",
            Which::Ledger,
            "creates submissions and blocks (If-None-Match)",
        ),
        bucket(
            "s3:ListBucket",
            Which::Ledger,
            "lists submissions and blocks",
        ),
    ]
}

fn secret() -> Need {
    Need {
        action: "secretsmanager:GetSecretValue",
        on: Which::Secret,
        bucket_level: false,
        why: "loads the ledger signing key",
    }
}

/// The needs on one bucket.
pub fn on(needs: &[Need], which: Which) -> Vec<Need> {
    needs.iter().filter(|n| n.on == which).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marking_decides_the_taggers_writes() {
        let actions = |m: Marking| -> Vec<&str> {
            role_needs(Role::Tagger, &m)
                .iter()
                .map(|n| n.action)
                .collect()
        };
        let lock_only = actions(Marking {
            tags: false,
            metadata: false,
            object_lock: true,
        });
        assert!(lock_only.contains(&"s3:PutObjectLegalHold"));
        assert!(!lock_only.contains(&"s3:PutObjectTagging"));
        let all = actions(Marking::ALL);
        for a in [
            "s3:PutObject",
            "s3:AbortMultipartUpload",
            "s3:PutObjectTagging",
        ] {
            assert!(all.contains(&a), "{a}");
        }
        let auditor: Vec<_> = role_needs(Role::Auditor, &Marking::ALL)
            .iter()
            .map(|n| n.action)
            .collect();
        assert_eq!(auditor, ["s3:GetObject", "s3:ListBucket"]);
        assert_eq!(Role::parse("Auditor"), Ok(Role::Auditor));
        assert!(Role::parse("admin").is_err());
    }
}
