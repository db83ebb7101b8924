//! Shared by the reliability tests: the shipped filters built once per test process, hosts running
//! them with a given plugin configuration, and the outcome of one request.

use std::path::PathBuf;

use palisade_harness::{FailurePolicy, Host, HostBuilder, LogLevel, PluginConfig, StreamId};
use serde_json::Value;

/// The root id the filters run under in these tests.
pub const ROOT: &str = "reliability";

pub use palisade::__private::FAIL_CLOSED_BODY;

/// A compiled workspace filter (`rego-authz`, `tenant-header`), built once per test process.
pub fn wasm(package: &str) -> PathBuf {
    palisade_build::build_once(package).unwrap_or_else(|e| panic!("building {package}: {e}"))
}

/// A host (not started) running `package` with `configuration` under [`ROOT`] and `policy`.
pub fn builder(package: &str, configuration: &Value, policy: FailurePolicy) -> HostBuilder {
    HostBuilder::from_file(wasm(package))
        .plugin(
            PluginConfig::new(ROOT)
                .configuration(configuration.to_string())
                .failure_policy(policy),
        )
        .property("source.address", "127.0.0.1:40000")
        .property("destination.address", "127.0.0.1:10000")
}

/// A policy module in `package envoy.authz` (Rego v1) with these rules.
pub fn rego(rules: &str) -> String {
    format!("package envoy.authz\nimport rego.v1\n{rules}\n")
}

/// An `events` section sending every decision to the cluster `sink`, flushed on each tick.
pub fn events_section() -> Value {
    serde_json::json!({ "sink_cluster": "sink", "flush_interval_ms": 1000 })
}

/// What happened to one request, as the client and the upstream see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// The request went on to the upstream.
    Upstream,
    /// The filter's fail-closed local reply.
    FailClosed,
    /// Another local reply (a policy denial, or the proxy's 503 for a failed plugin).
    Reply(u32),
    /// Reset by the filter (`proxy_close_stream`): no response, never reaches upstream.
    Reset,
    /// Neither continued nor answered (held until the proxy's timeout; never reaches upstream).
    Held,
}

impl RequestOutcome {
    /// True when the upstream saw the request.
    pub fn reached_upstream(&self) -> bool {
        *self == RequestOutcome::Upstream
    }
}

impl std::fmt::Display for RequestOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestOutcome::Upstream => f.write_str("upstream"),
            RequestOutcome::FailClosed => f.write_str("fail-closed"),
            RequestOutcome::Reply(status) => write!(f, "reply {status}"),
            RequestOutcome::Reset => f.write_str("reset"),
            RequestOutcome::Held => f.write_str("held"),
        }
    }
}

/// The outcome of a stream once its request is complete.
pub fn request_outcome(host: &Host, stream: StreamId) -> RequestOutcome {
    let Ok(s) = host.stream(stream) else {
        return RequestOutcome::Held;
    };
    match &s.local_reply {
        Some(reply) if reply.body == FAIL_CLOSED_BODY.as_bytes() => RequestOutcome::FailClosed,
        Some(reply) => RequestOutcome::Reply(reply.status),
        None if s.reset => RequestOutcome::Reset,
        None if s.request_paused => RequestOutcome::Held,
        None => RequestOutcome::Upstream,
    }
}

/// A host running rego-authz with `configuration`, started; `Err` holds the error lines of a
/// rejected configuration.
pub fn configure(configuration: &Value) -> anyhow::Result<Result<Host, Vec<String>>> {
    let mut host = builder("rego-authz", configuration, FailurePolicy::FailClosed).build()?;
    if host.start()?.ok() {
        return Ok(Ok(host));
    }
    let errors = host
        .log_messages_from(LogLevel::Error)
        .into_iter()
        .map(String::from)
        .collect();
    Ok(Err(errors))
}

/// [`configure`], failing when the configuration is rejected.
pub fn started(configuration: &Value) -> anyhow::Result<Host> {
    configure(configuration)?.map_err(|errors| anyhow::anyhow!("rejected: {errors:?}"))
}

/// Sends one bodiless request and finishes the stream; returns the status the client got
/// (the local reply's, or 200 when the request went upstream).
pub fn send(
    host: &mut Host,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> anyhow::Result<u32> {
    let stream = host.new_http_stream_for(ROOT)?;
    let mut headers = vec![
        (":method", method),
        (":path", path),
        (":authority", "bounds.test"),
        (":scheme", "http"),
    ];
    headers.extend_from_slice(extra);
    host.request_headers(stream, &headers, true)?;
    finish(host, stream)
}

/// Answers an allowed stream with 200, finishes it, and returns the client's status.
pub fn finish(host: &mut Host, stream: StreamId) -> anyhow::Result<u32> {
    let status = match &host.stream(stream)?.local_reply {
        Some(reply) => reply.status,
        None => {
            host.response_headers(stream, &[(":status", "200")], true)?;
            200
        }
    };
    host.finish_stream(stream)?;
    Ok(status)
}

/// A counter's value (0 when the filter has not defined it).
pub fn counter(host: &Host, name: &str) -> u64 {
    match host.metric(name) {
        Some(palisade_harness::MetricValue::Counter(n)) => n,
        Some(other) => panic!("{name} is not a counter: {other:?}"),
        None => 0,
    }
}
