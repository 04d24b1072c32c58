//! The identities of the test server's S3 identity file: the two built in ([`Identity`]) and any
//! a test adds ([`IdentitySpec`]), and the file `weed mini -s3.config` reads:
//!
//! ```json
//! {"identities": [{"name": "admin",
//!                  "credentials": [{"accessKey": "custody-test-admin", "secretKey": "…"}],
//!                  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
//! ```

use custody_aws::s3::StaticCredentials;

/// The identities in the server's credentials file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// Every action (`Admin`, `Read`, `Write`, `List`, `Tagging`).
    Admin,
    /// `Read`, `Write` and `List`, but not `Tagging`: PutObjectTagging is denied.
    Limited,
}

impl Identity {
    pub fn access_key_id(self) -> &'static str {
        match self {
            Identity::Admin => "custody-test-admin",
            Identity::Limited => "custody-test-limited",
        }
    }

    pub fn secret_access_key(self) -> &'static str {
        match self {
            Identity::Admin => "custody-test-admin-secret-0123456789",
            Identity::Limited => "custody-test-limited-secret-0123456789",
        }
    }

    pub(crate) fn actions(self) -> &'static [&'static str] {
        match self {
            Identity::Admin => &["Admin", "Read", "Write", "List", "Tagging"],
            Identity::Limited => &["Read", "Write", "List"],
        }
    }
}

/// An identity of the server's identity file beside the built-in ones: its keys and its
/// SeaweedFS actions (`Read`, `Write:bucket/prefix*`, ...; see [`template`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySpec {
    pub name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub actions: Vec<String>,
}

impl IdentitySpec {
    /// An identity named `name` with keys derived from the name.
    pub fn new(name: &str, actions: Vec<String>) -> IdentitySpec {
        IdentitySpec {
            name: name.to_string(),
            access_key_id: format!("custody-test-{name}"),
            secret_access_key: format!("custody-test-{name}-secret-0123456789"),
            actions,
        }
    }

    pub fn credentials(&self) -> StaticCredentials {
        StaticCredentials {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: None,
        }
    }
}

/// The identity file holding the built-in identities and `extra`.
pub(crate) fn credentials_json(extra: &[IdentitySpec]) -> String {
    let builtin = [Identity::Admin, Identity::Limited]
        .into_iter()
        .map(|identity| IdentitySpec {
            name: format!("{identity:?}").to_lowercase(),
            access_key_id: identity.access_key_id().to_string(),
            secret_access_key: identity.secret_access_key().to_string(),
            actions: identity.actions().iter().map(|a| a.to_string()).collect(),
        });
    let identities: Vec<serde_json::Value> = builtin
        .chain(extra.iter().cloned())
        .map(|identity| {
            serde_json::json!({
                "name": identity.name,
                "credentials": [{
                    "accessKey": identity.access_key_id,
                    "secretKey": identity.secret_access_key,
                }],
                "actions": identity.actions,
            })
        })
        .collect();
    serde_json::json!({ "identities": identities }).to_string()
}
