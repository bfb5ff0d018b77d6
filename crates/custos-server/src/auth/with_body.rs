//! [`WithBody`]: credentials checked once the body is read.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// The access `A` of a request that carries a body, and the body. The body
/// is read first, so that one over the route's limit is refused with 413
/// before the credentials are looked at, as these APIs always answered.
pub(crate) struct WithBody<A> {
    pub(crate) access: A,
    pub(crate) body: Bytes,
}

impl<A> FromRequest<AppState> for WithBody<A>
where
    A: FromRequestParts<AppState>,
    A::Rejection: IntoResponse,
{
    /// axum's own answer to a body it cannot read, else `A`'s.
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<WithBody<A>, Response> {
        let (mut parts, body) = request.into_parts();
        // Reading the body takes a request; `A` reads the parts afterwards.
        let request = Request::from_parts(parts.clone(), body);
        let body = Bytes::from_request(request, state).await.map_err(IntoResponse::into_response)?;
        let access = A::from_request_parts(&mut parts, state).await.map_err(IntoResponse::into_response)?;
        Ok(WithBody { access, body })
    }
}
