//! The harness world: the filter in `palisade-harness`, driven through its front door
//! (`Host::client_request`) the way Envoy drives it for the scenario bootstrap (`envoy.yaml`):
//! clusters that answer callouts as the bootstrap's do, and the echo upstream's response (the same
//! `EchoedRequest` JSON the real echo server sends). The filter runs as Envoy runs it at
//! `--concurrency 1` (the Envoy world's): the module's two main-thread instances and the worker's,
//! which takes the requests; a step's logs are every instance's.

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use palisade_harness::{
    ClientRequest, Cluster, FailurePolicy as HarnessPolicy, HeaderMap, Host, HostBuilder,
    HttpCallout, HttpResponse, LogLevel, MetricValue, PluginConfig, Process, ReceivedRequest,
    Thread, UpstreamResponse,
};
use palisade_testkit::echo::{self, EchoedRequest};

use crate::format::{FailurePolicy, Request, ScenarioFile, WaitFor};
use crate::outcome::{Observed, SeenCallout, Waited, Wants};

/// Virtual time per step of a `wait_for`.
const WAIT_STEP: Duration = Duration::from_millis(10);

/// The Envoy world's `--concurrency`.
const CONCURRENCY: u32 = 1;

pub struct HarnessWorld {
    process: Process,
}

impl HarnessWorld {
    pub fn start(file: &ScenarioFile, wasm: &Path) -> anyhow::Result<Self> {
        let plugin = &file.plugin;
        let policy = match plugin.failure_policy {
            FailurePolicy::Closed => HarnessPolicy::FailClosed,
            FailurePolicy::Open => HarnessPolicy::FailOpen,
            FailurePolicy::Reload => HarnessPolicy::Reload,
        };
        let mut process = HostBuilder::from_file(wasm)
            .vm_id(&plugin.vm_id)
            .plugin(
                PluginConfig::new(&plugin.root_id)
                    .name(&plugin.name)
                    .configuration(plugin.configuration.as_bytes())
                    .failure_policy(policy)
                    .allow_on_headers_stop_iteration(plugin.allow_on_headers_stop_iteration),
            )
            // The clusters of envoy.yaml.
            .cluster("echo", Cluster::answering(HttpResponse::new(200)))
            .cluster(
                "auth_cluster",
                Cluster::Answers(std::sync::Arc::new(echo_callout)),
            )
            .cluster("dead", Cluster::NoEndpoints)
            .cluster("slow", Cluster::NeverAnswers)
            .cluster("refused", Cluster::Refuses)
            .upstream(echo_upstream)
            // Envoy runs with `--component-log-level wasm:info`.
            .log_level(LogLevel::Info)
            .build_process(CONCURRENCY)?;
        let started = process.start()?;
        if !started.ok() {
            bail!("the plugin refused to start: {started:?}");
        }
        Ok(Self { process })
    }

    /// The instance that takes the requests.
    fn worker(&self) -> &Host {
        self.process
            .instances()
            .find(|(thread, _)| *thread == Thread::Worker(0))
            .map(|(_, host)| host)
            .expect("the process has a worker")
    }

    /// How many lines each instance has logged so far.
    fn log_marks(&self) -> Vec<usize> {
        self.process
            .instances()
            .map(|(_, host)| host.logs().len())
            .collect()
    }

    /// The lines every instance logged since `marks`, instance by instance.
    fn logs_since(&self, marks: &[usize]) -> Vec<String> {
        self.process
            .instances()
            .zip(marks)
            .flat_map(|((_, host), mark)| host.logs().iter().skip(*mark))
            .map(|l| l.message.clone())
            .collect()
    }

    pub fn request(&mut self, request: &Request, wants: &Wants) -> anyhow::Result<Observed> {
        let log_marks = self.log_marks();
        let callout_mark = self.worker().http_callouts().len();
        let mut client =
            ClientRequest::new(&request.method, &request.path).authority(&request.authority);
        for (name, value) in &request.headers {
            client = client.header(name, value);
        }
        for chunk in &request.body {
            client = client.body(chunk.as_bytes());
        }
        for (name, value) in &request.trailers {
            client = client.trailer(name, value);
        }
        let exchange = self.process.client_request(0, &client)?;
        let callouts = self
            .worker()
            .http_callouts()
            .into_iter()
            .skip(callout_mark)
            .filter(|c| c.upstream == "auth_cluster")
            .map(|c| SeenCallout {
                cluster: c.upstream.clone(),
                request: echoed(&c.received_headers(), &c.body),
            })
            .collect();
        Ok(Observed {
            status: exchange.response.status,
            headers: exchange.response.headers.pairs().to_vec(),
            body: String::from_utf8_lossy(&exchange.response.body).into_owned(),
            upstream: exchange
                .upstream
                .as_ref()
                .map(|r| echoed(&r.headers, &r.body)),
            callouts,
            metrics: self.metrics(wants),
            logs: self.logs_since(&log_marks),
        })
    }

