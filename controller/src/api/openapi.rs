//! The OpenAPI 3.1 document served at `/openapi.json`. It is generated: the paths from the
//! route table and the handlers' `#[utoipa::path]` attributes, the schemas from the
//! `volley_api` types. Only the title, the overview and the tags are written here.

use std::sync::OnceLock;

use serde_json::Value;

use super::{routes, ApiLimits};

/// The document's fixed parts; the route table adds every path and schema.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Volley controller API",
        description = "The k6 legacy test-runs API (`/loadtests/v2`, same paths and field names) \
            plus Volley's cluster endpoints (`/v1`). Every error is JSON: \
            {\"error\": {\"code\", \"message\", \"status\"}}; unknown routes → 404, wrong methods → \
            405, bad input → 4xx. Unknown query parameters are rejected (400). Once the \
            controller has API tokens, every route but `/`, `/health`, `/healthz`, `/readyz` and `/openapi.json` needs \
            `Authorization: Token <token>` (or `Bearer`): 401 without a valid one, 403 when the \
            token's role is not enough; other projects' tests and runs are 404."
    ),
    tags(
        (name = "tests", description = "Load tests and their archives."),
        (name = "runs", description = "Test runs."),
        (name = "agents", description = "Load generators (Volley)."),
        (name = "streams", description = "Runs streamed from a local `volley run --out cloud=URL` (Volley)."),
        (name = "tokens", description = "API tokens: roles read, submit, admin (Volley; admin only)."),
        (name = "k6-cloud", description = "k6's own cloud API, as the k6 binary calls it for `k6 cloud run` with `K6_CLOUD_HOST` set to this controller; errors in k6's shape {\"error\": {\"message\", \"volley_code\", \"status\"}} (see docs/k6-cloud-client.md)."),
        (name = "meta", description = "Service information."),
    )
)]
pub(crate) struct ApiDoc;

/// The OpenAPI 3.1 document of the API (made once).
pub fn openapi_document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, doc) = routes::table(ApiLimits::default()).split_for_parts();
        serde_json::to_value(doc).unwrap_or_default()
    })
}
