//! The native backend's tick timer: what `proxy_set_tick_period` is to a Wasm root context.
//!
//! Envoy gives a dynamic module's filter configuration no timer, only a scheduler that runs an
//! event on the main thread (`http_filter_config_scheduler_*`, callable from any thread). The
//! ticker is a thread that sleeps until the period ends and then commits a tick to that
//! scheduler; Envoy calls `envoy_dynamic_module_on_http_filter_config_scheduled` on the main
//! thread, which delivers events. The period can be changed from any thread (a worker asks for
//! a flush as soon as a batch is full); zero stops the ticks.
#![allow(unsafe_code)] // the scheduler is Envoy's pointer

use std::ffi::c_void;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::abi;

/// The one event id the ticker commits.
const TICK: u64 = 1;

/// Envoy's scheduler for one filter configuration. Committing is thread-safe; Envoy holds
/// the configuration weakly, so a tick committed after it is gone is dropped.
struct Scheduler(*mut c_void);

// SAFETY: Envoy's scheduler may be committed to from any thread; it is deleted only after the
// ticker's thread has stopped.
unsafe impl Send for Scheduler {}

#[derive(Debug, Default)]
struct Schedule {
    period: Option<Duration>,
    next: Option<Instant>,
    stopped: bool,
}

#[derive(Default)]
struct Shared {
    schedule: Mutex<Schedule>,
    changed: Condvar,
}

impl Shared {
    fn schedule(&self) -> MutexGuard<'_, Schedule> {
        self.schedule.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The tick timer of one filter configuration; stops (and releases Envoy's scheduler) when
/// dropped.
pub(crate) struct Ticker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    scheduler: *mut c_void,
}

// SAFETY: the scheduler pointer is only deleted, once, in `drop`, after the thread stopped.
unsafe impl Send for Ticker {}
unsafe impl Sync for Ticker {}

impl Ticker {
    /// A stopped ticker for the configuration `config` (Envoy's pointer, in `config_new`).
    pub(crate) fn new(config: *mut c_void) -> Result<Self, String> {
        // SAFETY: `config` is the configuration Envoy is building.
        let scheduler =
            unsafe { abi::envoy_dynamic_module_callback_http_filter_config_scheduler_new(config) };
        if scheduler.is_null() {
            return Err("Envoy gave no scheduler for the filter configuration".into());
        }
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = Arc::clone(&shared);
            let target = Scheduler(scheduler);
            std::thread::Builder::new()
                .name("palisade-events".into())
                .spawn(move || run(&shared, &target))
        };
        let thread = match thread {
            Ok(thread) => thread,
            Err(err) => {
                // SAFETY: the scheduler just made, used by no one.
                unsafe {
                    abi::envoy_dynamic_module_callback_http_filter_config_scheduler_delete(
                        scheduler,
                    )
                };
                return Err(format!("starting the events thread: {err}"));
            }
        };
        Ok(Self {
            shared,
            thread: Some(thread),
            scheduler,
        })
    }

    /// Ticks every `period` from now on (whole milliseconds, as proxy-wasm's timer); zero stops.
    pub(crate) fn set_period(&self, period: Duration) {
        let mut schedule = self.shared.schedule();
        schedule.period = (!period.is_zero()).then_some(period);
        schedule.next = schedule.period.map(|p| Instant::now() + p);
        self.shared.changed.notify_one();
    }
}

/// The ticker's thread: waits for the next tick and commits it, until stopped.
fn run(shared: &Shared, scheduler: &Scheduler) {
    let mut schedule = shared.schedule();
    while !schedule.stopped {
        let now = Instant::now();
        schedule = match schedule.next {
            None => shared
                .changed
                .wait(schedule)
                .unwrap_or_else(PoisonError::into_inner),
            Some(at) if at > now => {
                shared
                    .changed
                    .wait_timeout(schedule, at - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            Some(_) => {
                schedule.next = schedule.period.map(|p| now + p);
                // SAFETY: the scheduler lives until this thread has stopped.
                unsafe {
                    abi::envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
                        scheduler.0,
                        TICK,
                    );
                }
                schedule
            }
        };
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.schedule().stopped = true;
        self.shared.changed.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // SAFETY: the thread that committed to it has stopped; deleted once.
        unsafe {
            abi::envoy_dynamic_module_callback_http_filter_config_scheduler_delete(self.scheduler)
        };
    }
}
