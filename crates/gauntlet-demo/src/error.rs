//! The one error shape every 4xx/5xx answer has, and the mapping of axum's
//! extractor rejections into it.
//!
//! axum answers a failed extractor with a plain-text body. A load-test target
//! whose errors sometimes are JSON and sometimes text makes response checks
//! in plans brittle, so every handler takes its extractors as
//! `Result<Extractor, Rejection>` and converts the rejection here. The error
//! kind is the typed [`ErrorCode`]; its wire name is derived from it, never
//! the other way round.

use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What went wrong, as a closed set: the `code` field of the error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    /// The body is not JSON (400).
    MalformedJson,
    /// The JSON is fine but a field is missing or wrong (422).
    ValidationFailed,
    /// A path id is not an integer (400).
    InvalidId,
    /// A query parameter is malformed or out of range (400).
    InvalidQuery,
    /// The route or the resource does not exist (404).
    NotFound,
    /// The route exists but not with this method (405).
    MethodNotAllowed,
    /// The body is above `max_body_bytes` (413).
    PayloadTooLarge,
    /// A JSON body was sent without `Content-Type: application/json` (415).
    UnsupportedMediaType,
    /// The body could not be read (400).
    BadBody,
    /// `error_rate` picked this request (500).
    InjectedError,
    /// SQLite failed (500).
    DatabaseError,
    /// No pooled connection became free within `pool_timeout` (503).
    PoolExhausted,
    /// `POST /api/login` with a wrong password (401).
    InvalidCredentials,
    /// `GET /api/me` without a valid bearer token (401).
    Unauthorized,
    /// `GET /api/work` found every worker busy and the queue full (503).
    QueueFull,
    /// A worker thread failed (500); not expected to happen.
    Internal,
}

impl ErrorCode {
    /// The snake_case name sent on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::InvalidId => "invalid_id",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::BadBody => "bad_body",
            ErrorCode::InjectedError => "injected_error",
            ErrorCode::DatabaseError => "database_error",
            ErrorCode::PoolExhausted => "pool_exhausted",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::QueueFull => "queue_full",
            ErrorCode::Internal => "internal_error",
        }
    }

    /// The HTTP status that goes with the code.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            ErrorCode::MalformedJson
            | ErrorCode::InvalidId
            | ErrorCode::InvalidQuery
            | ErrorCode::BadBody => StatusCode::BAD_REQUEST,
            ErrorCode::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::InjectedError | ErrorCode::DatabaseError | ErrorCode::Internal => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ErrorCode::PoolExhausted | ErrorCode::QueueFull => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::InvalidCredentials | ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        }
    }
}

/// An error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    code: ErrorCode,
    message: String,
}

impl ApiError {
    /// An error of kind `code` with a human-readable explanation.
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// 404 for a missing resource (`what` is e.g. "item 7").
    pub(crate) fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// 422 with a message naming the field.
    pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::ValidationFailed, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        let mut r = (
            status,
            Json(json!({"error": {"code": self.code.as_str(), "message": self.message}})),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 9110: a 401 names the scheme it wants.
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// Body-reading failures: too large, or the connection broke mid-body.
fn body_error(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            "the request body is larger than the service accepts",
        )
    } else {
        ApiError::new(ErrorCode::BadBody, text)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        match r {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with `Content-Type: application/json`",
            ),
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::new(ErrorCode::MalformedJson, e.body_text())
            }
            JsonRejection::JsonDataError(e) => ApiError::invalid(e.body_text()),
            JsonRejection::BytesRejection(e) => body_error(e.status(), e.body_text()),
            other => body_error(other.status(), other.body_text()),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> ApiError {
        body_error(r.status(), r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> ApiError {
        ApiError::new(ErrorCode::InvalidId, "ids are 64-bit integers")
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError::new(ErrorCode::InvalidQuery, r.body_text())
    }
}
