//! Test policy for end-to-end tests of the SDK itself. It allows every request, except:
//! - `x-probe` present: answers with a local reply (status 200) whose JSON body is the request
//!   view the SDK built (method, path, query, host, scheme, headers, source, destination);
//! - `x-panic` present: panics (a trap in the VM), to test the panic hook and failure policies.
//!
//! It accepts any plugin configuration, so it can stand in for another filter in its config.

use palisade::{ConfigError, Decision, Policy, PolicyError, Request, SocketAddress};
use serde_json::json;

/// See the crate docs.
#[derive(Debug)]
pub struct RequestProbe;

impl Policy for RequestProbe {
    type Config = serde::de::IgnoredAny;
    const NAME: &'static str = "request_probe";

    fn from_config(_: serde::de::IgnoredAny) -> Result<Self, ConfigError> {
        Ok(Self)
    }

    #[allow(clippy::panic)] // panicking on request is part of this test filter's job
    fn decide(&self, request: &Request<'_>) -> Result<Decision, PolicyError> {
        if let Some(reason) = request.header("x-panic") {
            panic!("asked to panic: {reason}");
        }
        if request.header("x-probe").is_none() {
            return Ok(Decision::allow().into());
        }
        let view = json!({
            "method": request.method(),
            "path": request.path(),
            "url_path": request.url_path(),
            "query": request.query_params(),
            "host": request.host(),
            "scheme": request.scheme(),
            "probe": request.header("X-Probe"),
            "headers": request.headers(),
            "source": request.source().map(address),
            "destination": request.destination().map(address),
        });
        Ok(Decision::deny(200)
            .header("content-type", "application/json")
            .body(view.to_string())
            .into())
    }
}

fn address(socket: &SocketAddress) -> serde_json::Value {
    json!({ "address": socket.address, "port": socket.port })
}

palisade::export_policy!(RequestProbe);
