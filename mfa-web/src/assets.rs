//! The static files: three pages (enrollment, approval, the account page at `/`), their
//! script and style, the service worker that shows Web
//! Push notifications, and the manifest that lets iOS add the page to the home screen (Web
//! Push needs that there). All are compiled in; the pages read their link from the address.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::link;

// The three pages share their head (`head.html`); each file holds the rest, from `<title>`.
const ENROLL_HTML: &str = concat!(
    include_str!("../assets/head.html"),
    include_str!("../assets/enroll.html")
);
const APPROVE_HTML: &str = concat!(
    include_str!("../assets/head.html"),
    include_str!("../assets/approve.html")
);
const INDEX_HTML: &str = concat!(
    include_str!("../assets/head.html"),
    include_str!("../assets/index.html")
);
const NOT_FOUND_HTML: &str = include_str!("../assets/not-found.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");
const SW_JS: &str = include_str!("../assets/sw.js");
const MANIFEST: &str = include_str!("../assets/manifest.webmanifest");
const ICON: &str = include_str!("../assets/icon.svg");

fn file(status: StatusCode, content_type: &'static str, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

const HTML: &str = "text/html; charset=utf-8";

/// A page for a link, or "not valid" for a path that cannot be a link.
fn page(token: &str, html: &'static str) -> Response {
    match link::checked(token) {
        Some(_) => file(StatusCode::OK, HTML, html),
        None => not_found_page(),
    }
}

/// `GET /`, where the manifest's `start_url` lands.
pub(crate) async fn index() -> Response {
    file(StatusCode::OK, HTML, INDEX_HTML)
}

/// `GET /enroll/{token}`.
pub(crate) async fn enroll_page(Path(token): Path<String>) -> Response {
    page(&token, ENROLL_HTML)
}

/// `GET /approve/{id}`.
pub(crate) async fn approve_page(Path(id): Path<String>) -> Response {
    page(&id, APPROVE_HTML)
}

/// Any other path.
pub(crate) async fn not_found() -> Response {
    not_found_page()
}

fn not_found_page() -> Response {
    file(StatusCode::NOT_FOUND, HTML, NOT_FOUND_HTML)
}

/// `GET /app.js`.
pub(crate) async fn app_js() -> Response {
    file(StatusCode::OK, "text/javascript; charset=utf-8", APP_JS)
}

/// `GET /app.css`.
pub(crate) async fn app_css() -> Response {
    file(StatusCode::OK, "text/css; charset=utf-8", APP_CSS)
}

/// `GET /sw.js`, at the root so that its scope is every page.
pub(crate) async fn service_worker() -> Response {
    file(StatusCode::OK, "text/javascript; charset=utf-8", SW_JS)
}

/// `GET /manifest.webmanifest`.
pub(crate) async fn manifest() -> Response {
    file(StatusCode::OK, "application/manifest+json", MANIFEST)
}

/// `GET /icon.svg`, the manifest's icon.
pub(crate) async fn icon() -> Response {
    file(StatusCode::OK, "image/svg+xml", ICON)
}
