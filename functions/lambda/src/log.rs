//! The functions' log line: one JSON object per line, every field at the top level, so that
//! CloudWatch Logs Insights (`filter requestId = "..."`), metric filters and subscription filters
//! can use them. The wire text:
//!
//! ```text
//! {"timestamp":"2026-12-01T22:50:09.123Z","level":"ERROR","requestId":"8f5c...","target":"custody_tagger",
//!  "message":"finding recorded","key":"org/.../a.opus","finding":"missing","detail":"..."}
//! ```
//!
//! `requestId` (and `xrayTraceId`) come from the span `lambda_runtime` opens around each
//! invocation ("Lambda runtime invoke"); any field of an enclosing span is lifted the same way.
//! Event fields are written with their JSON types (numbers stay numbers), never as Rust `Debug`
//! text of a whole structure. [`init_error`] writes a failure before the first invocation in the
//! same shape, so that an initialisation error is as searchable as any other line.

use std::fmt;
use std::io::Write;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats each event as one JSON object with the top-level fields described above.
#[derive(Debug, Clone, Copy, Default)]
pub struct LambdaJson;

/// Collects an event's fields as JSON values.
struct FieldsAsJson<'a>(&'a mut Map<String, Value>);

impl Visit for FieldsAsJson<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().to_string(), Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` arrives here formatted with Display; `?value` with Debug.
        self.0
            .insert(field.name().to_string(), Value::from(format!("{value:?}")));
    }
}

/// The current time as the log line writes it: RFC 3339, UTC, milliseconds.
pub fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl<S> FormatEvent<S, JsonFields> for LambdaJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::from(timestamp()));
        line.insert("level".into(), Value::from(meta.level().as_str()));
        // Fields of the enclosing spans, outermost first, so the innermost wins.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<JsonFields>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields.as_str()) {
                    line.extend(fields);
                }
            }
        }
        line.insert("target".into(), Value::from(meta.target()));
        event.record(&mut FieldsAsJson(&mut line));
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Install [`LambdaJson`] as the global subscriber, filtered by `RUST_LOG` (default `info`).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .fmt_fields(JsonFields::new())
        .event_format(LambdaJson)
        .init();
}

/// A subscriber writing [`LambdaJson`] lines to `writer`, every level: what [`init`] installs,
/// for tests that read the log a run wrote.
pub fn subscriber<W>(writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_max_level(tracing::Level::TRACE)
        .fmt_fields(JsonFields::new())
        .event_format(LambdaJson)
        .finish()
}

/// The line [`init_error`] writes: a failure before the first invocation, in the log's shape.
pub fn init_error_line(function: &str, error: &dyn fmt::Display) -> Value {
    serde_json::json!({
        "timestamp": timestamp(),
        "level": "ERROR",
        "target": function,
        "message": "initialisation failed",
        "errorType": "InitError",
        "error": error.to_string(),
    })
}

/// Write an initialisation failure as one JSON line on standard error.
pub fn init_error(function: &str, error: &dyn fmt::Display) {
    let line = init_error_line(function, error);
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    fn lines(run: impl FnOnce()) -> Vec<Value> {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buffer.clone())
            .fmt_fields(JsonFields::new())
            .event_format(LambdaJson)
            .finish();
        tracing::subscriber::with_default(subscriber, run);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    #[test]
    fn every_line_has_the_request_id_and_a_timestamp_at_the_top_level() {
        let lines = lines(|| {
            // The span lambda_runtime opens around each invocation.
            let span = tracing::info_span!(
                "Lambda runtime invoke",
                requestId = "8f5c-req",
                xrayTraceId = "Root=1-abc"
            );
            let _entered = span.enter();
            tracing::error!(
                key = "org/a.opus",
                finding = "missing",
                objects = 3u64,
                "finding recorded"
            );
        });
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["requestId"], "8f5c-req");
        assert_eq!(line["xrayTraceId"], "Root=1-abc");
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["message"], "finding recorded");
        assert_eq!(line["finding"], "missing");
        assert_eq!(line["objects"], 3);
        let stamp = line["timestamp"].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(stamp).unwrap();
        assert!(line.get("spans").is_none() && line.get("fields").is_none());
    }

    #[test]
    fn a_line_outside_an_invocation_has_no_request_id() {
        let lines = lines(|| tracing::info!(count = 1u64, "starting"));
        assert!(lines[0].get("requestId").is_none());
        assert_eq!(lines[0]["count"], 1);
    }

    #[test]
    fn an_init_error_is_one_json_line() {
        let line = init_error_line("custody-tagger", &"CUSTODY_LEDGER: not set");
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["error"], "CUSTODY_LEDGER: not set");
        assert!(!line.to_string().contains('\n'));
    }
}
