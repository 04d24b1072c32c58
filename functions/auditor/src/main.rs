//! The auditor Lambda function's entry point.

use custody_auditor::handle;
use custody_core::ledger::{Ledger, LedgerConfig};
use custody_core::settings::{ENV_LEDGER, Settings};
use custody_core::store::open;
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
    let settings = Settings {
        ledger: location.clone(),
        ..Settings::default()
    };
    let opened = open(&location, &settings.s3_options()).await?;
    let origin = std::env::var(custody_core::settings::ENV_LEDGER_ORIGIN)
        .unwrap_or_else(|_| custody_core::settings::DEFAULT_ORIGIN.to_string());
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
