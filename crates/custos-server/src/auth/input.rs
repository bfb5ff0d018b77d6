//! Authentication with an input's key: HTTP Basic (Events and Identity APIs),
//! HMAC signatures and, for web inputs only, the key alone (Identity API and
//! the Web SDK's uploads).

use axum::http::{HeaderMap, StatusCode};
use custos_store::{InputKind, StoredInput};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{basic_credentials, BasicCredentials, MalformedBasic};
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

/// Events API: HTTP Basic with an input's key and secret. A missing header
/// is 401; wrong credentials are 403, as mParticle answers.
pub(crate) async fn basic_input(state: &AppState, headers: &HeaderMap) -> Result<StoredInput, ApiError> {
    let BasicCredentials { key, secret } = match basic_credentials(headers) {
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
    check_key_and_secret(state, &key, &secret)
        .await?
        .ok_or_else(|| ApiError::Forbidden("Authorization: unknown key or wrong secret".into()))
}

/// A web input named by its key alone (the Web SDK's upload path carries the key).
pub(crate) async fn web_input_by_key(state: &AppState, key: &str) -> Result<StoredInput, ApiError> {
    match state.inputs.find(&*state.store, key).await? {
        Some(input) if input.kind == InputKind::Web => Ok(input),
        _ => Err(ApiError::Forbidden("the key in the path is not a web input's key".into())),
    }
}

fn identity_unauthorized(message: &str) -> ApiError {
    ApiError::Identity { status: StatusCode::UNAUTHORIZED, code: "UNAUTHORIZED", message: message.to_owned() }
}

/// Identity API: Basic, an HMAC signature (`x-mp-key`, `Date`,
/// `x-mp-signature` over `METHOD\nDATE\nPATH` followed by the body), or, for
/// web inputs, `x-mp-key` alone. A signature that is present but wrong is
/// refused whatever the key.
pub(crate) async fn identity_input(
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
