//! The harness world: the filter in `palisade-harness`, driven the way Envoy drives it for the
//! scenario bootstrap (`envoy.yaml`): request headers as Envoy's HTTP/1 codec and connection manager
//! hand them over, body chunks, callouts answered as the bootstrap's clusters would answer them, the
//! echo upstream's response (the same `EchoedRequest` JSON the real echo server sends), then the
//! response through the filter.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use palisade_harness::{
    FailurePolicy as HarnessPolicy, HeaderMap, Host, HostBuilder, HttpCallout, HttpResponse,
    LogLevel, MetricValue, PluginConfig, PropertyValue, StreamId,
};
use palisade_testkit::echo::{self, EchoedRequest};

use crate::format::{FailurePolicy, Request, ScenarioFile, WaitFor};
use crate::outcome::{Observed, SeenCallout, Waited, Wants};

/// The clusters of `envoy.yaml`; a callout to any other name is refused, as Envoy refuses it.
const CLUSTERS: [&str; 4] = ["echo", "auth_cluster", "dead", "slow"];

/// Virtual time per step of a `wait_for`, or of waiting for a paused request.
const WAIT_STEP: Duration = Duration::from_millis(10);
/// How long a paused request may wait to be resumed before it counts as hung.
const PAUSE_WAIT: Duration = Duration::from_secs(2);

pub struct HarnessWorld {
    host: Host,
    requests: u32,
}

impl HarnessWorld {
    pub fn start(file: &ScenarioFile, wasm: &Path) -> anyhow::Result<Self> {
        let plugin = &file.plugin;
        let policy = match plugin.failure_policy {
            FailurePolicy::Closed => HarnessPolicy::FailClosed,
            FailurePolicy::Open => HarnessPolicy::FailOpen,
            FailurePolicy::Reload => HarnessPolicy::Reload,
        };
        let mut host = HostBuilder::from_file(wasm)
            .vm_id(&plugin.vm_id)
            .plugin(
                PluginConfig::new(&plugin.root_id)
                    .name(&plugin.name)
                    .configuration(plugin.configuration.as_bytes())
                    .failure_policy(policy)
                    .allow_on_headers_stop_iteration(plugin.allow_on_headers_stop_iteration),
            )
            .upstreams(&CLUSTERS)
            // `dead` has no endpoints: Envoy answers a callout to it before dispatch returns.
            .unhealthy_upstreams(&["dead"])
            // Envoy runs with `--component-log-level wasm:info`.
            .log_level(LogLevel::Info)
            .build()?;
        let started = host.start()?;
        if !started.ok() {
            bail!("the plugin refused to start: {started:?}");
        }
        Ok(Self { host, requests: 0 })
    }

    pub fn request(&mut self, request: &Request, wants: &Wants) -> anyhow::Result<Observed> {
        self.requests += 1;
        let log_mark = self.host.logs().len();
        let callout_mark = self.host.http_callouts().len();
        let s = self.host.new_http_stream()?;
        // The connection the probe can ask about: a loopback client on a plaintext listener.
        self.host
            .set_stream_property(s, "source.address", "127.0.0.1:40000")?;
        self.host
            .set_stream_property(s, "source.port", PropertyValue::Int(40000))?;
        self.host
            .set_stream_property(s, "destination.address", "127.0.0.1:10000")?;
        self.host
            .set_stream_property(s, "destination.port", PropertyValue::Int(10000))?;

        let headers = request_headers(request, self.requests);
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // The upstream gets the request once its headers leave the filter (Envoy streams it on
        // from there), with the body chunks that leave the filter after them.
        let mut sent_headers = None;
        let trailers = !request.trailers.is_empty();
        self.host
            .request_headers(s, &pairs, request.body.is_empty() && !trailers)?;
        self.answer_callouts()?;
        self.note_forwarded(s, &mut sent_headers)?;
        // Envoy's HTTP/1 codec hands over each chunk as it is read, then the end of the message as an
        // empty chunk with end_of_stream (also for a body sent with content-length), or the trailers.
        if !request.body.is_empty() || trailers {
            let end = (!trailers).then_some("");
            let chunks: Vec<&str> = request.body.iter().map(String::as_str).chain(end).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                let end_of_stream = end.is_some() && i + 1 == chunks.len();
                self.host.request_body(s, chunk.as_bytes(), end_of_stream)?;
                self.answer_callouts()?;
                self.note_forwarded(s, &mut sent_headers)?;
            }
        }
        if trailers {
            let pairs: Vec<(&str, &str)> = request
                .trailers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            self.host.request_trailers(s, &pairs)?;
            self.answer_callouts()?;
            self.note_forwarded(s, &mut sent_headers)?;
        }
        // A request the plugin paused may be resumed later (from its tick): let time pass, as the
        // Envoy world's client waits.
        let waited = self.host.elapsed() + PAUSE_WAIT;
        while self.host.stream(s)?.request_paused
            && !self.host.stream(s)?.ended()
            && self.host.elapsed() < waited
        {
            self.host.advance_time(WAIT_STEP)?;
            self.answer_callouts()?;
            self.note_forwarded(s, &mut sent_headers)?;
        }

