//! Reading JSON bodies into drafts, naming the field of anything malformed.

use serde_json::{Map, Value};

use crate::domain::FieldError;
use crate::error::RmError;

pub(crate) fn object(body: &[u8]) -> Result<Map<String, Value>, RmError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(RmError::invalid("body", "must be a JSON object")),
        Err(error) => Err(RmError::invalid("body", format!("is not valid JSON: {error}"))),
    }
}

/// A JSON object, or a console form's fields as strings (its CSRF token
/// left out); an empty body is an empty object.
pub(crate) fn object_or_form(headers: &axum::http::HeaderMap, body: &[u8]) -> Result<Map<String, Value>, RmError> {
    let is_form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        return Ok(url::form_urlencoded::parse(body)
            .filter(|(name, _)| name != "csrf_token")
            .map(|(name, value)| (name.into_owned(), Value::String(value.into_owned())))
            .collect());
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    object(body)
}

/// A body's fields ([`object_or_form`]), with a problem for each one not in `known`.
pub(crate) fn read_body(
    headers: &axum::http::HeaderMap,
    body: &[u8],
    known: &[&str],
) -> Result<(Map<String, Value>, Vec<FieldError>), RmError> {
    let body = object_or_form(headers, body)?;
    let mut problems = Vec::new();
    no_unknown_fields(&body, known, "", &mut problems);
    Ok((body, problems))
}

/// `value`, or a problem saying `field` is required (unless it has one already).
pub(crate) fn required<T>(value: Option<T>, field: &str, problems: &mut Vec<FieldError>) -> Option<T> {
    if value.is_none() && !problems.iter().any(|problem| problem.field == field) {
        problems.push(FieldError::new(field, "is required"));
    }
    value
}

/// A text field: absent or null is `None`, anything but a string is a problem.
pub(crate) fn text(
    object: &Map<String, Value>,
    name: &str,
    path: &str,
    problems: &mut Vec<FieldError>,
) -> Option<String> {
    match object.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            problems.push(FieldError::new(path, "must be a string"));
            None
        }
    }
}

/// Reports every field not in `known`, so that a misspelt field is not silently ignored.
pub(crate) fn no_unknown_fields(
    object: &Map<String, Value>,
    known: &[&str],
    prefix: &str,
    problems: &mut Vec<FieldError>,
) {
    for name in object.keys().filter(|name| !known.contains(&name.as_str())) {
        problems.push(FieldError::new(
            format!("{prefix}{name}"),
            format!("is not a known field; expected one of {}", known.join(", ")),
        ));
    }
}
