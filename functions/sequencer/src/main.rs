//! The sequencer Lambda function's entry point: JSON logs, the ledger opened with the signing key
//! (an initialisation error is logged as one JSON line), then [`custody_sequencer::handle`] for
//! every invocation with the context's deadline, and one Embedded Metric Format line each.

use custody_aws::services::Settings;
use custody_core::ledger::Ledger;
use custody_lambda::Deadline;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

const FUNCTION: &str = "custody-sequencer";

async fn init() -> Result<Ledger, Error> {
    let settings = Settings::ledger_from_env()?;
    Ok(settings.ledger_writer().await?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    custody_lambda::log::init();
    let ledger = match init().await {
        Ok(ledger) => ledger,
        Err(error) => {
            custody_lambda::log::init_error(FUNCTION, &error);
            return Err(error);
        }
    };
    let ledger = &ledger;
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| FUNCTION.into());
    let function = function.as_str();
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = Deadline::from_epoch_millis(event.context.deadline);
        let (response, summary) = custody_sequencer::handle(ledger, deadline).await?;
        summary
            .metric_line(function, Some(&event.context.request_id))
            .emit();
        Ok::<_, Error>(response)
    }))
    .await
}
