//! `proxy_get_current_time_nanoseconds` (the virtual clock) and `proxy_set_tick_period_milliseconds`.

use std::time::Duration;

use wasmtime::{Caller, Linker};

use crate::gate::host_fn;
use crate::memory::{status_code, write_u64};
use crate::state::{HostState, TickTimer};
use crate::types::Status;

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    host_fn(
        linker,
        "env",
        "proxy_get_current_time_nanoseconds",
        |mut caller: Caller<'_, HostState>, ret: i32| {
            let now = caller.data().clock.realtime_nanos();
            status_code(write_u64(&mut caller, ret, now).map_err(Into::into))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_set_tick_period_milliseconds",
        |mut caller: Caller<'_, HostState>, period: i32| {
            let state = caller.data_mut();
            let Some(root) = state.root_of(state.effective_context) else {
                return status_code(Err(Status::BadArgument.into()));
            };
            let period = Duration::from_millis(u64::from(period as u32));
            // The process's base instance accepts a period but is never ticked.
            if period.is_zero() || !state.ticks {
                state.timers.remove(&root);
            } else {
                let next_due = state.clock.elapsed() + period;
                state.timers.insert(root, TickTimer { period, next_due });
            }
            status_code(Ok(()))
        },
    )?;
    Ok(())
}
