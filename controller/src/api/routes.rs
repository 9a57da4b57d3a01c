//! The route table: every route once, with its handler and body limit. The router and the
//! OpenAPI document are both made from it (`utoipa-axum`), so they cannot drift: a route is
//! its handler (with its `#[utoipa::path]`), its `volley_api` types and one line here.

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn;
use utoipa::OpenApi as _;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::extract::AppState;
use super::openapi::ApiDoc;
use super::uploads::UploadGate;
use super::{agents, controllers, handlers, k6cloud, meta, stream, tokens, ApiLimits};

/// Every route of the API with its handler, documented.
pub(crate) fn table(limits: ApiLimits) -> OpenApiRouter<AppState> {
    let small = DefaultBodyLimit::max(limits.max_body_bytes);
    let upload = DefaultBodyLimit::max(limits.max_upload_bytes);
    let uploads = UploadGate::new(limits.max_concurrent_uploads);
    let gate = from_fn(move |req, next| uploads.clone().limit(req, next));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(meta::root))
        .routes(routes!(meta::health))
        .routes(routes!(meta::healthz))
        .routes(routes!(meta::readyz))
        .routes(routes!(meta::metrics))
        .routes(routes!(meta::openapi_json))
        .routes(routes!(handlers::list_tests))
        .routes(
            routes!(handlers::create_test)
                .layer(upload)
                .layer(gate.clone()),
        )
        .routes(routes!(handlers::get_test))
        .routes(routes!(handlers::start_testrun).layer(small))
        .routes(routes!(handlers::list_runs))
        .routes(routes!(handlers::get_run))
        .routes(routes!(handlers::stop_run).layer(small))
        .routes(routes!(agents::list_agents))
        .routes(routes!(agents::agents_wanted))
        .routes(routes!(agents::get_agent))
        .routes(routes!(controllers::list_controllers, controllers::add_controller).layer(small))
        .routes(routes!(controllers::remove_controller))
        .routes(routes!(controllers::state_digest))
        .routes(routes!(handlers::run_agents))
        .routes(routes!(handlers::run_metrics))
        .routes(routes!(handlers::run_summary))
        .routes(routes!(handlers::run_report))
        .routes(routes!(stream::create).layer(upload).layer(gate.clone()))
        .routes(routes!(stream::metrics).layer(upload))
        .routes(routes!(stream::finish).layer(small))
        .routes(routes!(tokens::create, tokens::list).layer(small))
        .routes(routes!(tokens::revoke))
        .routes(routes!(k6cloud::cloud_run::validate_options).layer(small))
        .routes(
            routes!(k6cloud::cloud_run::archive_upload)
                .layer(upload)
                .layer(gate),
        )
        .routes(routes!(k6cloud::cloud_run::test_progress))
        .routes(routes!(k6cloud::cloud_run::stop).layer(small))
        .routes(routes!(k6cloud::cloud_run::run_link))
        .routes(routes!(k6cloud::cloud_output::create_test_run).layer(small))
        .routes(routes!(k6cloud::cloud_output::push_metrics).layer(upload))
        .routes(routes!(k6cloud::cloud_output::finish_test_run).layer(small))
}
