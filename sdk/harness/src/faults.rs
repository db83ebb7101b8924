//! Fault injection and the host-call log: every host function (proxy-wasm and WASI) enters through one
//! gate ([`crate::gate`]), which counts the call here and, when a test asked for it, answers with a
//! status or a trap instead of doing the function's work.

use std::collections::BTreeMap;

use crate::types::Status;

/// What an injected fault makes a host function do instead of its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Return this status (for a WASI function, the closest errno) without doing anything.
    Status(Status),
    /// Trap the guest, as a host that aborts the call would; the callback fails like any trap.
    Trap,
}

impl Fault {
    /// The four failure statuses a proxy-wasm host returns for a failing call.
    pub const STATUSES: [Fault; 4] = [
        Fault::Status(Status::NotFound),
        Fault::Status(Status::BadArgument),
        Fault::Status(Status::InternalFailure),
        Fault::Status(Status::InvalidMemoryAccess),
    ];
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Status(Status::Ok) => f.write_str("OK"),
            Fault::Status(Status::NotFound) => f.write_str("NOT_FOUND"),
            Fault::Status(Status::BadArgument) => f.write_str("BAD_ARGUMENT"),
            Fault::Status(Status::SerializationFailure) => f.write_str("SERIALIZATION_FAILURE"),
            Fault::Status(Status::ParseFailure) => f.write_str("PARSE_FAILURE"),
            Fault::Status(Status::InvalidMemoryAccess) => f.write_str("INVALID_MEMORY_ACCESS"),
            Fault::Status(Status::Empty) => f.write_str("EMPTY"),
            Fault::Status(Status::CasMismatch) => f.write_str("CAS_MISMATCH"),
            Fault::Status(Status::InternalFailure) => f.write_str("INTERNAL_FAILURE"),
            Fault::Status(Status::Unimplemented) => f.write_str("UNIMPLEMENTED"),
            Fault::Trap => f.write_str("TRAP"),
        }
    }
}

/// One host call the guest made (recorded when [`crate::Host::record_host_calls`] is on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCall {
    /// The import name (`proxy_get_header_map_pairs`, `fd_write`, ...).
    pub name: &'static str,
    /// The effective context when it was called.
    pub context_id: u32,
    /// The fault injected into this call, if any.
    pub fault: Option<Fault>,
}

#[derive(Debug, Clone, Copy)]
struct Rule {
    fault: Fault,
    /// `None`: every call; `Some(n)`: the next `n` calls.
    remaining: Option<u32>,
}

/// The faults armed and the calls seen; lives in the host state, so it carries over a VM reload.
#[derive(Debug, Clone, Default)]
pub(crate) struct FaultState {
    rules: BTreeMap<String, Rule>,
    counts: BTreeMap<&'static str, u64>,
    record: bool,
    log: Vec<HostCall>,
    fired: u64,
}

impl FaultState {
    /// Arms `fault` on the host function `call`, for every call or for the next `times` calls.
    pub(crate) fn inject(&mut self, call: &str, fault: Fault, times: Option<u32>) {
        self.rules.insert(
            call.to_string(),
            Rule {
                fault,
                remaining: times,
            },
        );
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    pub(crate) fn set_record(&mut self, on: bool) {
        self.record = on;
    }

    pub(crate) fn counts(&self) -> &BTreeMap<&'static str, u64> {
        &self.counts
    }

    pub(crate) fn reset_counts(&mut self) {
        self.counts.clear();
    }

    pub(crate) fn take_log(&mut self) -> Vec<HostCall> {
        std::mem::take(&mut self.log)
    }

    pub(crate) fn fired(&self) -> u64 {
        self.fired
    }

    /// Counts a call to `name` and returns the fault to apply instead of the function's work, if any.
    pub(crate) fn enter(&mut self, name: &'static str, context_id: u32) -> Option<Fault> {
        *self.counts.entry(name).or_insert(0) += 1;
        let fault = match self.rules.get_mut(name) {
            None => None,
            Some(rule) => match rule.remaining {
                None => Some(rule.fault),
                Some(0) => None,
                Some(n) => {
                    rule.remaining = Some(n - 1);
                    Some(rule.fault)
                }
            },
        };
        if fault.is_some() {
            self.fired += 1;
        }
        if self.record {
            self.log.push(HostCall {
                name,
                context_id,
                fault,
            });
        }
        fault
    }
}
