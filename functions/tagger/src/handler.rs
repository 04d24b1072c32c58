//! One invocation, from payload to response, whatever its shape:
//!
//! - **SQS**: messages are worked through in turn while the invocation's time allows (the
//!   [`Options::deadline_reserve`] plus the longest message so far must remain); the response is
//!   `{"batchItemFailures": [{"itemIdentifier": "<messageId>"}], "summary": {...}}` naming every
//!   message that is to be retried: a retryable failure, a refused or unparseable message (these
//!   reach the dead-letter queue after `maxReceiveCount`), and every message not started in time.
//! - **Direct** (S3, SNS, EventBridge, test event; asynchronous invocations): an error when
//!   anything must be retried or could not be read, so Lambda retries and then sends the event to
//!   the on-failure destination; otherwise `{"shape", "results", "summary"}`.
//! - **Batch Operations**: one result per task (`Succeeded`, `TemporaryFailure`,
//!   `PermanentFailure`), plus the summary.

use std::time::{Duration, Instant};

use custody_aws::Services;
use custody_core::ingest::IngestConfig;
use custody_lambda::Deadline;
use serde_json::{Value, json};

use crate::Invoker;
use crate::events::{Body, Invocation, PayloadError, Shape, SqsItem, parse_invocation};
use crate::register::RegisterWatch;
use crate::run::{TriggerResult, account, run_trigger};
use crate::summary::Summary;
use crate::trigger::Trigger;

/// Tuning of the handler.
#[derive(Debug, Clone)]
pub struct Options {
    /// Time kept in hand when deciding whether to start another SQS message: answering,
    /// flushing logs and the slowest single object must fit in it.
    pub deadline_reserve: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            deadline_reserve: Duration::from_secs(30),
        }
    }
}

/// Why an invocation as a whole failed (Lambda retries it, then uses the on-failure destination).
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("{count} trigger(s) to retry: {detail}")]
    Retry { count: usize, detail: String },
    #[error("{count} record(s) could not be used: {detail}")]
    Unusable { count: usize, detail: String },
}

/// The response (or error) and what the invocation did.
#[derive(Debug)]
pub struct Outcome {
    pub response: Result<Value, HandleError>,
    pub summary: Summary,
}

/// The tagger over its services, with an optional matter register watch.
pub struct Tagger<'a> {
    services: &'a Services,
    register: Option<&'a RegisterWatch>,
    pub options: Options,
}

