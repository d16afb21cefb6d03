//! Every error a client can see, as `{"status":"error","error":"..."}` with the right status.

use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::admission::AdmissionBusy;
use crate::body::BodyError;
use crate::engine::WorkError;
use crate::memory_budget::BudgetBusy;
use crate::params::ParamError;

/// Seconds a client is asked to wait (`Retry-After`) after a 503.
pub const RETRY_AFTER_SECS: u64 = 1;

/// An error answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("the body is larger than the limit of {limit} bytes (--max-body-bytes); send at most {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    #[error("the body did not arrive within {0:?} of the request head (--body-timeout); send it faster, or in full")]
    BodyTimeout(Duration),
    #[error("{0}; retry after {RETRY_AFTER_SECS} s")]
    MemoryBusy(#[from] BudgetBusy),
    #[error("POST {path} takes its parameters in the JSON body, not the query string; got {query:?}")]
    QueryOnPost { path: String, query: String },
    #[error("{0}; retry after {RETRY_AFTER_SECS} s")]
    Overloaded(#[from] AdmissionBusy),
    #[error(transparent)]
    Work(#[from] WorkError),
    #[error("no route for {method} {path}; this server answers {routes}")]
    NotFound {
        method: String,
        path: String,
        routes: String,
    },
    #[error("{method} is not allowed on {path}; use {allow}")]
    MethodNotAllowed {
        method: String,
        path: String,
        allow: &'static str,
    },
    #[error("the request's worker thread failed: {0}")]
    Internal(String),
    #[error("{0}")]
    TraceWindow(String),
    #[error(transparent)]
    TraceBusy(#[from] crate::trace::TraceBusy),
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub status: String,
    pub error: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Param(_) | Self::Body(_) | Self::BodyRead(_) | Self::QueryOnPost { .. } => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Overloaded(_) | Self::MemoryBusy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TraceWindow(_) => StatusCode::BAD_REQUEST,
            Self::TraceBusy(_) => StatusCode::CONFLICT,
            Self::Work(error) => match error {
                WorkError::Overflow(_) | WorkError::ProductOverflow(_) => StatusCode::BAD_REQUEST,
                WorkError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                WorkError::WorkerFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
                WorkError::TimedOut(_) => StatusCode::GATEWAY_TIMEOUT,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), "{self}");
        }
        let mut response = HttpResponse::build(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
        }
        if let Self::MethodNotAllowed { allow, .. } = self {
            response.insert_header((header::ALLOW, *allow));
        }
        response.json(ErrorBody {
            status: "error".into(),
            error: self.to_string(),
        })
    }
}
