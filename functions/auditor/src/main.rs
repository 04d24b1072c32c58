//! The auditor Lambda function's entry point.

use custody_auditor::handle;
use custody_aws::open;
use custody_aws::services::{ENV_LEDGER, ENV_S3_ENDPOINT, ENV_S3_PATH_STYLE, Settings};
use custody_core::ledger::{Ledger, LedgerConfig};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let location = std::env::var(ENV_LEDGER).map_err(|_| format!("{ENV_LEDGER}: not set"))?;
    // The same S3 connection settings as the tagger (a local endpoint, path-style addressing).
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let settings = Settings {
        ledger: location.clone(),
        s3_endpoint: var(ENV_S3_ENDPOINT),
        s3_path_style: var(ENV_S3_PATH_STYLE).is_some_and(|v| v == "true" || v == "1"),
        ..Settings::default()
    };
    let opened = open(&location, &settings.s3_options()).await?;
    let origin = std::env::var(custody_aws::services::ENV_LEDGER_ORIGIN)
        .unwrap_or_else(|_| custody_aws::services::DEFAULT_ORIGIN.to_string());
    let ledger = Ledger::open(
        opened.store,
        &opened.prefix,
        LedgerConfig::new(origin),
        None,
    )
    .await?;
    let ledger = &ledger;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(handle(ledger, &event.payload).await)
    }))
    .await
}
