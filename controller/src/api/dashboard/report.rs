//! A run's self-contained HTML report (`docs/dashboard.md#the-html-report`): the run page with
//! its scripts, styles and chart library inline, and the run's data as the events a fresh live
//! stream of the run would send, so the file opens from disk with no network and shows what the
//! run page shows. `GET /v1/test-runs/{id}/report` serves it; `volley run
//! --web-dashboard-export` writes it.

use std::sync::OnceLock;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::live::RunFeed;
use crate::api::{no_query, parse_run_id, ApiError, AppState, CallerOf, ControllerService};
use crate::auth::Caller;

/// The page's modules in dependency order, bundled into one inline module; `report.js` is the
/// report's own entry (the run page fed from the recorded events).
const MODULES: [(&str, &str); 9] = [
    ("format.js", include_str!("assets/format.js")),
    ("feed.js", include_str!("assets/feed.js")),
    ("generators.js", include_str!("assets/generators.js")),
    ("checks.js", include_str!("assets/checks.js")),
    ("markers.js", include_str!("assets/markers.js")),
    ("metrics.js", include_str!("assets/metrics.js")),
    ("sparkline.js", include_str!("assets/sparkline.js")),
    ("pages.js", include_str!("assets/pages.js")),
    ("report.js", include_str!("assets/report.js")),
];
const STYLE: &str = include_str!("assets/style.css");
const UPLOT_CSS: &str = include_str!("assets/uPlot.min.css");
const UPLOT_JS: &str = include_str!("assets/uPlot.iife.min.js");
const UPLOT_LICENSE: &str = include_str!("assets/uPlot.LICENSE");

/// What the report leaves out: it cannot stop a run or fetch anything.
const REPORT_CSS: &str = "#stop, #run-downloads { display: none !important; }";

/// The report's policy when a browser opens it from the controller: its inline code only, and
/// no network at all.
const REPORT_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// The page's ES modules as one module: each file's `import` statements dropped and its
/// `export` keywords removed (the files' top-level names are distinct; a unit test checks it).
pub(crate) fn bundle() -> &'static str {
    static BUNDLE: OnceLock<String> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let mut out = String::new();
        for (name, src) in MODULES {
            out.push_str(&format!("// --- {name}\n"));
            let mut in_import = false;
            for line in src.lines() {
                if in_import || line.starts_with("import ") {
                    in_import = !line.trim_end().ends_with(';');
                    continue;
                }
                out.push_str(line.strip_prefix("export ").unwrap_or(line));
                out.push('\n');
            }
        }
        out
    })
}

/// Text that sits inside a `<script>` or `<style>` element: a closing tag in it would end the
/// element early.
fn inline(text: &str) -> String {
    text.replace("</", "<\\/")
}

/// Text as HTML text.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The run's report as a complete HTML document, or `None` if the run does not exist for this
/// caller. Its data is what a run stream sends when it opens: the run, every point, the
/// totals, each agent's newest samples and, once the run has ended, its summary.
pub fn report_html(svc: &dyn ControllerService, caller: &Caller, id: u64) -> Option<String> {
    svc.get_run(id).filter(|r| caller.sees(r.project_id))?;
    let (events, _) = RunFeed::default().tick(svc, caller, id);
    if events.iter().any(|(name, _)| *name == "gone") {
        return None;
    }
    let recorded: Vec<String> = events
        .iter()
        .map(|(name, data)| format!("[\"{name}\",{data}]"))
        .collect();
    // No text in the data can close its script element: every `<` is escaped (JSON reads
    // `\u003c` as `<`).
    let data = format!("{{\"/v1/live/runs/{id}\":[{}]}}", recorded.join(","))
        .replace('<', "\\u003c")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    let generated = crate::state::timestamp::now_rfc3339();
    Some(format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>Volley report · run #{id}</title>\n<link rel=\"icon\" href=\"data:,\">\n\
<style>\n{uplot_css}\n{style}\n{REPORT_CSS}\n</style>\n\
<script>\n{uplot_js}\n</script>\n\
<script type=\"application/json\" id=\"volley-report-data\">{data}</script>\n\
<script type=\"module\">\n{bundle}\n</script>\n</head>\n<body>\n\
<header>\n  <strong class=\"brand\">Volley</strong>\n  <span>Report of run #{id}</span>\n\
  <p id=\"conn\" class=\"conn\" role=\"status\" aria-live=\"polite\"></p>\n</header>\n\
<main id=\"main\" tabindex=\"-1\" data-run=\"{id}\"><p>Loading…</p></main>\n\
<footer>Volley report, made {generated}; it needs no network. Charts by uPlot.\n\
<details><summary>uPlot's licence (MIT)</summary><pre>{license}</pre></details></footer>\n\
</body>\n</html>\n",
        uplot_css = inline(UPLOT_CSS),
        style = inline(STYLE),
        uplot_js = inline(UPLOT_JS),
        bundle = inline(bundle()),
        license = escape(UPLOT_LICENSE),
    ))
}

/// `GET /v1/test-runs/{id}/report`: the run's HTML report as a file to save (the read role, as
/// for the run itself).
pub(super) async fn report(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    Path(raw_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    no_query(raw.as_deref())?;
    let id = parse_run_id(&raw_id)?;
    let Some(html) = report_html(&*app.svc, &caller, id) else {
        return Err(ApiError::not_found(
            "run_not_found",
            format!("no run with id {id}; GET /loadtests/v2/runs lists them"),
        ));
    };
    let mut resp = (StatusCode::OK, html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(REPORT_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"volley-run-{id}-report.html\""
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