impl<'a> Tagger<'a> {
    pub fn new(services: &'a Services) -> Tagger<'a> {
        Tagger {
            services,
            register: None,
            options: Options::default(),
        }
    }

    pub fn with_register_watch(mut self, watch: Option<&'a RegisterWatch>) -> Tagger<'a> {
        self.register = watch;
        self
    }

    pub fn with_options(mut self, options: Options) -> Tagger<'a> {
        self.options = options;
        self
    }

    /// Handle one invocation payload before `deadline`.
    pub async fn handle(&self, payload: &Value, invoker: &Invoker, deadline: Deadline) -> Outcome {
        let started = Instant::now();
        let mut summary = Summary::default();
        let mut response = self
            .dispatch(payload, invoker, deadline, &mut summary)
            .await;
        summary.duration_ms = started.elapsed().as_millis() as u64;
        if let Ok(Value::Object(map)) = &mut response {
            map.insert("summary".to_string(), json!(summary));
        }
        Outcome { response, summary }
    }

    /// The configuration for this invocation: the services', with the matter register re-read
    /// when it changed. `Err` holds why the register could not be brought up to date.
    async fn config(&self, summary: &mut Summary) -> Result<IngestConfig, String> {
        let mut config = self.services.config.clone();
        if let Some(watch) = self.register {
            match watch.refresh(&mut config).await {
                Ok(reloaded) => summary.register_reloaded = reloaded,
                Err(e) => {
                    tracing::error!(error = %e, "matter register unavailable: work is retried");
                    return Err(e.to_string());
                }
            }
        }
        Ok(config)
    }

    async fn dispatch(
        &self,
        payload: &Value,
        invoker: &Invoker,
        deadline: Deadline,
        summary: &mut Summary,
    ) -> Result<Value, HandleError> {
        let invocation = match parse_invocation(payload) {
            Ok(invocation) => invocation,
            Err(e) => {
                summary.unparseable += 1;
                tracing::error!(error = %e, "payload refused");
                return Err(e.into());
            }
        };
        let config = self.config(summary).await;
        match invocation {
            Invocation::Batch(batch) => {
                summary.shape = Some(Shape::BatchOperations);
                Ok(
                    crate::batch_tasks::answer(self.services, config, &batch, invoker, summary)
                        .await,
                )
            }
            Invocation::Sqs(items) => {
                summary.shape = Some(Shape::Sqs);
                Ok(self.sqs(&items, config, invoker, deadline, summary).await)
            }
            Invocation::Direct { shape, records } => {
                summary.shape = Some(shape);
                self.direct(records, config, invoker, summary).await
            }
        }
    }

    /// Run every trigger of one body; `true` when one of them must be retried or was refused.
    async fn body(
        &self,
        body: &Body,
        config: &Result<IngestConfig, String>,
        invoker: &Invoker,
        summary: &mut Summary,
        problems: &mut Vec<String>,
    ) -> bool {
        summary.ignored += body.ignored;
        let mut failed = false;
        for trigger in &body.triggers {
            summary.triggers += 1;
            let result = match config {
                Ok(config) => run_trigger(self.services, config, trigger, invoker, None).await,
                Err(reason) => TriggerResult::Retry(reason.clone()),
            };
            account(trigger, &result, summary);
            match &result {
                TriggerResult::Recorded(_) => {}
                TriggerResult::Retry(reason) | TriggerResult::Refused(reason) => {
                    failed = true;
                    problems.push(format!("{}: {reason}", describe(trigger)));
                }
            }
        }
        failed
    }

    async fn sqs(
        &self,
        items: &[SqsItem],
        config: Result<IngestConfig, String>,
        invoker: &Invoker,
        deadline: Deadline,
        summary: &mut Summary,
    ) -> Value {
        let mut failures: Vec<&str> = Vec::new();
        let mut longest = Duration::ZERO;
        let mut problems = Vec::new();
        summary.messages = items.len();
        for (i, item) in items.iter().enumerate() {
            if !deadline.allows(self.options.deadline_reserve + longest) {
                let unstarted = &items[i..];
                tracing::warn!(
                    deferred = unstarted.len(),
                    remaining_ms = deadline.remaining().map(|d| d.as_millis() as u64),
                    longest_message_ms = longest.as_millis() as u64,
                    "the invocation's time is running out: unstarted messages go back to the queue"
                );
                summary.deferred = unstarted.len();
                failures.extend(unstarted.iter().map(|m| m.message_id.as_str()));
                break;
            }
            let began = Instant::now();
            let failed = match &item.body {
                Err(error) => {
                    summary.unparseable += 1;
                    tracing::error!(
                        message_id = %item.message_id,
                        error = %error,
                        "unparseable message: returned as a batch item failure (dead-letter queue after maxReceiveCount)"
                    );
                    true
                }
                Ok(body) => {
                    self.body(body, &config, invoker, summary, &mut problems)
                        .await
                }
            };
            if failed {
                failures.push(&item.message_id);
            }
            longest = longest.max(began.elapsed());
        }
        summary.failed_messages = failures.len();
        let items: Vec<Value> = failures
            .iter()
            .map(|id| json!({ "itemIdentifier": id }))
            .collect();
        json!({ "batchItemFailures": items })
    }

    async fn direct(
        &self,
        records: Vec<Result<Body, crate::trigger::TriggerError>>,
        config: Result<IngestConfig, String>,
        invoker: &Invoker,
        summary: &mut Summary,
    ) -> Result<Value, HandleError> {
        let mut unusable = Vec::new();
        let mut problems = Vec::new();
        let mut retry = false;
        for record in &records {
            match record {
                Err(error) => {
                    summary.unparseable += 1;
                    tracing::error!(error = %error, "unusable event record");
                    unusable.push(error.to_string());
                }
                Ok(body) => {
                    retry |= self
                        .body(body, &config, invoker, summary, &mut problems)
                        .await;
                }
            }
        }
        if retry {
            // Lambda retries an asynchronous invocation that fails, then sends it to the
            // on-failure destination: nothing is dropped.
            return Err(HandleError::Retry {
                count: problems.len(),
                detail: problems.join("; "),
            });
        }
        if !unusable.is_empty() {
            return Err(HandleError::Unusable {
                count: unusable.len(),
                detail: unusable.join("; "),
            });
        }
        Ok(json!({ "shape": summary.shape }))
    }
}

fn describe(trigger: &Trigger) -> String {
    crate::source_of(&trigger.bucket, &trigger.key, trigger.version_id.as_deref())
}
