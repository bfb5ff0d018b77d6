//! The layers every request passes through, outermost first:
//! request id → trace span → JSON bodies for bare errors → CORS → timeout →
//! early refusal of oversized bodies.
//!
//! **Invariant:** spans and logs name the matched route (`/users/{email}`),
//! never the raw path, which can hold personal data; no header or body is logged.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::cors::CorsLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::{error_body, ApiError};

pub(crate) fn wrap(router: Router, max_body_bytes: usize, request_timeout: Duration) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_request(())
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(middleware::map_response(json_error_bodies))
            .layer(CorsLayer::permissive())
            .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, request_timeout))
            .layer(middleware::from_fn(move |request: Request, next: Next| {
                refuse_oversized(request, next, max_body_bytes)
            }))
            .layer(DefaultBodyLimit::max(max_body_bytes)),
    )
}

fn request_span(request: &Request<Body>) -> tracing::Span {
    let route = request.extensions().get::<MatchedPath>().map_or("(unmatched)", MatchedPath::as_str);
    let request_id =
        request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
    tracing::info_span!("request", method = %request.method(), route, request_id)
}

/// Refuses a body whose declared length is over the limit before reading any
/// of it. Bodies without a declared length are cut at the limit as they are read.
async fn refuse_oversized(request: Request, next: Next, limit: usize) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => ApiError::PayloadTooLarge { limit }.into_response(),
        _ => next.run(request).await,
    }
}

/// Gives a JSON body to the errors produced outside the handlers (unknown
/// route, wrong method, timeout, body over the limit while reading).
async fn json_error_bodies(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let reason = match status {
        StatusCode::NOT_FOUND => "no such resource".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "this method is not allowed on this resource".to_owned(),
        StatusCode::REQUEST_TIMEOUT => "the request took too long and was abandoned".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => "request body exceeds the size limit".to_owned(),
        other => other.canonical_reason().unwrap_or("error").to_owned(),
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = serde_json::to_vec(&error_body(status, &[reason])).unwrap_or_default();
    Response::from_parts(parts, Body::from(body))
}
