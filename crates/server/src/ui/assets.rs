//! The UI's static files, embedded in the binary (see `crates/server/assets/README.md`).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// (name, content type, bytes) of every asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/htmx.min.js")),
    ("ui.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/ui.js")),
    ("ui.css", "text/css; charset=utf-8", include_bytes!("../../assets/ui.css")),
];

/// `GET /ui/assets/{file}`.
pub(super) async fn serve(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => {
            ([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "max-age=3600")], *bytes).into_response()
        }
        None => (StatusCode::NOT_FOUND, format!("no asset {file:?}")).into_response(),
    }
}
