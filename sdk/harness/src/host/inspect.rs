//! Reading (and seeding) host-side state: logs, metrics, shared data, queues.

use crate::error::HarnessError;
use crate::metrics::MetricValue;
use crate::state::LogEntry;
use crate::types::LogLevel;

use super::Host;

impl Host {
    /// The size of the guest's linear memory in bytes (0 when it exports none). Linear memory
    /// only grows, so this is the VM's high-water mark: what a soak or a large body is measured by.
    pub fn memory_size(&self) -> usize {
        self.vm
            .state()
            .memory
            .map_or(0, |memory| memory.data_size(&self.vm.store))
    }

    /// Every log line, in order.
    pub fn logs(&self) -> &[LogEntry] {
        &self.vm.state().logs
    }

    /// The messages logged at exactly `level`.
    pub fn log_messages(&self, level: LogLevel) -> Vec<&str> {
        self.logs()
            .iter()
            .filter(|l| l.level == level)
            .map(|l| l.message.as_str())
            .collect()
    }

    /// What the host logged about the plugin, apart from the plugin's own lines: a trap, at error
    /// (`wasm trap: ...`), as Envoy logs a failed callback in its own log rather than as a line of
    /// the plugin's.
    pub fn host_logs(&self) -> &[LogEntry] {
        &self.vm.state().host_logs
    }

    /// The messages logged at `level` or a more severe one (`Error`: every error and critical line),
    /// in order.
    pub fn log_messages_from(&self, level: LogLevel) -> Vec<&str> {
        self.logs()
            .iter()
            .filter(|l| l.level >= level)
            .map(|l| l.message.as_str())
            .collect()
    }

    /// The metric the plugin defined under `name` (process-wide, as Envoy's stats: every
    /// instance of a [`crate::Process`] adds to the same one).
    pub fn metric(&self, name: &str) -> Option<MetricValue> {
        self.vm
            .state()
            .process
            .lock()
            .metrics
            .by_name(name)
            .cloned()
    }

    /// Every metric, in definition order.
    pub fn metrics(&self) -> Vec<(String, MetricValue)> {
        let process = self.vm.state().process.lock();
        process
            .metrics
            .all()
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect()
    }

    /// A shared-data value and its CAS.
    pub fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        let process = self.vm.state().process.lock();
        process
            .shared_data
            .get(key)
            .map(|(value, cas)| (value.to_vec(), cas))
    }

    /// Every shared-data key.
    pub fn shared_data_keys(&self) -> Vec<String> {
        let process = self.vm.state().process.lock();
        process.shared_data.keys().cloned().collect()
    }

    /// Sets a shared-data value, as another VM would.
    pub fn set_shared_data(&mut self, key: &str, value: &[u8]) {
        let mut process = self.vm.state().process.lock();
        // A zero CAS always succeeds.
        let _ = process.shared_data.set(key, value.to_vec(), 0);
    }

    /// The items waiting in the queue `name` of this VM, front first.
    pub fn queue_items(&self, name: &str) -> Option<Vec<Vec<u8>>> {
        let state = self.vm.state();
        let process = state.process.lock();
        let id = process.queues.resolve(&state.config.vm_id, name)?;
        process
            .queues
            .get(id)
            .map(|q| q.items.iter().cloned().collect())
    }

    /// Enqueues `item` on the queue `name`, as another VM would; the owner gets `proxy_on_queue_ready`.
    pub fn enqueue(&mut self, name: &str, item: &[u8]) -> Result<(), HarnessError> {
        let state = self.vm.state_mut();
        let notification = {
            let mut process = state.process.lock();
            process
                .queues
                .resolve(&state.config.vm_id, name)
                .and_then(|id| process.queues.push(id, item.to_vec()))
                .ok_or_else(|| HarnessError::UnknownQueue(name.to_string()))?
        };
        state.notify(notification);
        self.run_deferred();
        Ok(())
    }

    /// Takes the front item of the queue `name`, as another VM would.
    pub fn dequeue(&mut self, name: &str) -> Result<Option<Vec<u8>>, HarnessError> {
        let state = self.vm.state();
        let mut process = state.process.lock();
        let id = process
            .queues
            .resolve(&state.config.vm_id, name)
            .ok_or_else(|| HarnessError::UnknownQueue(name.to_string()))?;
        Ok(process.queues.get_mut(id).and_then(|q| q.items.pop_front()))
    }
}
