//! per-vu-iterations: each of this instance's VUs runs `iterations` iterations (the loop is in
//! [`super::iterations`]).

use std::sync::Arc;

use volley_common::options::executors::PerVuIterations;
use volley_common::options::ScenarioConfig;

use super::iterations::run_iterations;
use super::{ExecCtx, IterationSource, Runtime, ScenarioRt};

impl Runtime for PerVuIterations {
    async fn run(&self, cfg: &ScenarioConfig, sc: &Arc<ScenarioRt>, ctx: &ExecCtx) {
        let n = ctx.tuple.scale_u64(self.vus);
        let count = self.iterations;
        run_iterations(cfg, sc, ctx, n, self.max_duration, |_| {
            IterationSource::PerVu { count }
        })
        .await
    }
}