        let stream = self.host.stream(s)?;
        if stream.request_paused && !stream.ended() {
            bail!("the plugin paused the request and nothing resumed it (the request would hang)");
        }
        let upstream = sent_headers.map(|headers| echoed(&headers, &stream.request_body));
        if let (Some(echoed), false) = (&upstream, stream.ended()) {
            let json = serde_json::to_string(echoed)?;
            let length = json.len().to_string();
            let status = echo_status(echoed).to_string();
            // What Envoy's filter sees of the echo server's response: tiny_http's headers plus the
            // router's `x-envoy-upstream-service-time`.
            self.host.response_headers(
                s,
                &[
                    (":status", &status),
                    ("server", "tiny-http (Rust)"),
                    ("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
                    ("content-type", "application/json"),
                    ("content-length", &length),
                    ("x-envoy-upstream-service-time", "0"),
                ],
                false,
            )?;
            self.host.response_body(s, json.as_bytes(), true)?;
            self.answer_callouts()?;
        }

        let stream = self.host.stream(s)?;
        let (status, headers, body) = match &stream.local_reply {
            Some(reply) => (
                u16::try_from(reply.status)?,
                reply.headers.pairs().to_vec(),
                reply.body.clone(),
            ),
            None => {
                if stream.response_paused {
                    bail!("the plugin paused the response and nothing resumed it");
                }
                let status = stream
                    .response_headers
                    .get(":status")
                    .context("no response status")?
                    .parse()?;
                let headers = stream
                    .response_headers
                    .pairs()
                    .iter()
                    .filter(|(k, _)| !k.starts_with(':'))
                    .cloned()
                    .collect();
                (status, headers, stream.response_body.clone())
            }
        };
        self.host.finish_stream(s)?;

        let callouts = self
            .host
            .http_callouts()
            .into_iter()
            .skip(callout_mark)
            .filter(|c| c.upstream == "auth_cluster")
            .map(|c| SeenCallout {
                cluster: c.upstream.clone(),
                request: callout_received(c),
            })
            .collect();
        Ok(Observed {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            upstream,
            callouts,
            metrics: self.metrics(wants),
            logs: self.logs_since(log_mark),
        })
    }

    /// Records the request headers as they left the filter, the first time they do.
    fn note_forwarded(&self, s: StreamId, sent: &mut Option<HeaderMap>) -> anyhow::Result<()> {
        let stream = self.host.stream(s)?;
        if sent.is_none() && !stream.ended() && !stream.request_paused {
            *sent = Some(stream.request_headers.clone());
        }
        Ok(())
    }

    pub fn wait_for(&mut self, wait: &WaitFor, wants: &Wants) -> anyhow::Result<Waited> {
        let log_mark = self.host.logs().len();
        let deadline = self.host.elapsed() + Duration::from_millis(wait.timeout_ms);
        let value = |host: &Host| metric(host, &wait.metric);
        while value(&self.host).is_none_or(|v| v < wait.at_least) && self.host.elapsed() < deadline
        {
            self.host.advance_time(WAIT_STEP)?;
        }
        let _ = wants;
        Ok(Waited {
            value: value(&self.host),
            logs: self.logs_since(log_mark),
        })
    }

    pub fn sleep(&mut self, ms: u64) -> anyhow::Result<()> {
        self.host.advance_time(Duration::from_millis(ms))?;
        Ok(())
    }

