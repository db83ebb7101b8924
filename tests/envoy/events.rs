//! Decision events in real Envoy: rego-authz with `envoy-configs/rego-authz-events.yaml`
//! sending to a real CloudEvents sink (`palisade_testkit::sink::Sink`) through Envoy's own
//! `dispatch_http_call`; and the same plugin configuration on rego-authz built natively
//! (`rego-authz-native.yaml` with the sink's cluster added), sending through the filter
//! configuration's callouts. What the sink receives is decoded again by the `cloudevents-sdk`
//! crate; what the filter counted is read from Envoy's admin `/stats`.
//!
//! The tests shorten `flush_interval_ms` (and, where the queue's bound is the point, shrink
//! `max_queue_events`) in the shipped config's `events` section and leave the rest as it is.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cloudevents::AttributesReader as _;
use palisade_testkit::echo::EchoServer;
use palisade_testkit::envoy::{self, Envoy};
use palisade_testkit::sink::{ContentMode, ReceivedEvent, Sink};
use serde_json::{json, Value};

use crate::support;

const CONFIG: &str = "rego-authz-events.yaml";
const TYPE: &str = "io.palisade.authz.decision";
/// The plugin's `name` in the config: the default `source` is derived from it.
const SOURCE: &str = "/palisade/rego-authz";
/// How long events may take to arrive (flushes every 100 ms; a busy machine is slow).
const ARRIVAL: Duration = Duration::from_secs(20);

/// Which build of rego-authz Envoy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Wasm,
    Native,
}

impl Backend {
    /// Where Envoy puts the filter's own stats.
    fn stats_prefix(self) -> &'static str {
        match self {
            Backend::Wasm => "wasmcustom.palisade.rego_authz.events.",
            Backend::Native => "dynamicmodulescustom.palisade.rego_authz.events.",
        }
    }
}

/// Envoy with the shipped events config, an echo upstream and a real sink.
struct Running {
    envoy: Envoy,
    listener: SocketAddr,
    _upstream: EchoServer,
    sink: Sink,
    backend: Backend,
}

/// Starts everything; `events` is merged over the shipped config's `events` section.
fn running(backend: Backend, events: Value) -> Running {
    running_with(backend, events, |bootstrap| bootstrap.to_string())
}

