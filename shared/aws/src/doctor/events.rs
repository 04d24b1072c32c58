//! Whether the buckets' events are wired, from `GetBucketNotificationConfiguration`:
//!
//! ```xml
//! <NotificationConfiguration>
//!   <EventBridgeConfiguration/>                        <!-- EventBridge delivery on -->
//!   <QueueConfiguration><Queue>arn:aws:sqs:…</Queue><Event>s3:ObjectCreated:Put</Event>…
//! </NotificationConfiguration>
//! ```
//!
//! - export bucket: EventBridge delivery (an existing bucket: the stack's rule forwards its
//!   "Object Created" events to the queue) or a queue notification for `s3:ObjectCreated:*` (a
//!   bucket the stack created).
//! - ledger bucket: EventBridge delivery (new submissions wake the sequencer).
//!
//! An S3-compatible server (a custom `--endpoint-url`) that answers an empty configuration, or
//! does not implement the call, cannot show whether events flow: "could not check", not a failure.

use super::{Area, Check, Place, S3, answer, is_denied};

/// Which wiring the bucket needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    ExportObjectCreated,
    LedgerEventBridge,
}

pub async fn check(
    client: &S3,
    place: &Place,
    expect: Expect,
    custom_endpoint: Option<&str>,
    checks: &mut Vec<Check>,
) {
    let subject = format!("s3://{}", place.bucket);
    let bucket = place.bucket.as_str();
    let name = match expect {
        Expect::ExportObjectCreated => "export events reach the queue",
        Expect::LedgerEventBridge => "submissions wake the sequencer",
    };
    let switch = format!(
        "turn on EventBridge delivery, keeping the existing notifications: aws s3api \
         put-bucket-notification-configuration --bucket {bucket} --notification-configuration \
         \"$( (aws s3api get-bucket-notification-configuration --bucket {bucket}; echo '{{}}') | \
         jq -s '.[0] + {{EventBridgeConfiguration: {{}}}}')\" (docs/deploy.md)"
    );
    let out = match answer(
        "GetBucketNotificationConfiguration",
        client
            .get_bucket_notification_configuration()
            .bucket(bucket)
            .send()
            .await,
    ) {
        Ok(out) => out,
        Err(e) if is_denied(&e) => {
            checks.push(Check::unknown(
                Area::Events,
                &subject,
                name,
                format!(
                    "GetBucketNotificationConfiguration answered {e}: this identity may not \
                     read it (s3:GetBucketNotification), which the role does not need"
                ),
            ));
            return;
        }
        Err(e) => {
            let unsupported = matches!(
                e.code.as_deref(),
                Some("NotImplemented" | "MethodNotAllowed" | "UnsupportedOperation")
            );
            let reason = if unsupported {
                format!("the server does not support GetBucketNotificationConfiguration ({e})")
            } else {
                format!("GetBucketNotificationConfiguration answered {e}")
            };
            checks.push(Check::unknown(Area::Events, &subject, name, reason));
            return;
        }
    };
    let eventbridge = out.event_bridge_configuration().is_some();
    let queues: Vec<String> = out
        .queue_configurations()
        .iter()
        .filter(|q| {
            q.events()
                .iter()
                .any(|e| e.as_str().starts_with("s3:ObjectCreated"))
        })
        .map(|q| q.queue_arn().to_string())
        .collect();
    let empty = !eventbridge
        && out.queue_configurations().is_empty()
        && out.topic_configurations().is_empty()
        && out.lambda_function_configurations().is_empty();
    let check = match (expect, eventbridge, queues.is_empty()) {
        (_, true, _) => Check::pass(
            Area::Events,
            &subject,
            name,
            match expect {
                Expect::ExportObjectCreated => {
                    "EventBridge delivery on (the stack's rule forwards Object Created events \
                     under the prefix to the queue)"
                }
                Expect::LedgerEventBridge => "EventBridge delivery on",
            },
        ),
        (Expect::ExportObjectCreated, false, false) => Check::pass(
            Area::Events,
            &subject,
            name,
            format!(
                "queue notification for s3:ObjectCreated to {}",
                queues.join(", ")
            ),
        ),
        _ if empty && custom_endpoint.is_some() => Check::unknown(
            Area::Events,
            &subject,
            name,
            format!(
                "the server at {} answered an empty notification configuration; S3-compatible \
                 servers (SeaweedFS) accept the call but deliver no events, so whether events \
                 flow cannot be told here",
                custom_endpoint.unwrap_or_default()
            ),
        ),
        _ => Check::fail(
            Area::Events,
            &subject,
            name,
            "neither EventBridge delivery nor a queue notification for s3:ObjectCreated: new \
             objects would get no custody record until a back-fill",
            switch,
        ),
    };
    checks.push(check);
}