    pub fn wait_for(&mut self, wait: &WaitFor, wants: &Wants) -> anyhow::Result<Waited> {
        let log_marks = self.log_marks();
        let deadline = self.process.elapsed() + Duration::from_millis(wait.timeout_ms);
        let value = |process: &Process| metric(process, &wait.metric);
        while value(&self.process).is_none_or(|v| v < wait.at_least)
            && self.process.elapsed() < deadline
        {
            self.process.advance_time(WAIT_STEP)?;
        }
        let _ = wants;
        Ok(Waited {
            value: value(&self.process),
            logs: self.logs_since(&log_marks),
        })
    }

    pub fn sleep(&mut self, ms: u64) -> anyhow::Result<()> {
        self.process.advance_time(Duration::from_millis(ms))?;
        Ok(())
    }

    fn metrics(&self, wants: &Wants) -> std::collections::BTreeMap<String, u64> {
        wants
            .metrics
            .iter()
            .filter_map(|name| Some((name.clone(), metric(&self.process, name)?)))
            .collect()
    }
}

/// Counters and gauges as Envoy's `/stats` shows them; histograms are not shown there.
fn metric(process: &Process, name: &str) -> Option<u64> {
    match process.metric(name)? {
        MetricValue::Counter(c) => Some(c),
        MetricValue::Gauge(g) => u64::try_from(g).ok(),
        MetricValue::Histogram(_) => None,
    }
}

/// The echo server (`palisade_testkit::echo`) as the route's upstream: a 200 with the request as
/// JSON (with the status it asks for), and tiny_http's headers. To a HEAD request it sends the
/// same headers, `content-length` included, and no body, as tiny_http does.
fn echo_upstream(request: &ReceivedRequest) -> UpstreamResponse {
    let request = echoed(&request.headers, &request.body);
    let json = serde_json::to_string(&request).unwrap_or_default();
    let response = UpstreamResponse::new(echo_status(&request))
        .header("server", "tiny-http (Rust)")
        .header("date", "Mon, 01 Jan 2024 00:00:00 GMT")
        .header("content-type", "application/json");
    if request.method.eq_ignore_ascii_case("HEAD") {
        response.header("content-length", &json.len().to_string())
    } else {
        response.body(json)
    }
}

/// The echo server as the `auth_cluster` callout cluster.
fn echo_callout(callout: &HttpCallout) -> HttpResponse {
    let request = echoed(&callout.received_headers(), &callout.body);
    let json = serde_json::to_string(&request).unwrap_or_default();
    HttpResponse::new(echo_status(&request))
        .header("server", "tiny-http (Rust)")
        .header("date", "Mon, 01 Jan 2024 00:00:00 GMT")
        .header("content-type", "application/json")
        .header("content-length", &json.len().to_string())
        .header("x-envoy-upstream-service-time", "0")
        .body(json)
}

/// The status the echo server answers `request` with (what it asks for in `x-echo-status`).
fn echo_status(request: &EchoedRequest) -> u16 {
    echo::answer_status(
        request
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

/// A request as an HTTP/1 upstream receives it: `:authority` as `Host`, no other pseudo headers.
fn echoed(headers: &HeaderMap, body: &[u8]) -> EchoedRequest {
    let get = |name: &str| headers.get(name).unwrap_or_default().to_string();
    let mut out = vec![("host".to_string(), get(":authority"))];
    out.extend(
        headers
            .pairs()
            .iter()
            .filter(|(k, _)| !k.starts_with(':'))
            .cloned(),
    );
    EchoedRequest {
        method: get(":method"),
        path: get(":path"),
        headers: out,
        body: String::from_utf8_lossy(body).into_owned(),
    }
}
