//! The compiled rego-authz filter in the harness: the very `.wasm` Envoy loads, configured with a
//! plugin configuration and sent requests. `palisade test`, `palisade eval` and the workspace's
//! decision-case tests all decide through it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use palisade_harness::{HarnessError, Host, HostBuilder, LogLevel, PluginConfig};

use crate::cases::{CaseRequest, CaseResult, Outcome, Suite};
use crate::policy_files::PolicySet;

const ROOT_ID: &str = "rego-authz";

/// Where a decision's dynamic metadata lands (filter state, as Envoy keeps it).
const METADATA_KEY: &str = "wasm.palisade.dynamic_metadata";

/// The authority cases are sent to.
const AUTHORITY: &str = "cases.test";

/// The package and rule of the extra module [`RegoFilter::evaluate`] adds.
const EVALUATE_MODULE: &str = "palisade-evaluate.rego";
const EVALUATE_PATH: &str = "palisade_evaluate/report";

/// Why the filter could not be loaded, configured or driven.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// The `.wasm` file could not be read.
    #[error("reading {}: {source}", .path.display())]
    Read {
        /// The module's path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The harness could not compile or run the module.
    #[error("running the filter in the harness: {0}")]
    Harness(#[from] HarnessError),
    /// `on_configure` returned false: the policy or a setting is wrong.
    #[error("the filter rejected its configuration: {}", .log.join("; "))]
    Rejected {
        /// What the filter logged at error level while configuring.
        log: Vec<String>,
    },
}

impl FilterError {
    /// What to show a policy author: for a rejected configuration, the filter's error lines,
    /// each starting with `file:line:column:` where it names a place in a policy.
    pub fn details(&self) -> Vec<String> {
        match self {
            Self::Rejected { log } if !log.is_empty() => {
                log.iter().map(|line| policy_location(line)).collect()
            }
            other => vec![other.to_string()],
        }
    }
}

/// `rego_authz: invalid plugin configuration: field `policies.p.rego`: p.rego:3:9: msg` ->
/// `p.rego:3:9: msg`; other lines unchanged.
fn policy_location(line: &str) -> String {
    let Some(at) = line.find("field `polic") else {
        return line.to_string();
    };
    let rest = line.get(at..).unwrap_or_default();
    match rest.split_once("`: ") {
        Some((_, message)) if message.contains(':') => message.to_string(),
        _ => line.to_string(),
    }
}

/// The rego-authz module, read once.
#[derive(Debug, Clone)]
pub struct RegoFilter {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl RegoFilter {
    /// A module given as bytes (the one the command carries, say); `name` is what
    /// [`path`](Self::path) answers, for messages.
    pub fn from_bytes(name: impl Into<PathBuf>, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            path: name.into(),
            bytes: bytes.into(),
        }
    }

    /// A module built before.
    pub fn from_file(path: &Path) -> Result<Self, FilterError> {
        let bytes = std::fs::read(path).map_err(|source| FilterError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
        })
    }

    /// Where the module is (for one given as bytes, the name it was given).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The module's size in bytes.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// The module's hex SHA-256 (what a WasmPlugin's `sha256` pins).
    pub fn sha256(&self) -> String {
        palisade_build::sha256_hex(&self.bytes)
    }

    /// Compiles the module (once per process: later hosts reuse the compiled code) and says how
    /// long it took.
    pub fn compile(&self) -> Result<Duration, FilterError> {
        let start = Instant::now();
        HostBuilder::from_bytes(self.bytes.clone()).build()?;
        Ok(start.elapsed())
    }

    /// A fresh VM with the filter configured by `configuration`, its clock at `clock`.
    pub fn configure(
        &self,
        configuration: &serde_json::Value,
        clock: SystemTime,
    ) -> Result<ConfiguredFilter, FilterError> {
        // The plugin configuration says whether Envoy's Wasm filter lets it hold the headers.
        let stop_iteration =
            configuration.get("allow_on_headers_stop_iteration") == Some(&true.into());
        let mut host = HostBuilder::from_bytes(self.bytes.clone())
            .plugin(
                PluginConfig::new(ROOT_ID)
                    .configuration(configuration.to_string())
                    .allow_on_headers_stop_iteration(stop_iteration),
            )
            .start_time(clock)
            // As for Envoy's test clients, which connect over loopback.
            .property("source.address", "127.0.0.1:40000")
            .property("destination.address", "127.0.0.1:10000")
            .build()?;
        let outcome = host.start()?;
        if !outcome.ok() {
            let log = host
                .log_messages_from(LogLevel::Error)
                .into_iter()
                .map(String::from)
                .collect();
            return Err(FilterError::Rejected { log });
        }
        Ok(ConfiguredFilter { host })
    }

    /// Evaluates the Rego `expression` through the filter for `request`, with `policies` and
    /// the plugin configuration `config`: one more module whose rule denies with status 200 and
    /// the expression's JSON as the body is added and made the decision. Dry run and failure
    /// mode are turned off, so a failure shows as one. `palisade eval` shows the input and the
    /// rules this way; `palisade test` runs OPA unit tests this way.
    pub fn evaluate(
        &self,
        policies: &PolicySet,
        config: &serde_json::Map<String, serde_json::Value>,
        request: &CaseRequest,
        clock: SystemTime,
        expression: &str,
    ) -> Result<serde_json::Value, String> {
        let mut policies = policies.clone();
        // No `if` or imports: valid Rego v0 and v1.
        policies.modules.insert(
            EVALUATE_MODULE.into(),
            format!(
                "package palisade_evaluate\n\nreport := {{\"allowed\": false, \"http_status\": 200, \
                 \"body\": json.marshal({expression})}}\n"
            ),
        );
        let mut config = config.clone();
        config.insert("path".into(), EVALUATE_PATH.into());
        config.insert("dry_run".into(), false.into());
        config.insert("failure_mode".into(), "deny".into());
        let mut filter = self
            .configure(&policies.plugin_configuration(&config), clock)
            .map_err(|e| e.details().join("; "))?;
        let outcome = filter.send(request).map_err(|e| e.to_string())?;
        if outcome.allowed || outcome.status != 200 {
            let why = if outcome.log.is_empty() {
                format!("the filter answered {}", outcome.status)
            } else {
                outcome.log.join("; ")
            };
            return Err(why);
        }
        serde_json::from_str(&outcome.body).map_err(|e| format!("reading the filter's answer: {e}"))
    }

    /// Runs a case file through the filter: one VM configured with the file's policies, every
    /// case sent to it. `minted` holds the file's JWTs where the caller made them.
    pub fn run_suite<'a>(
        &self,
        suite: &'a Suite,
        minted: &std::collections::BTreeMap<String, String>,
    ) -> Result<Vec<CaseResult<'a>>, FilterError> {
        let mut filter = self.configure(&suite.plugin_configuration(), SystemTime::now())?;
        Ok(suite.file.run(minted, |request| {
            filter.send(request).map_err(|e| e.to_string())
        }))
    }
}

