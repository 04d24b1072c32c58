//! The auditor Lambda function's entry point: JSON logs, the ledger opened read-only with the
//! trusted keys and optional pinned checkpoint of the configuration ([`custody_auditor::trust`]);
//! an initialisation error is logged as one JSON line.

use custody_auditor::Auditor;
use custody_auditor::trust::{
    ENV_PINNED_CHECKPOINT, ENV_TRUSTED_KEYS, parse_checkpoint, parse_keys,
};
use custody_aws::open;
use custody_aws::services::{ENV_LEDGER, ENV_S3_ENDPOINT, ENV_S3_PATH_STYLE, Settings};
use custody_core::ledger::{Ledger, LedgerConfig};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

const FUNCTION: &str = "custody-auditor";

async fn init() -> Result<(Ledger, Option<custody_core::ledger::Checkpoint>), Error> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let location = var(ENV_LEDGER).ok_or_else(|| format!("{ENV_LEDGER}: not set"))?;
    let trusted = parse_keys(&var(ENV_TRUSTED_KEYS).unwrap_or_default())?;
    let pinned = var(ENV_PINNED_CHECKPOINT)
        .map(|text| parse_checkpoint(&text))
        .transpose()?;
    // The same S3 connection settings as the tagger (a local endpoint, path-style addressing).
    let settings = Settings {
        ledger: location.clone(),
        s3_endpoint: var(ENV_S3_ENDPOINT),
        s3_path_style: var(ENV_S3_PATH_STYLE).is_some_and(|v| v == "true" || v == "1"),
        ..Settings::default()
    };
    let opened = open(&location, &settings.s3_options()).await?;
    let origin = var(custody_aws::services::ENV_LEDGER_ORIGIN)
        .unwrap_or_else(|| custody_aws::services::DEFAULT_ORIGIN.to_string());
    let mut config = LedgerConfig::new(origin);
    config.trusted_keys = trusted;
    let ledger = Ledger::open(opened.store, &opened.prefix, config, None).await?;
    Ok((ledger, pinned))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    custody_lambda::log::init();
    let (ledger, pinned) = match init().await {
        Ok(ready) => ready,
        Err(error) => {
            custody_lambda::log::init_error(FUNCTION, &error);
            return Err(error);
        }
    };
    let auditor = Auditor {
        ledger: &ledger,
        pinned,
    };
    let auditor = &auditor;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(auditor.handle(&event.payload).await)
    }))
    .await
}
