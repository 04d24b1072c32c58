//! Ed25519 keys in the C2SP signed-note encodings: the signer key (`PRIVATE+KEY+<name>+<id>+<b64>`,
//! as Go's `sumdb/note` writes it) and the verifier key (`<name>+<id>+<b64>`, the C2SP vkey).
//!
//! The key name is the ledger's origin, so a checkpoint's signature line names the log it signs.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

/// Where the signing key comes from. Never from code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file holding the signer key text.
    File(PathBuf),
    /// An environment variable holding the signer key text.
    Env(String),
    /// An AWS Secrets Manager secret (ARN or name) whose string value is the signer key text.
    SecretsManager(String),
}

impl KeySource {
    /// `arn:aws:secretsmanager:...` (or `secretsmanager:NAME`), `env:VAR`, `file:PATH` or a path.
    pub fn parse(spec: &str) -> KeySource {
        if spec.starts_with("arn:aws:secretsmanager:") {
            KeySource::SecretsManager(spec.to_string())
        } else if let Some(name) = spec.strip_prefix("secretsmanager:") {
            KeySource::SecretsManager(name.to_string())
        } else if let Some(var) = spec.strip_prefix("env:") {
            KeySource::Env(var.to_string())
        } else {
            KeySource::File(PathBuf::from(spec.strip_prefix("file:").unwrap_or(spec)))
        }
    }
}

/// Why key text is not a usable key, or a key could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a signer key is PRIVATE+KEY+<name>+<id>+<key>")]
    SignerShape,
    #[error("a verifier key is <name>+<id>+<key>, got {0:?}")]
    VerifierShape(String),
    #[error("key name {0:?} must be non-empty, without spaces or '+'")]
    Name(String),
    #[error("{kind} key data is not base64: {message}")]
    Base64 { kind: &'static str, message: String },
    #[error("only Ed25519 {kind} keys (type 1) of 32 bytes are supported")]
    Algorithm { kind: &'static str },
    #[error("only Ed25519 cosignature/v1 {kind} keys (type 4) of 32 bytes are supported")]
    WitnessAlgorithm { kind: &'static str },
    #[error("not an Ed25519 public key: {0}")]
    NotEd25519(String),
    #[error("{kind} key id {found} does not match its key (expected {expected:08x})")]
    KeyId {
        kind: &'static str,
        found: String,
        expected: u32,
    },
    #[error("cannot read {place}: {message}")]
    Unreadable { place: String, message: String },
    #[error("{place}: {error}")]
    In { place: String, error: Box<KeyError> },
}

impl KeyError {
    /// This error, said of the key in `place` (a file, a variable, a secret).
    pub fn in_place(self, place: impl Into<String>) -> KeyError {
        KeyError::In {
            place: place.into(),
            error: Box::new(self),
        }
    }
}

const ALG_ED25519: u8 = 1;

/// Signs ledger checkpoints.
#[derive(Clone)]
pub struct Signer {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({}+{:08x})", self.name, self.key_id)
    }
}

impl Signer {
    /// A new random key named `name` (the ledger origin).
    pub fn generate(name: &str) -> Result<Signer, KeyError> {
        check_name(name)?;
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        Ok(Signer::from_parts(name, key))
    }

    fn from_parts(name: &str, key: SigningKey) -> Signer {
        let key_id = key_id(name, &key.verifying_key());
        Signer {
            name: name.to_string(),
            key_id,
            key,
        }
    }

    /// Parse the signer key text `PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>`.
    pub fn from_text(text: &str) -> Result<Signer, KeyError> {
        let text = text.trim();
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(KeyError::SignerShape)?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(KeyError::SignerShape);
        };
        check_name(name)?;
        let seed = key_bytes("signer", b64)?;
        let signer = Signer::from_parts(name, SigningKey::from_bytes(&seed));
        if id_hex != format!("{:08x}", signer.key_id) {
            return Err(KeyError::KeyId {
                kind: "signer",
                found: id_hex.to_string(),
                expected: signer.key_id,
            });
        }
        Ok(signer)
    }

    pub fn from_file(path: &Path) -> Result<Signer, KeyError> {
        let place = format!("signer key {}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::Unreadable {
            place: place.clone(),
            message: e.to_string(),
        })?;
        Signer::from_text(&text).map_err(|e| e.in_place(place))
    }

    pub fn from_env(var: &str) -> Result<Signer, KeyError> {
        let place = format!("signer key in ${var}");
        let text = std::env::var(var).map_err(|_| KeyError::Unreadable {
            place: place.clone(),
            message: "the variable is not set or not UTF-8".into(),
        })?;
        Signer::from_text(&text).map_err(|e| e.in_place(place))
    }

    /// Load the key from a file or an environment variable. A Secrets Manager source needs the
    /// AWS adapter (`custody_aws::load_signer`), which reads the secret and calls
    /// [`Signer::from_text`].
    pub fn load_local(source: &KeySource) -> Result<Signer, KeyError> {
        match source {
            KeySource::File(path) => Signer::from_file(path),
            KeySource::Env(var) => Signer::from_env(var),
            KeySource::SecretsManager(id) => Err(KeyError::Unreadable {
                place: format!("Secrets Manager secret {id}"),
                message: "a secret is read by the AWS adapter (custody_aws::load_signer)".into(),
            }),
        }
    }

    /// The key name, which is the ledger origin.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signer key text, to be kept secret.
    pub fn to_text(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(&self.key.to_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(raw)
        )
    }

    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            id: self.key_id,
            key: self.key.verifying_key(),
        }
    }
}

