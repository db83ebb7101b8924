//! Fault injection and the host-call log: make host functions fail, see which ones the plugin called.

use std::collections::BTreeMap;

use crate::faults::{Fault, HostCall};

use super::Host;

impl Host {
    /// Makes every later call of the host function `call` (an import name such as
    /// `"proxy_get_header_map_pairs"` or `"fd_write"`) fail with `fault` instead of doing its work: a
    /// status (a WASI function returns the closest errno) or a trap. Replaces a fault armed on `call`.
    /// Faults stay armed across a VM reload.
    pub fn inject_fault(&mut self, call: &str, fault: Fault) {
        self.vm.state_mut().faults.inject(call, fault, None);
    }

    /// Like [`Host::inject_fault`], but only for the next `times` calls of `call`.
    pub fn inject_fault_times(&mut self, call: &str, fault: Fault, times: u32) {
        self.vm.state_mut().faults.inject(call, fault, Some(times));
    }

    /// Disarms every fault.
    pub fn clear_faults(&mut self) {
        self.vm.state_mut().faults.clear();
    }

    /// How many calls an injected fault has replaced so far.
    pub fn faults_fired(&self) -> u64 {
        self.vm.state().faults.fired()
    }

    /// How often the plugin called each host function (since the start or [`Host::reset_host_call_counts`]).
    pub fn host_call_counts(&self) -> &BTreeMap<&'static str, u64> {
        self.vm.state().faults.counts()
    }

    /// Sets every host-call count back to zero.
    pub fn reset_host_call_counts(&mut self) {
        self.vm.state_mut().faults.reset_counts();
    }

    /// Turns the detailed host-call log on or off (off by default; the counts are always kept).
    pub fn record_host_calls(&mut self, on: bool) {
        self.vm.state_mut().faults.set_record(on);
    }

    /// Takes the host calls recorded since the last take, in order.
    pub fn take_host_calls(&mut self) -> Vec<HostCall> {
        self.vm.state_mut().faults.take_log()
    }
}
