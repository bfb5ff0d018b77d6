//! Authentication with an input's key, as extractors: HTTP Basic (Events and
//! Identity APIs), HMAC signatures and, for web inputs only, the key alone
//! (Identity API and the Web SDK's uploads).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use custos_store::{InputKind, StoredInput};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{basic_credentials, BasicCredentials, MalformedBasic, WithBody};
use crate::error::ApiError;
use crate::secrets::{hash_secret, verify_secret};
use crate::state::AppState;

/// The input whose key and secret these are, checking the secret in constant time
/// (and hashing even for an unknown key, so timing does not reveal which keys exist).
async fn check_key_and_secret(state: &AppState, key: &str, secret: &str) -> Result<Option<StoredInput>, ApiError> {
    let input = state.inputs.find(&*state.store, key).await?;
    let expected = input.as_ref().map_or_else(|| hash_secret(""), |input| input.secret_hash.clone());
    let valid = verify_secret(secret, &expected);
    Ok(input.filter(|_| valid))
}

/// The input of an Events API request: HTTP Basic with the input's key and
/// secret. A missing header is 401; wrong credentials are 403, as mParticle answers.
pub(crate) struct EventsInput(pub(crate) StoredInput);

impl FromRequestParts<AppState> for EventsInput {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<EventsInput, ApiError> {
        let BasicCredentials { key, secret } = match basic_credentials(&parts.headers) {
            None => {
                return Err(ApiError::BasicUnauthorized(
                    "Authorization: HTTP Basic with an input's key and secret is required".into(),
                ))
            }
            Some(Err(MalformedBasic)) => {
                return Err(ApiError::Forbidden("Authorization: malformed Basic credentials".into()))
            }
            Some(Ok(credentials)) => credentials,
        };
        let input = check_key_and_secret(state, &key, &secret)
            .await?
            .ok_or_else(|| ApiError::Forbidden("Authorization: unknown key or wrong secret".into()))?;
        Ok(EventsInput(input))
    }
}

/// The web input whose key the Web SDK's upload path names (`/v3/JS/{key}/events`):
/// the key alone, which only a web input accepts.
pub(crate) struct WebSdkInput(pub(crate) StoredInput);

impl FromRequestParts<AppState> for WebSdkInput {
    /// axum's own answer to a path it cannot read, else an [`ApiError`].
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<WebSdkInput, Response> {
        let Path(key) = Path::<String>::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        match state.inputs.find(&*state.store, &key).await.map_err(|e| ApiError::from(e).into_response())? {
            Some(input) if input.kind == InputKind::Web => Ok(WebSdkInput(input)),
            _ => Err(ApiError::Forbidden("the key in the path is not a web input's key".into()).into_response()),
        }
    }
}

fn identity_unauthorized(message: &str) -> ApiError {
    ApiError::Identity { status: StatusCode::UNAUTHORIZED, code: "UNAUTHORIZED", message: message.to_owned() }
}

/// The input of an Identity API request, with the body it signs. Basic, an
/// HMAC signature (`x-mp-key`, `Date`, `x-mp-signature` over
/// `METHOD\nDATE\nPATH` followed by the body), or, for web inputs,
/// `x-mp-key` alone. A signature that is present but wrong is refused
/// whatever the key. The body is read first ([`WithBody`]), as it always was.
pub(crate) struct IdentityInput {
    pub(crate) input: StoredInput,
    pub(crate) body: Bytes,
}

impl FromRequest<AppState> for IdentityInput {
    /// axum's own answer to a body it cannot read, else an [`ApiError`].
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<IdentityInput, Response> {
        let WithBody { access: (method, OriginalUri(uri), headers), body } =
            WithBody::<(Method, OriginalUri, HeaderMap)>::from_request(request, state).await?;
        let input = identity_input(state, &headers, method.as_str(), uri.path(), &body)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(IdentityInput { input, body })
    }
}

async fn identity_input(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<StoredInput, ApiError> {
    if let Some(credentials) = basic_credentials(headers) {
        let BasicCredentials { key, secret } =
            credentials.map_err(|MalformedBasic| identity_unauthorized("malformed Basic credentials"))?;
        return check_key_and_secret(state, &key, &secret)
            .await?
            .ok_or_else(|| identity_unauthorized("unknown key or wrong secret"));
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let key = header("x-mp-key")
        .ok_or_else(|| identity_unauthorized("credentials are required: Basic, or x-mp-key with an x-mp-signature"))?;
    let input = state.inputs.find(&*state.store, key).await?;
    match header("x-mp-signature") {
        Some(signature) => {
            let date = header("date").ok_or_else(|| identity_unauthorized("a signed request needs a Date header"))?;
            let secret = input
                .as_ref()
                .and_then(|input| input.secret_sealed.as_deref())
                .and_then(|sealed| state.config.master_key.open(sealed));
            let valid = secret.is_some_and(|secret| signature_matches(&secret, method, date, path, body, signature));
            match input {
                Some(input) if valid => Ok(input),
                _ => Err(identity_unauthorized("x-mp-signature does not match")),
            }
        }
        None => match input {
            Some(input) if input.kind == InputKind::Web => Ok(input),
            Some(_) => Err(identity_unauthorized("this input needs a signature or Basic credentials")),
            None => Err(identity_unauthorized("unknown x-mp-key")),
        },
    }
}

fn signature_matches(secret: &str, method: &str, date: &str, path: &str, body: &[u8], signature: &str) -> bool {
    let Ok(expected) = hex::decode(signature.trim().to_ascii_lowercase()) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(format!("{method}\n{date}\n{path}").as_bytes());
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_method_date_path_and_body() {
        let sign = |secret: &str, message: &str| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(message.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        };
        let date = "Tue, 01 Jul 2025 12:00:00 GMT";
        let good = sign("s", &format!("POST\n{date}\n/v1/identify{{}}"));
        assert!(signature_matches("s", "POST", date, "/v1/identify", b"{}", &good));
        assert!(signature_matches("s", "POST", date, "/v1/identify", b"{}", &good.to_uppercase()));
        assert!(!signature_matches("s", "POST", date, "/v1/identify", b"{ }", &good));
        assert!(!signature_matches("s", "POST", date, "/v1/login", b"{}", &good));
        assert!(!signature_matches("t", "POST", date, "/v1/identify", b"{}", &good));
        assert!(!signature_matches("s", "POST", date, "/v1/identify", b"{}", "zz"));
    }
}
