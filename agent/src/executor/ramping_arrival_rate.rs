//! ramping-arrival-rate: the iteration start rate follows the stages (the scheduling loop is in
//! [`super::arrival_rate`]).

use std::sync::Arc;

use volley_common::options::executors::RampingArrivalRate;
use volley_common::options::ScenarioConfig;

use super::arrival_rate::{run_arrivals, Schedule};
use super::{ExecCtx, Runtime, ScenarioRt};

impl Runtime for RampingArrivalRate {
    async fn run(&self, cfg: &ScenarioConfig, sc: &Arc<ScenarioRt>, ctx: &ExecCtx) {
        let schedule = Schedule::ramping(self.start_rate, self.time_unit, &self.stages);
        run_arrivals(cfg, sc, ctx, schedule, self.pre_allocated_vus, self.max_vus).await
    }
}
