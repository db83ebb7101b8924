//! Virtual time: advancing the clock fires ticks and callout timeouts in order.

use std::time::{Duration, SystemTime};

use crate::callout::{CalloutState, HttpResponse};
use crate::error::HarnessError;

use super::callouts::GRPC_DEADLINE_EXCEEDED;
use super::Host;

/// The body of the 504 Envoy answers for a callout that timed out.
const UPSTREAM_TIMEOUT: &str = "upstream request timeout";

#[derive(Debug, Clone, Copy)]
enum Due {
    Tick { root: u32 },
    HttpTimeout { token: u32 },
    GrpcTimeout { token: u32, ctx: u32 },
}

impl Host {
    /// The virtual wall-clock time.
    pub fn now(&self) -> SystemTime {
        self.vm.state().clock.now()
    }

    /// Virtual time since the host was built.
    pub fn elapsed(&self) -> Duration {
        self.vm.state().clock.elapsed()
    }

    /// The tick period the plugin set with `proxy_set_tick_period_milliseconds`, if any.
    pub fn tick_period(&self, root_id: &str) -> Result<Option<Duration>, HarnessError> {
        let root = self.root_context_of(root_id)?;
        Ok(self.vm.state().timers.get(&root).map(|t| t.period))
    }

    /// Calls `proxy_on_tick` on the plugin's root context now, whatever its period.
    pub fn tick(&mut self, root_id: &str) -> Result<(), HarnessError> {
        let root = self.root_context_of(root_id)?;
        self.fire_tick(root);
        Ok(())
    }

    fn fire_tick(&mut self, root: u32) {
        if self.vm.failed {
            return;
        }
        let f = self.vm.callbacks.on_tick.clone();
        // A trap marks the VM failed (and is logged); later streams see the failure policy.
        let _ = self.vm.call(f, root, root as i32);
        self.run_deferred();
    }

    fn next_due(&self) -> Option<(Duration, Due)> {
        let state = self.vm.state();
        let ticks = state
            .timers
            .iter()
            .map(|(root, t)| (t.next_due, Due::Tick { root: *root }));
        let http = state
            .http_callouts
            .values()
            .filter(|c| c.state == CalloutState::Pending && !c.timeout.is_zero())
            .map(|c| {
                (
                    c.dispatched_at + c.timeout,
                    Due::HttpTimeout { token: c.token },
                )
            });
        let grpc = state
            .grpc_calls
            .values()
            .filter(|c| c.state == CalloutState::Pending && !c.timeout.is_zero())
            .map(|c| {
                (
                    c.dispatched_at + c.timeout,
                    Due::GrpcTimeout {
                        token: c.token,
                        ctx: c.context_id,
                    },
                )
            });
        ticks.chain(http).chain(grpc).min_by_key(|(at, _)| *at)
    }

    /// Moves virtual time forward by `by`. On the way, every tick falls due (`proxy_on_tick`, once per
    /// period) and every callout whose timeout passes ends (HTTP: a 504 `upstream request timeout`, as
    /// Envoy's router answers it; gRPC: `DEADLINE_EXCEEDED`).
    pub fn advance_time(&mut self, by: Duration) -> Result<(), HarnessError> {
        let target = self.elapsed() + by;
        while let Some((at, due)) = self.next_due() {
            if at > target {
                break;
            }
            let now = self.elapsed();
            if at > now {
                self.vm.state_mut().clock.advance(at - now);
            }
            match due {
                Due::Tick { root } => {
                    if let Some(timer) = self.vm.state_mut().timers.get_mut(&root) {
                        timer.next_due = at + timer.period;
                    }
                    self.fire_tick(root);
                }
                Due::HttpTimeout { token } => {
                    // Envoy's router answers a callout that runs out of time itself: a 504.
                    let response = HttpResponse::new(504)
                        .header("content-length", &UPSTREAM_TIMEOUT.len().to_string())
                        .header("content-type", "text/plain")
                        .body(UPSTREAM_TIMEOUT);
                    self.deliver_http_response(token, Some(response), CalloutState::TimedOut)?;
                }
                Due::GrpcTimeout { token, ctx } => {
                    self.close_grpc(
                        token,
                        ctx,
                        GRPC_DEADLINE_EXCEEDED,
                        "timeout",
                        CalloutState::TimedOut,
                    );
                }
            }
        }
        let now = self.elapsed();
        if target > now {
            self.vm.state_mut().clock.advance(target - now);
        }
        Ok(())
    }
}
