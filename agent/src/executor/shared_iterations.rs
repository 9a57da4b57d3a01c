//! shared-iterations: this instance's VUs take iterations from one counter until its share of
//! the total is done (the loop is in [`super::iterations`]).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use volley_common::options::executors::SharedIterations;
use volley_common::options::ScenarioConfig;

use super::iterations::run_iterations;
use super::{ExecCtx, IterationSource, Runtime, ScenarioRt};

impl Runtime for SharedIterations {
    async fn run(&self, cfg: &ScenarioConfig, sc: &Arc<ScenarioRt>, ctx: &ExecCtx) {
        let total = sc.planned_iterations.unwrap_or(0);
        let n = ctx.tuple.scale_u64(self.vus);
        let next = Arc::new(AtomicU64::new(0));
        run_iterations(cfg, sc, ctx, n, self.max_duration, |_| {
            IterationSource::Shared {
                next: next.clone(),
                total,
            }
        })
        .await
    }
}
