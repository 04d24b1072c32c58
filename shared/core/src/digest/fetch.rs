//! Fetching one part of a pinned version, resuming a broken body from its byte offset.

use bytes::Bytes;
use futures::StreamExt;

use super::plan::Part;
use super::{DigestError, RetryPolicy};
use crate::store::{ObjectBody, ObjectHead, StoreError, StoreErrorKind, StoreRead};

/// The version being read, as HEAD described it. Every GET must serve exactly this.
#[derive(Debug, Clone)]
pub(crate) struct Pinned {
    pub key: String,
    pub version_id: Option<String>,
    pub etag: String,
    pub size: u64,
}

/// Progress of one part: bytes handed to the sink so far, and retries on the way.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Progress {
    pub len: u64,
    pub retries: u32,
}

enum Failure {
    /// Worth another try; `progressed` when some bytes arrived before it broke.
    Transient {
        error: StoreError,
        progressed: bool,
    },
    Fatal(DigestError),
}

pub(crate) fn unquote(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// Fetches `part` of the pinned version, handing its bytes to `sink` in order, each byte once.
/// Transient failures are retried with backoff; a body that breaks off is resumed with a ranged
/// GET of the same version from the first missing byte. Gives up after `retry.max_attempts`
/// failures in a row without progress. `opened`: a body of the part already asked for (by a
/// GET that also described the object), read first instead of a new GET.
pub(crate) async fn fetch_part(
    store: &dyn StoreRead,
    pinned: &Pinned,
    part: Part,
    retry: &RetryPolicy,
    sink: &mut (dyn FnMut(Bytes) + Send),
    mut opened: Option<ObjectBody>,
) -> Result<Progress, DigestError> {
    let mut fetched = Progress::default();
    let mut failures_in_a_row = 0u32;
    loop {
        match read_once(store, pinned, part, &mut fetched, sink, opened.take()).await {
            Ok(()) => return Ok(fetched),
            Err(Failure::Fatal(error)) => return Err(error),
            Err(Failure::Transient { .. }) if part.len > 0 && fetched.len == part.len => {
                // Every byte asked for arrived before the body failed (a trailer, a
                // connection closed after the last byte): there is nothing left to ask for, and
                // a zero-length range would be refused (416). The bytes are the engine's to
                // judge: they are hashed and compared with what the store recorded.
                return Ok(fetched);
            }
            Err(Failure::Transient { error, progressed }) => {
                failures_in_a_row = if progressed { 1 } else { failures_in_a_row + 1 };
                if failures_in_a_row >= retry.max_attempts {
                    return Err(DigestError::store(&pinned.key, error, failures_in_a_row));
                }
                tracing::debug!(
                    key = %pinned.key,
                    offset = part.offset + fetched.len,
                    error = %error,
                    "retrying GET"
                );
                fetched.retries += 1;
                tokio::time::sleep(retry.delay(failures_in_a_row)).await;
            }
        }
    }
}

async fn read_once(
    store: &dyn StoreRead,
    pinned: &Pinned,
    part: Part,
    fetched: &mut Progress,
    sink: &mut (dyn FnMut(Bytes) + Send),
    opened: Option<ObjectBody>,
) -> Result<(), Failure> {
    let mut body = match opened {
        Some(body) => body,
        None => store
            .get(
                &pinned.key,
                pinned.version_id.as_deref(),
                part.remaining(fetched.len),
            )
            .await
            .map_err(|error| classify(&pinned.key, error, false))?,
    };
    check_served(pinned, &body, part.len - fetched.len).map_err(Failure::Fatal)?;

    let started_at = fetched.len;
    while let Some(chunk) = body.chunks.next().await {
        let chunk =
            chunk.map_err(|error| classify(&pinned.key, error, fetched.len > started_at))?;
        let len = chunk.len() as u64;
        if fetched.len + len > part.len {
            return Err(Failure::Fatal(DigestError::LengthMismatch {
                key: pinned.key.clone(),
                version: pinned.version_id.clone(),
                what: "a body ran past the bytes asked for",
                expected: part.len - started_at,
                served: fetched.len + len - started_at,
            }));
        }
        if len > 0 {
            fetched.len += len;
            sink(chunk);
        }
    }
    if fetched.len < part.len {
        let error = StoreError::new(
            StoreErrorKind::Transient,
            "GetObject",
            format!(
                "the body ended at byte {} of {} (offset {} in the object)",
                fetched.len,
                part.len,
                part.offset + fetched.len
            ),
        )
        .with_key(&pinned.key);
        return Err(Failure::Transient {
            error,
            progressed: fetched.len > started_at,
        });
    }
    Ok(())
}

fn classify(key: &str, error: StoreError, progressed: bool) -> Failure {
    if error.is_retryable() {
        Failure::Transient { error, progressed }
    } else {
        Failure::Fatal(DigestError::store(key, error, 1))
    }
}

/// The body must be the pinned version, with the pinned ETag, and announce the bytes asked for.
fn check_served(pinned: &Pinned, body: &ObjectBody, expected_len: u64) -> Result<(), DigestError> {
    if pinned.version_id.is_some() && body.version_id != pinned.version_id {
        return Err(DigestError::VersionChanged {
            key: pinned.key.clone(),
            pinned: pinned.version_id.clone(),
            served: body.version_id.clone(),
        });
    }
    if unquote(&body.etag) != unquote(&pinned.etag) {
        return Err(DigestError::ContentChanged {
            key: pinned.key.clone(),
            version: pinned.version_id.clone(),
            pinned_etag: unquote(&pinned.etag).to_string(),
            served_etag: unquote(&body.etag).to_string(),
        });
    }
    if body.content_length != expected_len {
        return Err(DigestError::LengthMismatch {
            key: pinned.key.clone(),
            version: pinned.version_id.clone(),
            what: "a GET announced another length than asked for",
            expected: expected_len,
            served: body.content_length,
        });
    }
    Ok(())
}

/// Decides the version every GET will ask for, and refuses a HEAD that answered for another one.
pub(crate) fn pin(
    key: &str,
    requested: Option<&str>,
    head: &ObjectHead,
) -> Result<Pinned, DigestError> {
    if let Some(requested) = requested
        && head.version_id.as_deref() != Some(requested)
    {
        return Err(DigestError::VersionChanged {
            key: key.to_string(),
            pinned: Some(requested.to_string()),
            served: head.version_id.clone(),
        });
    }
    Ok(Pinned {
        key: key.to_string(),
        version_id: head.version_id.clone(),
        etag: unquote(&head.etag).to_string(),
        size: head.size,
    })
}
