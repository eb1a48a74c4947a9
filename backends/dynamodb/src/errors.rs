//! SDK errors → [`affine_db::Error`], in one place.

use affine_db::{item::MAX_ITEM_BYTES, Error};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

/// Maps a failed request about `what` (table and key, never credentials)
/// to the semantic error variant.
pub fn map_err<E>(err: SdkError<E, HttpResponse>, what: &str) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &err {
        SdkError::TimeoutError(_) => Error::Unavailable(format!("{what}: request timed out")),
        SdkError::DispatchFailure(e) => {
            Error::Unavailable(format!("{what}: could not reach DynamoDB ({e:?})"))
        }
        SdkError::ResponseError(_) => {
            Error::Unavailable(format!("{what}: unreadable response from DynamoDB"))
        }
        SdkError::ConstructionFailure(_) => Error::backend(format!("{what}: {}", describe(&err))),
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            classify(err.code(), err.message(), status, what)
        }
        _ => Error::backend(format!("{what}: {}", describe(&err))),
    }
}

fn describe<E: std::error::Error + 'static>(err: &SdkError<E, HttpResponse>) -> String {
    let mut out = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Classifies a service error by code, message and HTTP status.
pub fn classify(code: Option<&str>, message: Option<&str>, status: u16, what: &str) -> Error {
    let code = code.unwrap_or("");
    let message = message.unwrap_or("");
    let text = format!("{what}: {code} {message}");
    match code {
        "ConditionalCheckFailedException" | "TransactionConflictException" => Error::Conflict(text),
        "TransactionCanceledException" if message.contains("ConditionalCheckFailed") => {
            Error::Conflict(text)
        }
        "ThrottlingException"
        | "ProvisionedThroughputExceededException"
        | "RequestLimitExceeded"
        | "LimitExceededException" => Error::Throttled(text),
        "ResourceNotFoundException" | "ResourceNotFound" => Error::NotFound(text),
        "ValidationException" if message.contains("Item size") && message.contains("exceeded") => {
            Error::TooLarge {
                what: what.to_string(),
                size: MAX_ITEM_BYTES + 1,
                limit: MAX_ITEM_BYTES,
            }
        }
        "ValidationException" | "SerializationException" => Error::invalid("request", text),
        "InternalServerError" | "ServiceUnavailable" | "InternalFailure" => {
            Error::Unavailable(text)
        }
        _ if status >= 500 => Error::Unavailable(text),
        _ => Error::Backend(text),
    }
}

/// Whether a failed request returned ConditionalCheckFailed.
pub fn is_conditional<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    matches!(err, SdkError::ServiceError(_))
        && err.code() == Some("ConditionalCheckFailedException")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_variants() {
        assert!(matches!(
            classify(Some("ConditionalCheckFailedException"), None, 400, "x"),
            Error::Conflict(_)
        ));
        for c in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "RequestLimitExceeded",
        ] {
            assert!(matches!(
                classify(Some(c), None, 400, "x"),
                Error::Throttled(_)
            ));
        }
        assert!(matches!(
            classify(Some("ResourceNotFound"), None, 400, "x"),
            Error::NotFound(_)
        ));
        assert!(matches!(
            classify(
                Some("ValidationException"),
                Some("Item size has exceeded the maximum allowed size"),
                400,
                "x"
            ),
            Error::TooLarge { .. }
        ));
        assert!(matches!(
            classify(None, None, 503, "x"),
            Error::Unavailable(_)
        ));
        assert!(matches!(
            classify(Some("Weird"), None, 400, "x"),
            Error::Backend(_)
        ));
    }
}
