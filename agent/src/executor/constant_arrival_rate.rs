//! constant-arrival-rate: iterations start at a fixed rate (the scheduling loop is in
//! [`super::arrival_rate`]).

use std::sync::Arc;

use volley_common::options::executors::ConstantArrivalRate;
use volley_common::options::ScenarioConfig;

use super::arrival_rate::{run_arrivals, Schedule};
use super::{ExecCtx, Runtime, ScenarioRt};

impl Runtime for ConstantArrivalRate {
    async fn run(&self, cfg: &ScenarioConfig, sc: &Arc<ScenarioRt>, ctx: &ExecCtx) {
        let schedule = Schedule::constant(self.rate, self.time_unit, self.duration);
        run_arrivals(cfg, sc, ctx, schedule, self.pre_allocated_vus, self.max_vus).await
    }
}
