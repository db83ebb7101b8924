//! Test policy: allows every request, but panics (a trap in the VM) when one carries an
//! `x-panic` header, so tests can see the panic hook's log line and Envoy's failure policy.
//! It accepts any plugin configuration, so it can stand in for another filter in its config.

use palisade::{ConfigError, Decision, Policy, PolicyError, Request};

/// Allows everything; panics on `x-panic`.
#[derive(Debug)]
pub struct PanicOnHeader;

impl Policy for PanicOnHeader {
    type Config = serde::de::IgnoredAny;
    const NAME: &'static str = "panic_on_header";

    fn from_config(_: serde::de::IgnoredAny) -> Result<Self, ConfigError> {
        Ok(Self)
    }

    #[allow(clippy::panic)] // panicking is this test filter's purpose
    fn decide(&self, request: &Request<'_>) -> Result<Decision, PolicyError> {
        if let Some(reason) = request.header("x-panic") {
            panic!("asked to panic: {reason}");
        }
        Ok(Decision::allow())
    }
}

palisade::export_policy!(PanicOnHeader);