impl signed_note::Signer for Signer {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

/// A public key that may verify checkpoints, in the C2SP vkey encoding `<name>+<id>+<base64>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl VerifierKey {
    pub fn parse(text: &str) -> Result<VerifierKey, KeyError> {
        let text = text.trim();
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(KeyError::VerifierShape(text.chars().take(200).collect()));
        };
        check_name(name)?;
        let bytes = key_bytes("verifier", b64)?;
        let key =
            VerifyingKey::from_bytes(&bytes).map_err(|e| KeyError::NotEd25519(e.to_string()))?;
        let id = key_id(name, &key);
        if id_hex != format!("{id:08x}") {
            return Err(KeyError::KeyId {
                kind: "verifier",
                found: id_hex.to_string(),
                expected: id,
            });
        }
        Ok(VerifierKey {
            name: name.to_string(),
            id,
            key,
        })
    }

    pub fn from_file(path: &Path) -> Result<VerifierKey, KeyError> {
        let place = format!("verifier key {}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::Unreadable {
            place: place.clone(),
            message: e.to_string(),
        })?;
        VerifierKey::parse(&text).map_err(|e| e.in_place(place))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// The Ed25519 public key.
    pub fn ed25519(&self) -> &VerifyingKey {
        &self.key
    }

    /// `<name>+<id>`, how reports name a key.
    pub fn label(&self) -> String {
        format!("{}+{:08x}", self.name, self.id)
    }

    pub fn to_text(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.id, BASE64.encode(raw))
    }
}

impl signed_note::Verifier for VerifierKey {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        self.key.verify_strict(msg, &sig).is_ok()
    }
}

/// The keys a verifier accepts. Thread-safe, so blocks verify in parallel.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<VerifierKey>,
}

impl TrustedKeys {
    pub fn new(keys: Vec<VerifierKey>) -> Self {
        let mut unique: Vec<VerifierKey> = Vec::new();
        for k in keys {
            if !unique.contains(&k) {
                unique.push(k);
            }
        }
        TrustedKeys { keys: unique }
    }

