//! The tagger Lambda function's entry point: configuration from the environment, then
//! [`custody_tagger::handle`] for every invocation.

use custody_aws::services::Settings;
use custody_tagger::{Invoker, handle};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_current_span(false)
        .without_time()
        .init();
    let settings = Settings::from_env()?;
    let services = settings.services().await?;
    let services = &services;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let invoker = Invoker {
            function: std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok(),
            function_arn: Some(event.context.invoked_function_arn.clone()),
            request_id: Some(event.context.request_id.clone()),
            region: std::env::var("AWS_REGION").ok(),
        };
        handle(services, &event.payload, &invoker)
            .await
            .map_err(Error::from)
    }))
    .await
}
