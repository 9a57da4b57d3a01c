//! Response bodies: httpbin's fixed `/json` and `/html` documents, `/bytes/{n}`, a streamed
//! deterministic pattern, and `/base64/{value}`, any body a test needs (bodies that are not
//! JSON, for `res.json()`'s errors).

use axum::body::Body;
use axum::http::header::{self, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use bytes::Bytes;

use super::{error, path_after, with_type, APPLICATION_JSON};
use crate::target::body::Pattern;
use crate::target::MAX_BYTES;

pub fn routes() -> Router {
    Router::new()
        .route("/json", any(json))
        .route("/html", any(html))
        .route("/bytes/", any(bytes_response))
        .route("/bytes/{*n}", any(bytes_response))
        .route("/base64/", any(base64_response))
        .route("/base64/{*value}", any(base64_response))
}

const TEXT_HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
const OCTET_STREAM: HeaderValue = HeaderValue::from_static("application/octet-stream");

/// The fixed document served by `/json` (httpbin's sample slideshow), handy for
/// `res.json('slideshow.slides.#')`.
const JSON_DOC: &str = r#"{"slideshow":{"author":"Yours Truly","date":"date of publication","slides":[{"title":"Wake up to WonderWidgets!","type":"all"},{"items":["Why <em>WonderWidgets</em> are great","Who <em>buys</em> WonderWidgets"],"title":"Overview","type":"all"}],"title":"Sample Slide Show"}}"#;

const HTML_DOC: &str = "<!DOCTYPE html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Volley target</title>\n  </head>\n  <body>\n    <h1>Volley target</h1>\n    <p>A local <a href=\"/json\">httpbin-like</a> server for load tests.</p>\n    <form action=\"/post\" method=\"post\"><input name=\"name\" value=\"volley\"><button type=\"submit\">Send</button></form>\n  </body>\n</html>\n";

async fn json() -> Response {
    with_type(
        StatusCode::OK,
        APPLICATION_JSON,
        Bytes::from_static(JSON_DOC.as_bytes()),
    )
}

async fn html() -> Response {
    with_type(
        StatusCode::OK,
        TEXT_HTML,
        Bytes::from_static(HTML_DOC.as_bytes()),
    )
}

/// `/bytes/{n}`: `n` deterministic bytes, streamed so 100 MB costs no memory.
async fn bytes_response(uri: Uri) -> Response {
    let n = path_after(&uri, "/bytes/");
    let Ok(n) = n.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("/bytes/{{n}}: {n:?} is not a whole number of bytes"),
        );
    };
    if n > MAX_BYTES {
        return error(
            StatusCode::BAD_REQUEST,
            format!("/bytes/{{n}}: {n} exceeds the {MAX_BYTES}-byte cap"),
        );
    }
    let mut resp = Response::new(Body::new(Pattern { remaining: n }));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, OCTET_STREAM);
    resp
}

/// `/base64/{value}`: the bytes `value` encodes in base64url (padded or not), as httpbin's,
/// `text/html`. The request line bounds its size.
async fn base64_response(uri: Uri) -> Response {
    use base64::Engine as _;
    let value = path_after(&uri, "/base64/").trim_end_matches('=');
    match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value) {
        Ok(body) => with_type(StatusCode::OK, TEXT_HTML, Bytes::from(body)),
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            format!("/base64/{{value}}: {value:?} is not base64url: {e}"),
        ),
    }
}
