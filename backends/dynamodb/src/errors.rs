//! SDK errors → [`affine_db_core::Error`], in one place.

use affine_db_core::{item::MAX_ITEM_BYTES, Error};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

/// What the store is called in messages.
pub const STORE: &str = "DynamoDB";

/// Maps a failed request about `what` (`{table}: {operation}`, never
/// credentials) to the semantic error variant, keeping the SDK error as the
/// source.
pub fn map_err<E>(err: SdkError<E, HttpResponse>, what: &str) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::TimeoutError(_) => {
            Error::unavailable_from(format!("{what}: {STORE} request timed out"), err)
        }
        SdkError::DispatchFailure(_) => {
            Error::unavailable_from(format!("{what}: could not reach {STORE}"), err)
        }
        SdkError::ResponseError(_) => Error::unavailable_from(
            format!(
                "{what}: unreadable response from {STORE} ({})",
                describe(&err)
            ),
            err,
        ),
        SdkError::ConstructionFailure(_) => {
            Error::backend_from(format!("{what}: the request could not be built"), err)
        }
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = err.code().map(str::to_string);
            let message = err.message().map(str::to_string);
            let e = classify(code.as_deref(), message.as_deref(), status, what);
            if code.is_none() && message.is_none() {
                // Nothing to classify by: say what came back.
                e.with_note(body_note(se.raw().body().bytes()))
            } else {
                e
            }
        }
        _ => Error::backend_from(format!("{what}: {}", describe(&err)), err),
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

/// What an answer without an error code carried, for the message: the
/// start of its body.
fn body_note(body: Option<&[u8]>) -> String {
    match body {
        Some([]) => "the body was empty".to_string(),
        Some(b) => {
            let text = String::from_utf8_lossy(b);
            let snippet: String = text.chars().take(120).collect();
            let more = if snippet.len() < text.len() {
                "..."
            } else {
                ""
            };
            format!("the body was {snippet:?}{more}, not a {STORE} answer")
        }
        None => "the body could not be read".to_string(),
    }
}

/// The table a `what` of [`map_err`] names (the text before its first `:`).
fn table_of(what: &str) -> &str {
    what.split_once(':').map_or(what, |(t, _)| t).trim()
}

/// Classifies a service error by code, message and HTTP status.
pub fn classify(code: Option<&str>, message: Option<&str>, status: u16, what: &str) -> Error {
    let code = code.unwrap_or("");
    let message = message.unwrap_or("");
    let text = match (code, message) {
        ("", "") => format!("{what}: {STORE} answered HTTP {status} with no error code"),
        _ => format!("{what}: {code} {message}"),
    };
    match code {
        "ConditionalCheckFailedException" | "TransactionConflictException" => Error::Conflict(text),
        "TransactionCanceledException" if message.contains("ConditionalCheckFailed") => {
            Error::Conflict(text)
        }
        "ThrottlingException"
        | "ProvisionedThroughputExceededException"
        | "RequestLimitExceeded"
        | "LimitExceededException" => Error::throttled(text),
        "ResourceNotFoundException" | "ResourceNotFound" => {
            Error::missing_table(table_of(what), STORE)
        }
        // DynamoDB counts by its own rules and does not say the size: quote it.
        "ValidationException" if message.contains("Item size") && message.contains("exceeded") => {
            Error::TooLarge {
                what: format!("{what} ({STORE} refused it: {message:?})"),
                size: None,
                limit: MAX_ITEM_BYTES,
            }
        }
        "ValidationException" | "SerializationException" => Error::invalid("request", text),
        "InternalServerError" | "ServiceUnavailable" | "InternalFailure" => {
            Error::unavailable(text)
        }
        _ if status >= 500 => Error::unavailable(text),
        _ => Error::backend(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_error_still_says_what_came_back() {
        let e = classify(None, None, 418, "affine_scores: scan");
        assert!(e.to_string().contains("HTTP 418"), "{e}");
        assert!(body_note(Some(b"")).contains("empty"));
        assert!(body_note(Some(b"<html>oops</html>")).contains("<html>oops"));
    }

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
                Error::Throttled { .. }
            ));
        }
        assert_eq!(
            classify(
                Some("ResourceNotFound"),
                None,
                400,
                "affine_scores: get a/b"
            ),
            Error::missing_table("affine_scores", STORE)
        );
        let too_large = classify(
            Some("ValidationException"),
            Some("Item size has exceeded the maximum allowed size"),
            400,
            "x",
        );
        assert!(
            matches!(too_large, Error::TooLarge { size: None, .. }),
            "{too_large:?}"
        );
        // The size is DynamoDB's to tell, and it does not: quoted, not made up.
        assert_eq!(
            too_large.to_string(),
            "item too large: x (DynamoDB refused it: \"Item size has exceeded the maximum \
             allowed size\"), the limit is 409600 bytes"
        );
        assert!(matches!(
            classify(None, None, 503, "x"),
            Error::Unavailable { .. }
        ));
        assert!(matches!(
            classify(Some("Weird"), None, 400, "x"),
            Error::Backend { .. }
        ));
    }
}
