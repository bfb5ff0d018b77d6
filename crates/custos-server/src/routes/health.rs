//! `GET /healthz`: 200 once the store is open and answering.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(health))
}

async fn health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.count_organizations().await?;
    Ok(Json(json!({ "status": "ok", "store": state.store.backend() })))
}
