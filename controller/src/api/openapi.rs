//! The fixed parts of the OpenAPI 3.1 document served at `/openapi.json`: the title, the
//! overview and the tags. The rest is generated: the paths from the route table and the
//! handlers' `#[utoipa::path]` attributes, the schemas from the `volley_api` types (see
//! [`openapi_document`](super::openapi_document)).

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
            token's role is not enough; other projects' tests and runs are 404. A route with a body may \
            answer 503 `busy_receiving` with `Retry-After` while the controller holds \
            `--max-body-memory` bytes of request bodies."
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
