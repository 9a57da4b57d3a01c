//! Cases of k6's core runtime: executors and scenarios, groups and checks, custom metrics,
//! thresholds, setup and teardown, the exit codes of aborts and errors, timers, CommonJS and
//! TypeScript.

use super::*;

#[test]
fn shared_iterations_with_nested_groups_and_checks() {
    differential(&Case {
        script: "shared_iterations_groups.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn per_vu_iterations_with_custom_metrics_and_tags() {
    differential(&Case {
        script: "per_vu_custom_metrics.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn failing_thresholds_exit_99() {
    differential(&Case {
        script: "thresholds_fail.js",
        exit_code: 99,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn test_abort_exits_108() {
    differential(&Case {
        script: "test_abort.js",
        exit_code: 108,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn test_fail_exits_110() {
    differential(&Case {
        script: "test_fail.js",
        exit_code: 110,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn exception_in_init_exits_107() {
    differential(&Case {
        script: "init_exception.js",
        exit_code: 107,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: false,
    });
}

#[test]
fn exception_in_every_iteration_exits_0() {
    differential(&Case {
        script: "default_throws.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn setup_data_reaches_iterations_and_teardown() {
    differential(&Case {
        script: "setup_teardown.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn scenario_with_exec_env_and_tags() {
    differential(&Case {
        script: "scenario_exec_env_tags.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::Racy,
        summary: true,
    });
}

#[test]
fn invalid_options_exit_104() {
    differential(&Case {
        script: "options_error.js",
        exit_code: 104,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: false,
    });
}

#[test]
fn time_based_executor_has_the_same_shape() {
    differential(&Case {
        script: "constant_vus.js",
        exit_code: 0,
        counts: Counts::TimeBased,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn timers_and_promises_run_in_k6_order_and_iterations_wait_for_them() {
    differential(&Case {
        script: "timers_order.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn a_pending_interval_is_interrupted_at_the_scenarios_end() {
    differential(&Case {
        script: "timers_interrupted.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn commonjs_modules_in_every_shape() {
    differential(&Case {
        script: "commonjs_modules.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn commonjs_entry_script() {
    differential(&Case {
        script: "commonjs_entry.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn typescript_script_and_module() {
    differential(&Case {
        script: "typescript.ts",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn an_invalid_metric_name_is_an_init_error() {
    differential(&Case {
        script: "metric_name_invalid.js",
        exit_code: 107,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: false,
    });
}

#[test]
fn exec_start_time_fail_wording_and_submetric_keys() {
    differential(&Case {
        script: "exec_and_fail_shapes.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}