    pub fn keys(&self) -> &[VerifierKey] {
        &self.keys
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn labels(&self) -> Vec<String> {
        self.keys.iter().map(VerifierKey::label).collect()
    }
}

impl signed_note::Verifiers for TrustedKeys {
    fn verifier(
        &self,
        name: &str,
        id: u32,
    ) -> Result<&dyn signed_note::Verifier, signed_note::VerificationError> {
        the_verifier(&self.keys, name, id)
    }
}

/// `SHA-256(name || 0x0A || algorithm || public key)[:4]`, big-endian (C2SP signed-note key ID;
/// `algorithm` 0x01 for Ed25519 signatures, 0x04 for tlog-cosignature v1).
pub(super) fn note_key_id(algorithm: u8, name: &str, key: &VerifyingKey) -> u32 {
    let mut raw = vec![algorithm];
    raw.extend_from_slice(key.as_bytes());
    signed_note::key_id(name, &raw)
}

fn key_id(name: &str, key: &VerifyingKey) -> u32 {
    note_key_id(ALG_ED25519, name, key)
}

pub(super) fn check_name(name: &str) -> Result<(), KeyError> {
    if signed_note::is_key_name_valid(name) {
        Ok(())
    } else {
        Err(KeyError::Name(name.to_string()))
    }
}

/// The 32 key bytes of `base64(algorithm || key)`; [`KeyError::Algorithm`] when the algorithm
/// byte or the length is wrong.
pub(super) fn note_key_bytes(
    algorithm: u8,
    kind: &'static str,
    b64: &str,
) -> Result<[u8; 32], KeyError> {
    let raw = BASE64.decode(b64).map_err(|e| KeyError::Base64 {
        kind,
        message: e.to_string(),
    })?;
    match raw.split_first() {
        Some((&first, key)) if first == algorithm => {
            key.try_into().map_err(|_| KeyError::Algorithm { kind })
        }
        _ => Err(KeyError::Algorithm { kind }),
    }
}

/// The 32 key bytes of `base64(0x01 || key)`.
fn key_bytes(kind: &'static str, b64: &str) -> Result<[u8; 32], KeyError> {
    note_key_bytes(ALG_ED25519, kind, b64)
}

/// The one verifier among `keys` with this name and key ID (`signed_note`'s lookup): unknown
/// when none, ambiguous when several.
pub(super) fn the_verifier<'a, V: signed_note::Verifier + 'a>(
    keys: impl IntoIterator<Item = &'a V>,
    name: &str,
    id: u32,
) -> Result<&'a dyn signed_note::Verifier, signed_note::VerificationError> {
    let mut matching = keys
        .into_iter()
        .filter(|k| k.name() == name && k.key_id() == id);
    match (matching.next(), matching.next()) {
        (Some(k), None) => Ok(k),
        (Some(_), Some(_)) => Err(signed_note::VerificationError::AmbiguousKey {
            name: name.to_string(),
            id,
        }),
        (None, _) => Err(signed_note::VerificationError::UnknownKey {
            name: name.to_string(),
            id,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of Go's golang.org/x/mod/sumdb/note (example_test.go, ExampleSign/ExampleOpen).
    const GO_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const GO_SIGNED: &str = "If you think cryptography is the answer to your problem,\n\
                             then you don't know what your problem is.\n\
                             \n\
                             — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn signer_reproduces_the_go_sumdb_note_example() {
        let signer = Signer::from_text(GO_SKEY).unwrap();
        assert_eq!(signer.key_id(), 0xc74f20a3);
        assert_eq!(signer.verifier_key().to_text(), GO_VKEY);
        assert_eq!(signer.to_text(), GO_SKEY);
        let mut note = signed_note::Note::new(GO_TEXT.as_bytes(), &[]).unwrap();
        note.add_sigs(&[&signer]).unwrap();
        assert_eq!(String::from_utf8(note.to_bytes()).unwrap(), GO_SIGNED);
    }

    #[test]
    fn verifier_accepts_the_go_example_and_rejects_a_changed_text() {
        let trusted = TrustedKeys::new(vec![VerifierKey::parse(GO_VKEY).unwrap()]);
        let note = signed_note::Note::from_bytes(GO_SIGNED.as_bytes()).unwrap();
        assert!(note.verify(&trusted).is_ok());
        let changed = GO_SIGNED.replace("answer", "Answer");
        let note = signed_note::Note::from_bytes(changed.as_bytes()).unwrap();
        assert!(note.verify(&trusted).is_err());
    }

    #[test]
    fn a_wrong_key_id_is_refused() {
        let bad = GO_VKEY.replace("c74f20a3", "c74f20a4");
        assert!(VerifierKey::parse(&bad).is_err());
        let bad = GO_SKEY.replace("c74f20a3", "c74f20a4");
        assert!(Signer::from_text(&bad).is_err());
    }

    #[test]
    fn generated_keys_round_trip() {
        let signer = Signer::generate("custody.example/ledger").unwrap();
        let again = Signer::from_text(&signer.to_text()).unwrap();
        assert_eq!(again.key_id(), signer.key_id());
        let vkey = VerifierKey::parse(&signer.verifier_key().to_text()).unwrap();
        assert_eq!(vkey, signer.verifier_key());
        assert!(Signer::generate("bad name").is_err());
    }

    #[test]
    fn key_sources_parse() {
        assert_eq!(
            KeySource::parse("arn:aws:secretsmanager:eu-west-1:1:secret:k"),
            KeySource::SecretsManager("arn:aws:secretsmanager:eu-west-1:1:secret:k".into())
        );
        assert_eq!(KeySource::parse("env:K"), KeySource::Env("K".into()));
        assert_eq!(
            KeySource::parse("/a/b.key"),
            KeySource::File("/a/b.key".into())
        );
    }
}