    /// Answers every pending callout as the bootstrap's clusters would: `auth_cluster` is an echo
    /// server, `slow` never answers (the callout runs into its timeout on the virtual clock, where the
    /// harness answers as Envoy's router does). `dead` never gets here: dispatch fails.
    fn answer_callouts(&mut self) -> anyhow::Result<()> {
        for _ in 0..100 {
            let Some(callout) = self
                .host
                .pending_http_callouts()
                .first()
                .map(|c| (*c).clone())
            else {
                return Ok(());
            };
            match callout.upstream.as_str() {
                "auth_cluster" => {
                    let echoed = callout_received(&callout);
                    let json = serde_json::to_string(&echoed)?;
                    let response = HttpResponse::new(echo_status(&echoed))
                        .header("server", "tiny-http (Rust)")
                        .header("date", "Mon, 01 Jan 2024 00:00:00 GMT")
                        .header("content-type", "application/json")
                        .header("content-length", &json.len().to_string())
                        .header("x-envoy-upstream-service-time", "0")
                        .body(json);
                    self.host.respond_http_callout(callout.token, response)?;
                }
                _ => self.time_out(&callout)?,
            }
        }
        bail!("the plugin kept dispatching callouts")
    }

    fn time_out(&mut self, callout: &HttpCallout) -> anyhow::Result<()> {
        if callout.timeout.is_zero() {
            bail!(
                "callout {} to {} has no timeout and no answer",
                callout.token,
                callout.upstream
            );
        }
        self.host.advance_time(callout.timeout)?;
        Ok(())
    }

    fn metrics(&self, wants: &Wants) -> std::collections::BTreeMap<String, u64> {
        wants
            .metrics
            .iter()
            .filter_map(|name| Some((name.clone(), metric(&self.host, name)?)))
            .collect()
    }

    fn logs_since(&self, mark: usize) -> Vec<String> {
        self.host
            .logs()
            .iter()
            .skip(mark)
            .map(|l| l.message.clone())
            .collect()
    }
}

/// Counters and gauges as Envoy's `/stats` shows them; histograms are not shown there.
fn metric(host: &Host, name: &str) -> Option<u64> {
    match host.metric(name)? {
        MetricValue::Counter(c) => Some(*c),
        MetricValue::Gauge(g) => u64::try_from(*g).ok(),
        MetricValue::Histogram(_) => None,
    }
}

/// The request headers Envoy gives the filter for this client request: the HTTP/1 codec's pseudo
/// headers (`Host` becomes `:authority`), the client's headers and framing header, then what the
/// connection manager adds (`x-forwarded-proto`, `x-request-id`).
fn request_headers(request: &Request, n: u32) -> Vec<(String, String)> {
    let mut headers = vec![
        (":authority".to_string(), request.authority.clone()),
        (":path".to_string(), request.path.clone()),
        (":method".to_string(), request.method.clone()),
    ];
    // The connection manager answers `expect: 100-continue` itself and drops the header.
    headers.extend(
        request
            .headers
            .iter()
            .filter(|(k, v)| {
                !(k.eq_ignore_ascii_case("expect") && v.eq_ignore_ascii_case("100-continue"))
            })
            .cloned(),
    );
    match request.body.len() {
        _ if !request.trailers.is_empty() => {
            headers.push(("transfer-encoding".into(), "chunked".into()));
        }
        0 => {}
        1 => {
            let length = request.body.iter().map(String::len).sum::<usize>();
            headers.push(("content-length".into(), length.to_string()));
        }
        _ => headers.push(("transfer-encoding".into(), "chunked".into())),
    }
    headers.push((":scheme".into(), "http".into()));
    headers.push(("x-forwarded-proto".into(), "http".into()));
    headers.push((
        "x-request-id".into(),
        format!("00000000-0000-4000-8000-{n:012}"),
    ));
    headers
}

/// A callout as its cluster receives it from Envoy's async HTTP client: the plugin's request, then
/// what Envoy's router adds to it as an internal request with a timeout (seen in Envoy 1.40; a
/// filter that copies the answer of an echo server into a header carries them along).
fn callout_received(callout: &HttpCallout) -> EchoedRequest {
    let mut request = echoed(&callout.headers, &callout.body);
    request
        .headers
        .push(("x-envoy-internal".into(), "true".into()));
    if !callout.timeout.is_zero() {
        request.headers.push((
            "x-envoy-expected-rq-timeout-ms".into(),
            callout.timeout.as_millis().to_string(),
        ));
    }
    request
}

/// The status the echo server answers `request` with (200 unless the request asks for another).
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
