//! The bucket and prefix a run is allowed to touch. Everything the tagger reads or marks is
//! checked here first, so that neither a manifest nor an event can point it anywhere else.

/// The configured export location: one bucket, and a key prefix inside it (empty for the whole
/// bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportScope {
    pub bucket: String,
    /// Empty, or ending in `/` (a prefix given without one is taken as a folder).
    pub prefix: String,
}

/// Why a bucket/key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("s3://{bucket}/{key} is outside the export scope {scope}: {reason}")]
pub struct OutOfScope {
    pub bucket: String,
    pub key: String,
    pub scope: String,
    pub reason: String,
}

impl ExportScope {
    pub fn new(bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        let mut prefix: String = prefix.into();
        let trimmed = prefix.trim_start_matches('/').to_string();
        prefix = trimmed;
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        ExportScope {
            bucket: bucket.into(),
            prefix,
        }
    }

    /// Accept `bucket`/`key` only when it is this bucket, under this prefix, and the key has no
    /// `.`/`..` segments or leading `/` (which a filesystem store would resolve elsewhere).
    pub fn check(&self, bucket: &str, key: &str) -> Result<(), OutOfScope> {
        let refuse = |reason: String| OutOfScope {
            bucket: bucket.to_string(),
            key: key.to_string(),
            scope: self.to_string(),
            reason,
        };
        if bucket != self.bucket {
            return Err(refuse(format!(
                "bucket {bucket:?} is not the export bucket {:?}",
                self.bucket
            )));
        }
        if !key.starts_with(&self.prefix) {
            return Err(refuse(format!(
                "key does not start with the export prefix {:?}",
                self.prefix
            )));
        }
        if key.is_empty() || key.starts_with('/') {
            return Err(refuse("key is empty or starts with '/'".to_string()));
        }
        if key
            .split('/')
            .any(|segment| segment == "." || segment == "..")
        {
            return Err(refuse("key has a '.' or '..' path segment".to_string()));
        }
        Ok(())
    }
}

impl std::fmt::Display for ExportScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bucket_and_prefix_are_in_scope() {
        let scope = ExportScope::new("exports", "org-1");
        assert_eq!(scope.prefix, "org-1/");
        assert!(scope.check("exports", "org-1/year=2024/x").is_ok());
        assert!(
            scope.check("exports", "org-10/year=2024/x").is_err(),
            "prefix is a folder"
        );
        assert!(scope.check("ledger", "org-1/x").is_err());
        let err = scope.check("exports", "org-1/../secrets/x").unwrap_err();
        assert!(err.to_string().contains(".."));
        assert!(ExportScope::new("b", "").check("b", "/abs").is_err());
        assert!(ExportScope::new("b", "").check("b", "any/key").is_ok());
    }
}
