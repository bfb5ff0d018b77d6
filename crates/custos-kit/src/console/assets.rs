//! The console's stylesheet and script, compiled into the binary and served
//! under paths that carry a digest of their content
//! (`/assets/console.<12 hex>.css`), so browsers may keep them forever: a
//! changed file has a new path.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    /// `/assets/<stem>.<digest>.<extension>`.
    path: String,
    content_type: &'static str,
    body: &'static str,
}

impl Asset {
    fn new(stem: &str, extension: &str, content_type: &'static str, body: &'static str) -> Asset {
        let digest = hex::encode(Sha256::digest(body.as_bytes()));
        Asset { path: format!("/assets/{stem}.{}.{extension}", &digest[..12]), content_type, body }
    }
}

static STYLESHEET: LazyLock<Asset> =
    LazyLock::new(|| Asset::new("console", "css", "text/css; charset=utf-8", include_str!("assets/console.css")));

static SCRIPT: LazyLock<Asset> =
    LazyLock::new(|| Asset::new("console", "js", "text/javascript; charset=utf-8", include_str!("assets/console.js")));

/// Where the stylesheet is served.
pub fn stylesheet_path() -> &'static str {
    &STYLESHEET.path
}

/// Where the script is served.
pub fn script_path() -> &'static str {
    &SCRIPT.path
}

/// `GET /assets/{file}`: the asset of that exact path, cached for a year
/// and never revalidated; anything else 404.
pub(crate) async fn serve(Path(file): Path<String>) -> Response {
    let path = format!("/assets/{file}");
    let Some(asset) = [&*STYLESHEET, &*SCRIPT].into_iter().find(|asset| asset.path == path) else {
        return (StatusCode::NOT_FOUND, [(CONTENT_TYPE, "text/plain; charset=utf-8")], "Not found").into_response();
    };
    (
        [
            (CONTENT_TYPE, asset.content_type),
            (CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_paths_carry_a_digest_of_their_content() {
        let css = stylesheet_path();
        assert!(css.starts_with("/assets/console.") && css.ends_with(".css"), "{css}");
        let digest = &css["/assets/console.".len()..css.len() - ".css".len()];
        assert_eq!(digest.len(), 12);
        assert!(hex::encode(Sha256::digest(STYLESHEET.body.as_bytes())).starts_with(digest));
        assert!(script_path().ends_with(".js"));
        assert_ne!(stylesheet_path(), script_path());
    }

    #[tokio::test]
    async fn assets_are_served_immutable_and_unknown_paths_are_not_found() {
        let file = stylesheet_path().trim_start_matches("/assets/").to_owned();
        let response = serve(Path(file)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CACHE_CONTROL], "public, max-age=31536000, immutable");
        assert_eq!(response.headers()[CONTENT_TYPE], "text/css; charset=utf-8");
        let stale = serve(Path("console.000000000000.css".to_owned())).await;
        assert_eq!(stale.status(), StatusCode::NOT_FOUND);
    }
}