/// [`running`], with `edit` applied to the shipped config first.
fn running_with(backend: Backend, events: Value, edit: fn(&str) -> String) -> Running {
    let upstream = EchoServer::start().unwrap();
    let sink = Sink::start().unwrap();
    let bootstrap = edit(&events_bootstrap(&upstream, &sink.port().to_string()));
    let configuration = plugin_configuration(&bootstrap, events);
    let envoy = match backend {
        Backend::Wasm => support::start(
            &envoy::with_plugin_configuration(&bootstrap, "rego-authz", &configuration).unwrap(),
        ),
        Backend::Native => {
            let native = native_bootstrap(&bootstrap, &upstream, &configuration);
            let module = crate::native::rego_authz_module();
            Envoy::start_with_modules(&native, module.parent().unwrap())
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    let listener = envoy.listener("ingress").unwrap();
    Running {
        envoy,
        listener,
        _upstream: upstream,
        sink,
        backend,
    }
}

/// The shipped events config, rendered.
fn events_bootstrap(upstream: &EchoServer, sink_port: &str) -> String {
    envoy::render_file(
        &palisade_testkit::workspace::envoy_config(CONFIG),
        &[
            ("UPSTREAM_PORT", &upstream.port().to_string()),
            ("SINK_PORT", sink_port),
            ("WASM_PATH", &support::wasm("rego-authz").to_string_lossy()),
        ],
    )
    .unwrap()
}

/// The events config's plugin configuration with `overrides` merged into its `events`
/// section (the policy, data and every other setting stay as the file has them).
fn plugin_configuration(bootstrap: &str, overrides: Value) -> Value {
    let doc: Value = serde_yaml::from_str(bootstrap).unwrap();
    let plugin = "/static_resources/listeners/0/filter_chains/0/filters/0/typed_config\
                  /http_filters/0/typed_config/config";
    let plugin = doc.pointer(plugin).unwrap();
    assert_eq!(
        plugin["name"], "rego-authz",
        "the shipped config changed shape"
    );
    let mut configuration = plugin["configuration"]["value"].clone();
    let events = configuration["events"].as_object_mut().unwrap();
    for (name, value) in overrides.as_object().unwrap() {
        events.insert(name.clone(), value.clone());
    }
    configuration
}

/// The native bootstrap (`rego-authz-native.yaml`) running `configuration`, with the events
/// config's sink cluster.
fn native_bootstrap(
    events_bootstrap: &str,
    upstream: &EchoServer,
    configuration: &Value,
) -> String {
    let native = envoy::render_file(
        &palisade_testkit::workspace::envoy_config("rego-authz-native.yaml"),
        &[("UPSTREAM_PORT", &upstream.port().to_string())],
    )
    .unwrap();
    let native = envoy::with_module_configuration(&native, "rego-authz", configuration).unwrap();
    let events: serde_yaml::Value = serde_yaml::from_str(events_bootstrap).unwrap();
    let sink_cluster = events["static_resources"]["clusters"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "event_sink")
        .expect("the events config's sink cluster")
        .clone();
    let mut native: serde_yaml::Value = serde_yaml::from_str(&native).unwrap();
    native["static_resources"]["clusters"]
        .as_sequence_mut()
        .unwrap()
        .push(sink_cluster);
    serde_yaml::to_string(&native).unwrap()
}

/// One request of the mix, and what the policy must decide.
#[derive(Debug, Clone)]
struct Sent {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, &'static str)>,
    status: u16,
}

impl Sent {
    fn allowed(&self) -> bool {
        self.status == 200
    }
}

/// The `n`th request of a mix of allowed and denied ones (every path is unique, so each
/// event can be matched to its request).
fn nth_request(n: usize) -> Sent {
    let (method, path, headers, status) = match n % 5 {
        0 => ("GET", format!("/public/item-{n}?view=full"), vec![], 200),
        1 => (
            "GET",
            format!("/orders/{n}"),
            vec![("x-role", "clerk")],
            200,
        ),
        2 => (
            "DELETE",
            format!("/orders/{n}"),
            vec![("x-role", "clerk")],
            403,
        ),
        3 => ("GET", format!("/admin/{n}"), vec![], 403),
        _ => (
            "POST",
            format!("/orders/{n}"),
            vec![("x-role", "admin"), ("authorization", "Bearer s3cret")],
            200,
        ),
    };
    Sent {
        method,
        path,
        headers,
        status,
    }
}

/// Sends one request; returns its status and how long it took.
fn send(listener: SocketAddr, sent: &Sent) -> (u16, Duration) {
    let agent = envoy::http_client();
    let url = format!("http://{listener}{}", sent.path);
    let started = Instant::now();
    let mut request = match sent.method {
        "GET" => agent.get(&url).force_send_body(),
        "DELETE" => agent.delete(&url).force_send_body(),
        _ => agent.post(&url),
    };
    for (name, value) in &sent.headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send("").unwrap();
    let _ = response.body_mut().read_to_string().unwrap();
    (response.status().as_u16(), started.elapsed())
}

/// Sends requests `range` of the mix, checks every status, and returns the slowest.
fn send_all(listener: SocketAddr, range: std::ops::Range<usize>) -> (Vec<Sent>, Duration) {
    let mut slowest = Duration::ZERO;
    let sent: Vec<Sent> = range.map(nth_request).collect();
    for request in &sent {
        let (status, took) = send(listener, request);
        assert_eq!(status, request.status, "{request:?}");
        slowest = slowest.max(took);
    }
    (sent, slowest)
}

/// The filter's event counters and gauge, from Envoy's admin `/stats`.
fn event_stats(running: &Running) -> BTreeMap<String, u64> {
    let prefix = running.backend.stats_prefix();
    running
        .envoy
        .stats()
        .unwrap()
        .into_iter()
        .filter_map(|(name, value)| Some((name.strip_prefix(prefix)?.to_string(), value)))
        .collect()
}

fn stat(stats: &BTreeMap<String, u64>, name: &str) -> u64 {
    stats.get(name).copied().unwrap_or(0)
}

/// Polls the stats until `done` holds; the last stats either way.
fn wait_for_stats(
    running: &Running,
    timeout: Duration,
    done: impl Fn(&BTreeMap<String, u64>) -> bool,
) -> BTreeMap<String, u64> {
    let deadline = Instant::now() + timeout;
    loop {
        let stats = event_stats(running);
        if done(&stats) || Instant::now() >= deadline {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every emitted event is delivered or dropped, and none is queued any more.
fn settled(stats: &BTreeMap<String, u64>, emitted: u64) -> bool {
    let dropped: u64 = stats
        .iter()
        .filter(|(name, _)| name.starts_with("dropped."))
        .map(|(_, value)| value)
        .sum();
    stat(stats, "emitted") == emitted
        && stat(stats, "delivered") + dropped == emitted
        && stat(stats, "queued") == 0
}

/// The event decoded by the independent implementation, with its JSON data.
fn decoded(received: &ReceivedEvent) -> (cloudevents::Event, Value) {
    let event: cloudevents::Event = serde_json::from_value(received.event.clone())
        .unwrap_or_else(|e| panic!("cloudevents-sdk cannot read {}: {e}", received.event));
    let data = match event.data() {
        Some(cloudevents::Data::Json(value)) => value.clone(),
        other => panic!("expected JSON data, got {other:?}"),
    };
    (event, data)
}

/// Checks that `events` are exactly the decision events of `sent`, one each.
fn check_decision_events(events: &[ReceivedEvent], sent: &[Sent]) {
    assert_eq!(events.len(), sent.len(), "one event per request");
    let by_path: BTreeMap<&str, &Sent> = sent.iter().map(|s| (s.path.as_str(), s)).collect();
    let mut ids = HashSet::new();
    let mut decision_ids = HashSet::new();
    let mut revisions = HashSet::new();
    for received in events {
        let (event, data) = decoded(received);
        assert_eq!(event.specversion().as_str(), "1.0");
        assert_eq!(event.ty(), TYPE);
        assert_eq!(event.source().as_str(), SOURCE);
        assert_eq!(event.datacontenttype(), Some("application/json"));
        assert!(event.time().is_some(), "no time: {}", received.event);
        assert!(
            ids.insert(event.id().to_string()),
            "repeated id {}",
            event.id()
        );

        let path = data["request"]["path"].as_str().unwrap();
        let request = by_path
            .get(path)
            .unwrap_or_else(|| panic!("an event for a request never sent: {data}"));
        assert_eq!(event.subject(), path.split('?').next(), "{data}");
        assert_eq!(data["request"]["method"], request.method, "{data}");
        assert!(data["request"]["host"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"));
        assert!(data["request"]["source_address"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"));
        assert_eq!(data["allowed"], request.allowed(), "{data}");
        assert_eq!(data["status"], request.status, "{data}");
        assert_eq!(data["rule"], "data.envoy.authz.allow");
        assert!(data["eval_time_us"].is_u64(), "{data}");
        assert!(data.get("error").is_none(), "{data}");
        let headers = data["headers"].as_object().unwrap();
        for (name, value) in &request.headers {
            let want = if *name == "authorization" {
                "[REDACTED]"
            } else {
                value
            };
            assert_eq!(headers[*name], want, "{data}");
        }
        assert_eq!(headers.len(), request.headers.len(), "{data}");
        let decision_id = data["decision_id"].as_str().unwrap();
        assert!(
            decision_ids.insert(decision_id.to_string()),
            "decision id {decision_id} repeated"
        );
        revisions.insert(data["revision"].as_str().unwrap().to_string());
    }
    assert_eq!(
        revisions.len(),
        1,
        "one policy, one revision: {revisions:?}"
    );
    assert!(revisions.iter().all(|r| r.len() == 64));
}

#[test]
fn a_real_sink_receives_every_decision_event() {
    every_decision_event_arrives(Backend::Wasm);
}

#[test]
fn a_real_sink_receives_every_decision_event_of_the_native_module() {
    every_decision_event_arrives(Backend::Native);
}

fn every_decision_event_arrives(backend: Backend) {
    let running = running(backend, json!({"flush_interval_ms": 100}));
    let (sent, _) = send_all(running.listener, 0..50);
    let events = running.sink.wait_for(50, ARRIVAL).unwrap();
    check_decision_events(&events, &sent);
    assert!(events.iter().all(|e| e.mode == ContentMode::Batched));
    assert_eq!(
        running.sink.requests().invalid,
        0,
        "{:?}",
        running.sink.invalid()
    );

    let stats = wait_for_stats(&running, ARRIVAL, |s| settled(s, 50));
    assert_eq!(stat(&stats, "emitted"), 50, "{stats:?}");
    assert_eq!(stat(&stats, "delivered"), 50, "{stats:?}");
    assert_eq!(stat(&stats, "retried"), 0, "{stats:?}");
    assert_eq!(stat(&stats, "queued"), 0, "{stats:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(running.sink.count(), 50, "an event arrived twice");
}

#[test]
fn binary_and_structured_modes_reach_the_sink() {
    for (backend, mode, want) in [
        (Backend::Wasm, "binary", ContentMode::Binary),
        (Backend::Wasm, "structured", ContentMode::Structured),
        (Backend::Native, "binary", ContentMode::Binary),
    ] {
        let running = running(backend, json!({"flush_interval_ms": 100, "mode": mode}));
        let (mut sent, _) = send_all(running.listener, 0..5);
        // A path whose subject needs percent-encoding in a ce-subject header.
        let odd = Sent {
            method: "GET",
            path: "/public/caf%C3%A9%20%22menu%22".into(),
            headers: vec![],
            status: 200,
        };
        let (status, _) = send(running.listener, &odd);
        assert_eq!(status, 200);
        sent.push(odd);
        let events = running.sink.wait_for(6, ARRIVAL).unwrap();
        check_decision_events(&events, &sent);
        assert!(events.iter().all(|e| e.mode == want), "{mode}");
        let stats = wait_for_stats(&running, ARRIVAL, |s| settled(s, 6));
        assert_eq!(stat(&stats, "delivered"), 6, "{mode}: {stats:?}");
    }
}

/// The events section of the failing-sink tests: a small queue, quick flushes, a short
/// callout timeout.
fn small_queue() -> Value {
    json!({
        "flush_interval_ms": 100,
        "max_batch_events": 10,
        "max_queue_events": 20,
        "timeout_ms": 500,
    })
}

/// No request may be slow because the sink is: generous, for a busy machine.
const SLOW: Duration = Duration::from_secs(1);

#[test]
fn a_failing_sink_slows_no_request_and_the_queue_stays_bounded() {
    failing_sink(Backend::Wasm);
}

#[test]
fn a_failing_sink_slows_no_native_request_and_the_queue_stays_bounded() {
    failing_sink(Backend::Native);
}

fn failing_sink(backend: Backend) {
    let running = running(backend, small_queue());
    // Fewer than max_queue_events, so none is dropped however fast they come.
    let (mut sent, baseline) = send_all(running.listener, 0..15);
    running.sink.wait_for(15, ARRIVAL).unwrap();

    // The sink answers 503: the filter keeps the newest 20 events and retries.
    running.sink.set_status(503);
    let (failing_sent, failing) = send_all(running.listener, 15..75);
    eprintln!("slowest request: {baseline:?} with the sink up, {failing:?} with it failing");
    assert!(
        failing < SLOW,
        "a request took {failing:?} while the sink failed (baseline {baseline:?})"
    );
    let stats = wait_for_stats(&running, ARRIVAL, |s| {
        stat(s, "emitted") == 75 && stat(s, "retried") > 0
    });
    assert_eq!(stat(&stats, "emitted"), 75, "{stats:?}");
    assert_eq!(stat(&stats, "delivered"), 15, "{stats:?}");
    assert!(stat(&stats, "retried") > 0, "{stats:?}");
    assert_eq!(stat(&stats, "dropped.queue_full"), 40, "{stats:?}");
    assert_eq!(
        stat(&stats, "queued"),
        20,
        "bounded by max_queue_events: {stats:?}"
    );
    assert!(running.sink.requests().refused > 0);

    // The sink recovers: the 20 queued events (the newest) arrive, and nothing else is lost.
    running.sink.set_status(200);
    let events = running.sink.wait_for(35, Duration::from_secs(45)).unwrap();
    let stats = wait_for_stats(&running, ARRIVAL, |s| settled(s, 75));
    assert!(settled(&stats, 75), "{stats:?}");
    assert_eq!(
        stat(&stats, "delivered"),
        75 - stat(&stats, "dropped.queue_full"),
        "{stats:?}"
    );
    assert_eq!(stat(&stats, "delivered"), 35, "{stats:?}");
    sent.extend(failing_sent.into_iter().skip(40));
    check_decision_events(&events, &sent);
    assert_eq!(running.sink.requests().invalid, 0);
    print_event_log(&running.envoy);
}

/// The sink's cluster with no endpoints: Envoy answers each callout itself (503, no healthy
/// upstream), possibly before the call that sent it returns.
fn without_sink_endpoints(bootstrap: &str) -> String {
    let mut doc: serde_yaml::Value = serde_yaml::from_str(bootstrap).unwrap();
    let clusters = doc["static_resources"]["clusters"]
        .as_sequence_mut()
        .unwrap();
    let sink = clusters
        .iter_mut()
        .find(|c| c["name"] == "event_sink")
        .unwrap();
    sink["load_assignment"]["endpoints"] = serde_yaml::Value::Sequence(Vec::new());
    serde_yaml::to_string(&doc).unwrap()
}

#[test]
fn a_sink_cluster_without_endpoints_slows_no_request_in_either_backend() {
    for backend in [Backend::Wasm, Backend::Native] {
        let running = running_with(backend, small_queue(), without_sink_endpoints);
        let (_, slowest) = send_all(running.listener, 0..30);
        assert!(slowest < SLOW, "{backend:?}: a request took {slowest:?}");
        let stats = wait_for_stats(&running, ARRIVAL, |s| {
            stat(s, "emitted") == 30 && stat(s, "retried") > 0
        });
        assert_eq!(stat(&stats, "emitted"), 30, "{backend:?}: {stats:?}");
        assert_eq!(stat(&stats, "delivered"), 0, "{backend:?}: {stats:?}");
        assert!(stat(&stats, "retried") > 0, "{backend:?}: {stats:?}");
        assert_eq!(
            stat(&stats, "dropped.queue_full"),
            10,
            "{backend:?}: {stats:?}"
        );
        assert_eq!(stat(&stats, "queued"), 20, "{backend:?}: {stats:?}");
        // Envoy still answers, and still delivers nothing twice or elsewhere.
        let (status, _) = send(running.listener, &nth_request(0));
        assert_eq!(status, 200, "{backend:?}");
        assert_eq!(running.sink.count(), 0, "{backend:?}");
    }
}

/// What the filter logged about delivery (shown with `--nocapture`).
fn print_event_log(envoy: &Envoy) {
    for line in envoy.log().lines().filter(|l| l.contains("events:")) {
        eprintln!("envoy: {line}");
    }
}

#[test]
fn queued_events_arrive_when_a_stopped_sink_comes_back() {
    stopped_sink(Backend::Wasm);
}

#[test]
fn queued_native_events_arrive_when_a_stopped_sink_comes_back() {
    stopped_sink(Backend::Native);
}

fn stopped_sink(backend: Backend) {
    let mut running = running(backend, small_queue());
    let (mut sent, baseline) = send_all(running.listener, 0..5);
    running.sink.wait_for(5, ARRIVAL).unwrap();

    running.sink.stop();
    let (down_sent, down) = send_all(running.listener, 5..20);
    eprintln!("slowest request: {baseline:?} with the sink up, {down:?} with it stopped");
    assert!(
        down < SLOW,
        "a request took {down:?} while the sink was down (baseline {baseline:?})"
    );
    // Wait until Envoy has been refused a connection to the sink (a callout on a connection
    // kept alive from before gets no answer and times out first).
    let refused = || {
        running
            .envoy
            .stat("cluster.event_sink.upstream_cx_connect_fail")
            .unwrap()
    };
    let deadline = Instant::now() + ARRIVAL;
    while refused() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(refused() > 0, "Envoy never tried the stopped sink");
    let stats = event_stats(&running);
    assert_eq!(stat(&stats, "emitted"), 20, "{stats:?}");
    assert_eq!(stat(&stats, "delivered"), 5, "{stats:?}");
    assert_eq!(stat(&stats, "queued"), 15, "{stats:?}");
    assert!(stat(&stats, "retried") > 0, "{stats:?}");

    running.sink.restart().unwrap();
    let events = running.sink.wait_for(20, Duration::from_secs(45)).unwrap();
    let stats = wait_for_stats(&running, ARRIVAL, |s| settled(s, 20));
    assert!(settled(&stats, 20), "{stats:?}");
    assert_eq!(stat(&stats, "delivered"), 20, "none lost: {stats:?}");
    sent.extend(down_sent);
    check_decision_events(&events, &sent);
    print_event_log(&running.envoy);
}

#[test]
fn a_bad_events_section_makes_envoy_refuse_the_config() {
    let upstream = EchoServer::start().unwrap();
    let bootstrap = events_bootstrap(&upstream, "9");
    let configuration = plugin_configuration(&bootstrap, json!({"mode": "fast"}));
    let bad = envoy::with_plugin_configuration(&bootstrap, "rego-authz", &configuration).unwrap();
    let err = match Envoy::start(&bad) {
        Ok(envoy) => panic!("Envoy accepted mode: fast; log:\n{}", envoy.log()),
        Err(err) => err,
    };
    let envoy::EnvoyError::Exited { log, .. } = err else {
        panic!("expected Envoy to exit, got {err}");
    };
    assert!(
        log.contains(
            "rego_authz: invalid plugin configuration: field `events.mode`: unknown variant `fast`"
        ),
        "our message is not in Envoy's log:\n{log}"
    );
}
