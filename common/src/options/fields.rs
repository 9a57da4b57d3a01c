//! Every option Volley models, declared once: its Rust field and type, its format (how it is
//! read from JSON, `K6_*` variables and flags, see [`super::formats`]), its k6 key, its
//! `K6_*` variable(s), its `volley run` flag, and how it resolves. Adding an option is one entry
//! here plus the code that uses it; the order is the order of `to_json`'s keys and of errors.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::dns::{Dns, DnsOptions, ResolvedDns};
use super::formats::{
    Count, Dur, Flag, Hosts, HttpDebug, HttpDebugText, Int, Json, Scenarios, ShortcutDuration,
    Stages, Tags, Text, TextList, TlsAuth, TlsVersion,
};
use super::resolve;
use super::scenarios::ScenarioConfig;
use super::stages::Stage;
use super::{
    DEFAULT_SETUP_TIMEOUT, DEFAULT_SUMMARY_TIMEOUT, DEFAULT_TEARDOWN_TIMEOUT, DEFAULT_USER_AGENT,
};

declare_options! {
    // The execution shortcuts: turned into scenarios by `resolve` (not kept as settings).
    shortcuts {
        vus: i64 as Int = "vus", env "K6_VUS",
            cli(long "vus", short 'u', help "Number of VUs to run concurrently");
        duration: Duration as ShortcutDuration = "duration", env "K6_DURATION",
            cli(long "duration", short 'd', help "Test duration (e.g. 30s, 1m30s)");
        iterations: i64 as Int = "iterations", env "K6_ITERATIONS",
            cli(long "iterations", short 'i', help "Total iterations shared by the VUs");
        /// k6 reads `K6_STAGES`; `K6_STAGE` matches the `--stage` flag and old docs.
        stages: Vec<Stage> as Stages = "stages", env "K6_STAGES" | "K6_STAGE",
            cli(long "stage", short 's',
                help "A ramping stage as DURATION:TARGET (repeatable), e.g. --stage 30s:10");
        /// In the order the script declared them.
        scenarios: Vec<(String, ScenarioConfig)> as Scenarios = "scenarios";
    }
    settings {
        setup_timeout: Duration as Dur = "setupTimeout", env "K6_SETUP_TIMEOUT"
            => Duration = or(DEFAULT_SETUP_TIMEOUT);
        teardown_timeout: Duration as Dur = "teardownTimeout", env "K6_TEARDOWN_TIMEOUT"
            => Duration = or(DEFAULT_TEARDOWN_TIMEOUT);
        /// Volley extension (`summaryTimeout`): the limit on `handleSummary()`, default 2m.
        summary_timeout: Duration as Dur = "summaryTimeout", env "K6_SUMMARY_TIMEOUT"
            => Duration = or(DEFAULT_SUMMARY_TIMEOUT);
        discard_response_bodies: bool as Flag = "discardResponseBodies",
            env "K6_DISCARD_RESPONSE_BODIES",
            cli(long "discard-response-bodies", help "Discard response bodies (less memory and CPU)")
            => bool = or(false);
        no_connection_reuse: bool as Flag = "noConnectionReuse", env "K6_NO_CONNECTION_REUSE",
            cli(long "no-connection-reuse", help "Do not reuse connections between requests")
            => bool = or(false);
        no_vu_connection_reuse: bool as Flag = "noVUConnectionReuse",
            env "K6_NO_VU_CONNECTION_REUSE",
            cli(long "no-vu-connection-reuse",
                help "Do not reuse a VU's connections between its iterations")
            => bool = or(false);
        /// Resolved, empty means "send no User-Agent header" (k6 semantics of `userAgent: ""`).
        user_agent: String as Text = "userAgent", env "K6_USER_AGENT",
            cli(long "user-agent", help "The User-Agent header to send")
            => String = or(DEFAULT_USER_AGENT.to_string());
        insecure_skip_tls_verify: bool as Flag = "insecureSkipTLSVerify",
            env "K6_INSECURE_SKIP_TLS_VERIFY",
            cli(long "insecure-skip-tls-verify", help "Skip TLS certificate verification")
            => bool = or(false);
        summary_trend_stats: Vec<String> as TextList = "summaryTrendStats",
            env "K6_SUMMARY_TREND_STATS",
            cli(long "summary-trend-stats", help "Trend statistics to show, e.g. avg,p(95),p(99.9)")
            => Vec<String> = with(resolve::summary_trend_stats);
        /// Resolved, `None` lets the summary pick a unit per value (k6's `""`).
        summary_time_unit: String as Text = "summaryTimeUnit", env "K6_SUMMARY_TIME_UNIT",
            cli(long "summary-time-unit", help "Force the time unit of the summary: s, ms or us")
            => Option<String> = with(resolve::summary_time_unit);
        tags: BTreeMap<String, String> as Tags = "tags", env "K6_TAGS",
            cli(long "tag", help "Add a tag to all samples, NAME=VALUE (repeatable)")
            => BTreeMap<String, String> = or(BTreeMap::new());
        /// Parsed by the threshold module.
        thresholds: Value as Json = "thresholds" => Option<Value> = keep;
        execution_segment: String as Text = "executionSegment", env "K6_EXECUTION_SEGMENT",
            cli(long "execution-segment", help "Run only this execution segment, e.g. 0:1/3")
            => Option<String> = keep;
        execution_segment_sequence: String as Text = "executionSegmentSequence",
            env "K6_EXECUTION_SEGMENT_SEQUENCE",
            cli(long "execution-segment-sequence",
                help "The full segment sequence shared by all instances, e.g. 0,1/3,2/3,1")
            => Option<String> = keep;
        max_redirects: u64 as Count = "maxRedirects", env "K6_MAX_REDIRECTS" => u64 = or(10);
        batch: u64 as Count = "batch", env "K6_BATCH" => u64 = or(20);
        batch_per_host: u64 as Count = "batchPerHost", env "K6_BATCH_PER_HOST" => u64 = or(6);
        /// Requests per second across all VUs; resolved, `None` is unlimited (k6's `0`).
        rps: u64 as Count = "rps", env "K6_RPS" => Option<u64> = with(resolve::rps);
        /// `""`, `"headers"` or `"full"`; checked by [`Options::resolve`].
        http_debug: String as HttpDebugText = "httpDebug", env "K6_HTTP_DEBUG"
            => HttpDebug = with(resolve::http_debug);
        throw: bool as Flag = "throw", env "K6_THROW",
            cli(long "throw", short 'w',
                help "Throw on failed requests and invalid metric values instead of logging")
            => bool = or(false);
        min_iteration_duration: Duration as Dur = "minIterationDuration",
            env "K6_MIN_ITERATION_DURATION" => Duration = or(Duration::ZERO);
        no_cookies_reset: bool as Flag = "noCookiesReset", env "K6_NO_COOKIES_RESET"
            => bool = or(false);
        local_ips: String as Text = "localIPs", env "K6_LOCAL_IPS" => Option<String> = keep;
        hosts: BTreeMap<String, String> as Hosts = "hosts", env "K6_HOSTS"
            => BTreeMap<String, String> = or(BTreeMap::new());
        dns: DnsOptions as Dns = "dns", env "K6_DNS" => ResolvedDns = with(DnsOptions::resolve);
        paused: bool as Flag = "paused", env "K6_PAUSED",
            cli(long "paused", short 'p',
                help "Start paused: VUs are initialized, then the run waits for a resume through the REST API (PATCH /v1/status {\"paused\": false})")
            => bool = or(false);
        linger: bool as Flag = "linger", env "K6_LINGER",
            cli(long "linger", short 'l',
                help "After the run, keep the REST API up until Ctrl+C (or an API stop)")
            => bool = or(false);
        no_setup: bool as Flag = "noSetup", env "K6_NO_SETUP",
            cli(long "no-setup", help "Do not run setup()")
            => bool = or(false);
        no_teardown: bool as Flag = "noTeardown", env "K6_NO_TEARDOWN",
            cli(long "no-teardown", help "Do not run teardown()")
            => bool = or(false);
        blacklist_ips: Vec<String> as TextList = "blacklistIPs", env "K6_BLACKLIST_IPS"
            => Vec<String> = or(Vec::new());
        block_hostnames: Vec<String> as TextList = "blockHostnames", env "K6_BLOCK_HOSTNAMES"
            => Vec<String> = or(Vec::new());
        system_tags: Vec<String> as TextList = "systemTags", env "K6_SYSTEM_TAGS"
            => Vec<String> = with(resolve::system_tags);
        /// A version string (`"tls1.2"`) or `{min, max}`; passed to the TLS layer as given.
        tls_version: Value as TlsVersion = "tlsVersion", env "K6_TLS_VERSION"
            => Option<Value> = keep;
        tls_cipher_suites: Vec<String> as TextList = "tlsCipherSuites", env "K6_TLS_CIPHER_SUITES"
            => Option<Vec<String>> = keep;
        /// `[{domains, cert, key, password}]`; passed to the TLS layer as given.
        tls_auth: Value as TlsAuth = "tlsAuth" => Option<Value> = keep;
        include_system_env_vars: bool as Flag = "includeSystemEnvVars",
            env "K6_INCLUDE_SYSTEM_ENV_VARS" => bool = or(false);
        console_output: String as Text = "consoleOutput", env "K6_CONSOLE_OUTPUT"
            => Option<String> = keep;
        metric_samples_buffer_size: u64 as Count = "metricSamplesBufferSize",
            env "K6_METRIC_SAMPLES_BUFFER_SIZE" => u64 = or(1000);
        /// `cloud` (k6 Cloud settings, e.g. `distribution`), kept as given.
        cloud: Value as Json = "cloud" => Option<Value> = keep;
        /// `ext` (legacy extension settings, e.g. `ext.loadimpact`), kept as given.
        ext: Value as Json = "ext" => Option<Value> = keep;
    }
}
