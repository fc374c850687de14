//! The operators' dashboard: one page, served by the hub itself, that shows
//! queues, throughput, the last bundle sent to and received from each
//! partner, and reconciliation rates over time and per port.
//!
//! What is served here is static: an HTML page, its script, its style sheet
//! and an icon, compiled into the binary (`include_str!` of
//! `host/src/dashboard/*`), with no data in them. That is why these routes
//! alone are public (`auth::Policy::public`): a browser navigating to a page
//! cannot send a bearer token. The page's script takes the operator's token
//! from the address's fragment (`/dashboard#token=…`, which a browser never
//! sends to a server) or from a field on the page, keeps it in the tab's
//! session storage, and fetches `GET /v1/status` (operator role) and
//! `GET /v1/report/breakdown` (analyst role) with `Authorization: Bearer`;
//! the token a dashboard is given therefore needs both roles.
//!
//! Nothing comes from elsewhere: no CDN, no fonts, no inline script. The
//! Content-Security-Policy sent with every file says so to the browser, so
//! an injected script or a request to another origin is refused. Charts are
//! SVG drawn by the page's own script.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

/// Every file the dashboard is made of: (path, (content type, content)).
pub const ASSETS: &[(&str, (&str, &str))] = &[
    (
        "/dashboard",
        (
            "text/html; charset=utf-8",
            include_str!("dashboard/index.html"),
        ),
    ),
    (
        "/dashboard/dashboard.js",
        (
            "text/javascript; charset=utf-8",
            include_str!("dashboard/dashboard.js"),
        ),
    ),
    (
        "/dashboard/dashboard.css",
        (
            "text/css; charset=utf-8",
            include_str!("dashboard/dashboard.css"),
        ),
    ),
    (
        "/dashboard/icon.svg",
        ("image/svg+xml", include_str!("dashboard/icon.svg")),
    ),
];

/// Only this origin, only files (no inline script or style, no `eval`), no
/// plugins, no framing, no forms sent anywhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The file at `path`, if it is one of the dashboard's.
pub fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, a)| *a)
}

/// The response for one of the dashboard's files; `None` for any other path.
pub fn serve(path: &str) -> Option<Response<Full<Bytes>>> {
    let (content_type, body) = asset(path)?;
    let response = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", content_type)
        .header("content-security-policy", CONTENT_SECURITY_POLICY)
        .header("x-content-type-options", "nosniff")
        .header("x-frame-options", "DENY")
        .header("referrer-policy", "no-referrer")
        // Small files; revalidated so a new hub version shows its own page.
        .header("cache-control", "no-cache")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("static headers are valid");
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_nothing_from_elsewhere_and_has_no_inline_script() {
        let (_, html) = asset("/dashboard").unwrap();
        for forbidden in [
            "http://", "https://", "//cdn", "<style", "onload=", "onclick=",
        ] {
            assert!(!html.contains(forbidden), "index.html contains {forbidden}");
        }
        // Every script is a file of ours.
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..html[i..].find('>').unwrap() + i];
            assert!(tag.contains("src=\"/dashboard/"), "{tag}");
        }
        let (_, js) = asset("/dashboard/dashboard.js").unwrap();
        assert!(!js.contains("innerHTML"), "text goes in with textContent");
        assert!(!js.contains("eval("));
        for (path, _) in ASSETS {
            let response = serve(path).unwrap();
            assert_eq!(
                response.headers()["content-security-policy"],
                CONTENT_SECURITY_POLICY
            );
        }
        assert!(serve("/dashboard/secret").is_none());
    }
}
