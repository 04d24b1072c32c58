//! SDK errors as store errors: the action, the key, the service code, and the kind that decides
//! whether a caller retries (throttling and 5xx are transient; denials and missing keys are not).

use super::*;

/// Turns an SDK error into a [`StoreError`] naming the action, the key and the service's code.
pub(crate) fn sdk_error<E>(
    action: &'static str,
    key: Option<&str>,
    error: SdkError<E, HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = error.raw_response().map(|r| r.status().as_u16());
    let code = error.code().map(str::to_string);
    let kind = match &error {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StoreErrorKind::Transient
        }
        SdkError::ConstructionFailure(_) => StoreErrorKind::InvalidRequest,
        _ => classify(status, code.as_deref()),
    };
    let detail = match (error.message(), status) {
        (Some(message), Some(status)) => format!("HTTP {status}: {message}"),
        (Some(message), None) => message.to_string(),
        // HEAD answers carry no body, hence no message.
        (None, Some(status)) => format!("HTTP {status} without an error message"),
        (None, None) => DisplayErrorContext(&error).to_string(),
    };
    let mut store_error = StoreError::new(kind, action, detail);
    if let Some(code) = code {
        store_error = store_error.with_code(code);
    } else if status == Some(404) {
        store_error = store_error.with_code("NotFound");
    }
    if let Some(key) = key {
        store_error = store_error.with_key(key);
    }
    store_error
}

pub(super) fn classify(status: Option<u16>, code: Option<&str>) -> StoreErrorKind {
    match code {
        Some(
            "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AllAccessDisabled",
        ) => {
            return StoreErrorKind::AccessDenied;
        }
        Some("NoSuchKey" | "NoSuchVersion" | "NoSuchBucket" | "NotFound") => {
            return StoreErrorKind::NotFound;
        }
        Some("PreconditionFailed") => return StoreErrorKind::PreconditionFailed,
        Some(
            "ConditionalRequestConflict"
            | "SlowDown"
            | "InternalError"
            | "ServiceUnavailable"
            | "RequestTimeout"
            | "Throttling"
            | "ThrottlingException"
            | "RequestTimeTooSkewed",
        ) => return StoreErrorKind::Transient,
        Some(
            "InvalidRequest" | "InvalidArgument" | "InvalidRange" | "InvalidTag" | "BadRequest",
        ) => {
            return StoreErrorKind::InvalidRequest;
        }
        _ => {}
    }
    match status {
        Some(403) => StoreErrorKind::AccessDenied,
        Some(404) => StoreErrorKind::NotFound,
        Some(412) => StoreErrorKind::PreconditionFailed,
        Some(409 | 429 | 500 | 502 | 503 | 504) => StoreErrorKind::Transient,
        Some(400 | 416) => StoreErrorKind::InvalidRequest,
        _ => StoreErrorKind::Other,
    }
}

pub(crate) fn is_missing_object_lock(error: &StoreError) -> bool {
    let message = error.message.to_ascii_lowercase();
    matches!(
        error.code.as_deref(),
        Some("InvalidRequest" | "ObjectLockConfigurationNotFoundError" | "InvalidBucketState")
    ) && (message.contains("object lock") || message.contains("objectlock"))
}