/// A configured filter, ready for requests.
#[derive(Debug)]
pub struct ConfiguredFilter {
    host: Host,
}

impl ConfiguredFilter {
    /// The decision events the filter has queued (it needs an `events` section in its
    /// configuration): fires its timer, takes the batches it sends to the sink, answers them
    /// `200`, and returns their events in structured JSON form, oldest first.
    pub fn flush_events(&mut self) -> Result<Vec<serde_json::Value>, String> {
        let host = &mut self.host;
        host.tick(ROOT_ID).map_err(|e| e.to_string())?;
        let calls = host
            .respond_pending_http_callouts(&palisade_harness::HttpResponse::new(200))
            .map_err(|e| e.to_string())?;
        let mut events = Vec::new();
        for call in calls {
            let batch: Vec<serde_json::Value> = serde_json::from_slice(&call.body)
                .map_err(|e| format!("reading the filter's event batch: {e}"))?;
            events.extend(batch);
        }
        Ok(events)
    }

    /// Sends one request through the filter (and, when it is allowed, a `200` response back)
    /// and reports what happened.
    pub fn send(&mut self, request: &CaseRequest) -> Result<Outcome, HarnessError> {
        let host = &mut self.host;
        // The harness's clock is virtual: bring it to the wall-clock time (tokens are minted
        // with real time).
        if let Ok(behind) = SystemTime::now().duration_since(host.now()) {
            host.advance_time(behind)?;
        }
        let logged_before = host.logs().len();
        let stream = host.new_http_stream_for(ROOT_ID)?;
        let mut headers: Vec<(&str, &str)> = vec![
            (":method", request.method.as_str()),
            (":path", request.path.as_str()),
            (":authority", AUTHORITY),
            (":scheme", "http"),
        ];
        let length = request.body.as_ref().map(|b| b.len().to_string());
        if let Some(length) = &length {
            headers.push(("content-length", length));
        }
        headers.extend(
            request
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let body = request.body.as_deref().unwrap_or_default();
        host.request_headers(stream, &headers, body.is_empty())?;
        // As Envoy's HTTP/1 codec hands a body over: the data, then the end of the message.
        for (chunk, end) in [(body.as_bytes(), false), (&b""[..], true)] {
            if !body.is_empty() && !host.stream(stream)?.ended() {
                host.request_body(stream, chunk, end)?;
            }
        }
        let state = host.stream(stream)?;
        let dynamic_metadata = state
            .filter_state(METADATA_KEY)
            .and_then(|bytes| serde_json::from_slice(bytes).ok());
        let mut outcome = if let Some(reply) = &state.local_reply {
            Outcome {
                allowed: false,
                status: u16::try_from(reply.status).unwrap_or(0),
                reply_headers: reply.headers.pairs().to_vec(),
                body: String::from_utf8_lossy(&reply.body).into_owned(),
                ..Outcome::default()
            }
        } else {
            let upstream_headers = state.request_headers.pairs().to_vec();
            let upstream_path = state
                .request_headers
                .get(":path")
                .unwrap_or_default()
                .to_string();
            host.response_headers(stream, &[(":status", "200")], true)?;
            Outcome {
                allowed: true,
                status: 200,
                upstream_path,
                upstream_headers,
                response_headers: host.stream(stream)?.response_headers.pairs().to_vec(),
                ..Outcome::default()
            }
        };
        outcome.dynamic_metadata = dynamic_metadata;
        outcome.log = host
            .logs()
            .get(logged_before..)
            .unwrap_or_default()
            .iter()
            .filter(|l| l.level >= LogLevel::Warn)
            .map(|l| l.message.clone())
            .collect();
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_errors_start_with_their_location() {
        let line = "rego_authz: invalid plugin configuration: field `policies.x/p.rego`: \
                    x/p.rego:3:9: unexpected token";
        assert_eq!(policy_location(line), "x/p.rego:3:9: unexpected token");
        let other =
            "rego_authz: invalid plugin configuration: field `max_eval_ms`: must be at least 1";
        assert_eq!(policy_location(other), other);
    }
}
