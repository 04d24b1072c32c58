//! Reading the ledger signing key from AWS Secrets Manager (`GetSecretValue`); the key text is the
//! C2SP signer key `PRIVATE+KEY+<name>+<id>+<base64>` (see `custody_core::ledger::Signer`).

use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls;
use custody_core::ledger::{KeyError, KeySource, Signer};

/// Load the signing key from wherever `source` names: a file or an environment variable (through
/// the core), or AWS Secrets Manager with the AWS configuration of the environment (region,
/// credentials, endpoint).
pub async fn load_signer(source: &KeySource) -> Result<Signer, KeyError> {
    match source {
        KeySource::SecretsManager(id) => {
            let text = fetch_secret_string(id).await?;
            Signer::from_text(&text).map_err(|e| e.in_place(format!("signer key in secret {id}")))
        }
        local => Signer::load_local(local),
    }
}

/// The string value of a secret (ARN or name), with the AWS configuration of the environment.
async fn fetch_secret_string(secret_id: &str) -> Result<String, KeyError> {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| KeyError::Unreadable {
            place: format!("secret {secret_id}"),
            message: format!(
                "GetSecretValue failed: {} (the role needs secretsmanager:GetSecretValue on it)",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ),
        })?;
    if let Some(text) = out.secret_string() {
        return Ok(text.to_string());
    }
    if let Some(blob) = out.secret_binary() {
        return String::from_utf8(blob.as_ref().to_vec()).map_err(|_| KeyError::Unreadable {
            place: format!("secret {secret_id}"),
            message: "the secret is binary and not UTF-8 text".into(),
        });
    }
    Err(KeyError::Unreadable {
        place: format!("secret {secret_id}"),
        message: "the secret has no value".into(),
    })
}
