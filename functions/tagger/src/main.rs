//! The tagger Lambda function's entry point: JSON logs, configuration from the environment (an
//! initialisation error is logged as one JSON line), then [`custody_tagger::Tagger::handle`] for
//! every invocation with the context's deadline, and one Embedded Metric Format line per
//! invocation.

use custody_aws::services::Settings;
use custody_lambda::Deadline;
use custody_tagger::register::RegisterWatch;
use custody_tagger::{Invoker, Tagger};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

const FUNCTION: &str = "custody-tagger";

async fn init() -> Result<(custody_aws::Services, Option<RegisterWatch>), Error> {
    let settings = Settings::from_env()?;
    let services = settings.services().await?;
    let watch = match RegisterWatch::bucket_location(&settings.hold_select) {
        Some(location) => {
            let opened = custody_aws::open(&location, &settings.s3_options()).await?;
            RegisterWatch::for_selection(&settings.hold_select, opened.store)
        }
        None => None,
    };
    Ok((services, watch))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    custody_lambda::log::init();
    let (services, watch) = match init().await {
        Ok(ready) => ready,
        Err(error) => {
            custody_lambda::log::init_error(FUNCTION, &error);
            return Err(error);
        }
    };
    let tagger = Tagger::new(&services).with_register_watch(watch.as_ref());
    let tagger = &tagger;
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| FUNCTION.into());
    let function = function.as_str();
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let invoker = Invoker {
            function: Some(function.to_string()),
            function_arn: Some(event.context.invoked_function_arn.clone()),
            request_id: Some(event.context.request_id.clone()),
            region: std::env::var("AWS_REGION").ok(),
        };
        let deadline = Deadline::from_epoch_millis(event.context.deadline);
        let outcome = tagger.handle(&event.payload, &invoker, deadline).await;
        outcome
            .summary
            .metric_line(function, Some(&event.context.request_id))
            .emit();
        outcome.response.map_err(Error::from)
    }))
    .await
}
