//! The module instances one Envoy process runs for a Wasm filter: at concurrency N, Envoy starts
//! the module twice on its main thread and once on each worker (N + 2 instances), each with its
//! own memory, all sharing the process's shared data, queues and stats. The first of the main
//! thread's is the base instance, which is never ticked (measured against Envoy 1.40 with the
//! recorder: at concurrency 1 and 2, ticks come from every instance but the first started).

use std::time::Duration;

use crate::client::ClientRequest;
use crate::error::HarnessError;
use crate::metrics::MetricValue;
use crate::shared::SharedProcess;
use crate::state::LogEntry;
use crate::upstream::Exchange;

use super::{Host, StartOutcome};

/// At most this many rounds of queue notifications between instances per event, so plugins
/// that notify each other forever cannot hang a test.
const MAX_NOTIFICATION_ROUNDS: usize = 1000;

/// Where an instance runs in the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thread {
    /// The main thread's first instance, which Envoy starts and configures to check the
    /// configuration before it starts the others: it sees no request and is never ticked (its
    /// `proxy_set_tick_period_milliseconds` succeeds and does nothing).
    Base,
    /// The main thread's own instance: it ticks (and may call out, use shared data and queues)
    /// but sees no request.
    Main,
    /// A worker thread, by index: its instance handles the requests of the connections the
    /// worker accepted.
    Worker(u32),
}

/// The N + 2 instances of a module in one Envoy process at concurrency N, built with
/// [`super::HostBuilder::build_process`]. Each is a [`Host`] with its own memory and contexts;
/// shared data, queues and metrics are the process's, so a plugin that counts its starts in shared
/// data or a metric sees every instance's, as in Envoy. A queue notification for another instance
/// is delivered to it when the event that caused it ([`Process::client_request`],
/// [`Process::advance_time`]) is over, as Envoy posts it to the owner's thread.
#[derive(Debug)]
pub struct Process {
    instances: Vec<(Thread, Host)>,
    shared: SharedProcess,
}

impl Process {
    pub(super) fn new(instances: Vec<(Thread, Host)>, shared: SharedProcess) -> Self {
        Self { instances, shared }
    }

    /// Starts every instance as Envoy does when it loads the configuration: the base instance,
    /// the main thread's, then each worker's (context creation, `proxy_on_vm_start`,
    /// `proxy_on_configure`). Ok when every instance started and configured.
    pub fn start(&mut self) -> Result<StartOutcome, HarnessError> {
        let mut all = StartOutcome {
            vm_started: true,
            configured: true,
        };
        for (_, host) in &mut self.instances {
            let outcome = host.start()?;
            all.vm_started &= outcome.vm_started;
            all.configured &= outcome.configured;
        }
        self.deliver_notifications();
        Ok(all)
    }

    /// The number of workers (Envoy's `--concurrency`).
    pub fn concurrency(&self) -> u32 {
        self.instances
            .iter()
            .filter(|(thread, _)| matches!(thread, Thread::Worker(_)))
            .count() as u32
    }

    /// Every instance with its thread, in start order.
    pub fn instances(&self) -> impl Iterator<Item = (Thread, &Host)> {
        self.instances.iter().map(|(thread, host)| (*thread, host))
    }

    /// The instance of worker `index`, to drive a stream callback by callback.
    pub fn worker(&mut self, index: u32) -> Result<&mut Host, HarnessError> {
        self.instances
            .iter_mut()
            .find(|(thread, _)| *thread == Thread::Worker(index))
            .map(|(_, host)| host)
            .ok_or(HarnessError::NoSuchWorker(index))
    }

    /// A request on a connection worker `index` accepted ([`Host::client_request`]), then the
    /// queue notifications it caused in other instances.
    pub fn client_request(
        &mut self,
        worker: u32,
        request: &ClientRequest,
    ) -> Result<Exchange, HarnessError> {
        let exchange = self.worker(worker)?.client_request(request)?;
        self.deliver_notifications();
        Ok(exchange)
    }

    /// Moves every instance's virtual clock on by `by`, firing each one's ticks and timeouts
    /// ([`Host::advance_time`]), then the queue notifications between instances.
    pub fn advance_time(&mut self, by: Duration) -> Result<(), HarnessError> {
        for (_, host) in &mut self.instances {
            host.advance_time(by)?;
        }
        self.deliver_notifications();
        Ok(())
    }

    /// Virtual time since the process was built.
    pub fn elapsed(&self) -> Duration {
        self.instances
            .first()
            .map_or(Duration::ZERO, |(_, host)| host.elapsed())
    }

    /// Every instance's log lines with its thread, instance by instance in start order.
    pub fn logs(&self) -> Vec<(Thread, &LogEntry)> {
        self.instances
            .iter()
            .flat_map(|(thread, host)| host.logs().iter().map(move |entry| (*thread, entry)))
            .collect()
    }

    /// A metric by name, as Envoy's stats show it: one value for the whole process
    /// ([`Host::metric`] of any instance).
    pub fn metric(&self, name: &str) -> Option<MetricValue> {
        self.instances.first()?.1.metric(name)
    }

    /// A shared-data value and its CAS ([`Host::shared_data`] of any instance).
    pub fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.instances.first()?.1.shared_data(key)
    }

    fn deliver_notifications(&mut self) {
        for _ in 0..MAX_NOTIFICATION_ROUNDS {
            let owed = std::mem::take(&mut self.shared.lock().notifications);
            if owed.is_empty() {
                return;
            }
            for notification in owed {
                let owner = self
                    .instances
                    .iter_mut()
                    .map(|(_, host)| host)
                    .find(|host| host.vm.state().instance == notification.owner.instance);
                if let Some(host) = owner {
                    host.queue_ready(notification.owner.context_id, notification.queue_id);
                }
            }
        }
    }
}
