//! `palisade up`: a Rego policy enforced by real Envoy, with its decision events streamed live.
//!
//! Builds rego-authz, starts a real echo upstream, a real CloudEvents sink and real Envoy
//! (from the project's venv) with the bootstrap `envoy-configs/rego-authz-events.yaml`, its
//! policy replaced by the one given (or the embedded `examples/rego/rbac`), then prints one line
//! per decision event as the sink receives it, until Ctrl-C. With `--send-demo-traffic` it
//! sends the requests of the policy's decision cases itself, checks each answer against the
//! case, prints the decisions and one event in full, and exits.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::{bail, Context};
use palisade_testkit::cases::{Case, CaseFile};
use palisade_testkit::echo::EchoServer;
use palisade_testkit::envoy::{self, Envoy};
use palisade_testkit::policy_files::PolicySet;
use palisade_testkit::sink::{ReceivedEvent, Sink};
use serde_json::Value;

/// The example policy `up` runs when given none (`examples/rego/rbac`).
const EXAMPLE_POLICY: &str = include_str!("../../../examples/rego/rbac/policy.rego");
const EXAMPLE_DATA: &str = include_str!("../../../examples/rego/rbac/data.json");
const EXAMPLE_CASES: &str = include_str!("../../../examples/rego/rbac/cases.yaml");

/// The bootstrap `up` runs (`envoy-configs/rego-authz-events.yaml`, embedded); its plugin
/// configuration's `policies` and `data` are replaced.
const BOOTSTRAP: &str = include_str!("../../../envoy-configs/rego-authz-events.yaml");

/// How long `--send-demo-traffic` waits for the decision events of its requests.
const EVENT_WAIT: Duration = Duration::from_secs(15);

/// Settings for `palisade up`.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// A `.rego` file or a policy directory; `None` runs the embedded example.
    pub policy: Option<PathBuf>,
    /// Send the policy's decision cases as requests, print what happened, and exit.
    pub send_demo_traffic: bool,
    /// The listener's port (0: any free port).
    pub port: u16,
    /// Another `rego_authz.wasm` than the one the command carries.
    pub wasm: Option<PathBuf>,
    /// The Envoy binary (else found or installed: see `envoy_install`).
    pub envoy: Option<PathBuf>,
}

/// The policy to run and the requests that show it off.
struct Workload {
    label: String,
    policies: PolicySet,
    cases: Vec<Case>,
}

/// Runs `palisade up`; returns when Ctrl-C is pressed, or after the demo traffic.
pub fn run(options: &UpOptions) -> anyhow::Result<()> {
    let workload = workload(options.policy.as_deref())?;
    let envoy_binary = crate::envoy_install::find_or_install(options.envoy.as_deref())?;
    // Envoy loads the module from a file: the embedded one is written out for it.
    let module_dir = tempfile::tempdir().context("creating a temp dir for the module")?;
    let wasm = match &options.wasm {
        Some(path) => path.clone(),
        None => {
            let path = module_dir.path().join("rego_authz.wasm");
            std::fs::write(&path, crate::embedded::REGO_AUTHZ)
                .with_context(|| format!("writing {}", path.display()))?;
            path
        }
    };
    let upstream = EchoServer::start()?;
    let sink = Sink::start().context("starting the CloudEvents sink")?;
    let decisions = sink.subscribe();
    eprintln!("==> starting Envoy with rego-authz ({})", workload.label);
    let config = bootstrap(&workload.policies, &wasm, options.port, &upstream, &sink)?;
    let mut envoy = Envoy::start_binary(&envoy_binary, &config, 1)
        .with_context(|| format!("starting Envoy ({})", envoy_binary.display()))?;
    let listener = envoy.listener("ingress")?;
    println!("palisade up: {} enforced by real Envoy", workload.label);
    println!("  listener      http://{listener}/");
    println!(
        "  upstream      echo server on 127.0.0.1:{}",
        upstream.port()
    );
    println!("  events sink   http://{}/", sink.address());
    println!("  Envoy admin   http://{}/", envoy.admin_address());
    if options.send_demo_traffic {
        return demo_traffic(&workload.cases, listener, &sink, &decisions);
    }
    println!("\nsend requests to the listener, e.g. curl -i http://{listener}/public/pricing");
    println!("decisions as their events arrive (Ctrl-C stops Envoy, the upstream and the sink):\n");
    stream_until_interrupted(&mut envoy, &decisions)
}

/// The policy from `path`, with the decision cases found next to it; or the example.
fn workload(path: Option<&Path>) -> anyhow::Result<Workload> {
    let Some(path) = path else {
        let data = serde_json::from_str(EXAMPLE_DATA).context("the example's data.json")?;
        let cases = CaseFile::parse(EXAMPLE_CASES).context("the example's cases.yaml")?;
        return Ok(Workload {
            label: "the example policy examples/rego/rbac".into(),
            policies: PolicySet {
                modules: [(
                    "examples/rego/rbac/policy.rego".to_string(),
                    EXAMPLE_POLICY.to_string(),
                )]
                .into(),
                data: Some(data),
            },
            cases: cases.cases,
        });
    };
    let policies = PolicySet::load(path)?;
    let mut cases = Vec::new();
    if path.is_dir() {
        let mut files = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()?;
        files.sort();
        for file in files {
            if !file.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                continue;
            }
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            if palisade_testkit::cases::is_case_file(&text) {
                let parsed = CaseFile::parse(&text)
                    .with_context(|| format!("reading cases from {}", file.display()))?;
                // Cases that embed their own policies, or need minted tokens, are for `palisade test`.
                if parsed.policies.is_none() && parsed.tokens.is_empty() {
                    cases.extend(parsed.cases);
                }
            }
        }
    }
    Ok(Workload {
        label: palisade_testkit::policy_files::display_path(path),
        policies,
        cases,
    })
}

/// The bootstrap with this policy, wasm, and the ports of the parts `up` started.
fn bootstrap(
    policies: &PolicySet,
    wasm: &Path,
    port: u16,
    upstream: &EchoServer,
    sink: &Sink,
) -> anyhow::Result<String> {
    let rendered = envoy::render_bootstrap(
        BOOTSTRAP,
        &[
            ("LISTENER_PORT", &port.to_string()),
            ("UPSTREAM_PORT", &upstream.port().to_string()),
            ("SINK_PORT", &sink.port().to_string()),
            ("WASM_PATH", &wasm.to_string_lossy()),
        ],
    )?;
    let mut configuration = plugin_configuration(&rendered)?;
    if let Value::Object(config) = &mut configuration {
        config.remove("policies");
        config.remove("data");
        // Live output: deliver events five times a second rather than once.
        if let Some(Value::Object(events)) = config.get_mut("events") {
            events.insert("flush_interval_ms".into(), 200.into());
        }
        configuration = policies.plugin_configuration(config);
    }
    Ok(envoy::with_plugin_configuration(
        &rendered,
        "rego-authz",
        &configuration,
    )?)
}

/// The rego-authz plugin configuration of a bootstrap, as JSON.
fn plugin_configuration(bootstrap: &str) -> anyhow::Result<Value> {
    let doc: Value = serde_yaml::from_str(bootstrap).context("reading the bootstrap")?;
    let mut found = None;
    find_plugin(&doc, &mut found);
    found.context("the bootstrap has no rego-authz plugin configuration")
}

fn find_plugin(value: &Value, found: &mut Option<Value>) {
    match value {
        Value::Object(map) => {
            if map.get("name").and_then(Value::as_str) == Some("rego-authz") {
                if let Some(config) = map.get("configuration").and_then(|c| c.get("value")) {
                    *found = Some(config.clone());
                    return;
                }
            }
            map.values().for_each(|v| find_plugin(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| find_plugin(v, found)),
        _ => {}
    }
}

/// Prints decisions as they arrive until Ctrl-C (or until Envoy exits).
fn stream_until_interrupted(
    envoy: &mut Envoy,
    decisions: &mpsc::Receiver<ReceivedEvent>,
) -> anyhow::Result<()> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")?;
    while !interrupted.load(Ordering::SeqCst) {
        match decisions.recv_timeout(Duration::from_millis(200)) {
            Ok(event) => println!("{}", decision_line(&event)),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the event sink stopped"),
        }
        if envoy.has_exited() {
            bail!("Envoy exited; its log:\n{}", envoy.log());
        }
    }
    eprintln!("\n==> stopping Envoy, the upstream and the sink");
    Ok(())
}

/// Sends each case's request, checks the answer against the case, then prints the decision
/// events they caused and the first one in full. Fails if an answer or an event is missing or
/// wrong.
fn demo_traffic(
    cases: &[Case],
    listener: std::net::SocketAddr,
    sink: &Sink,
    decisions: &mpsc::Receiver<ReceivedEvent>,
) -> anyhow::Result<()> {
    if cases.is_empty() {
        bail!("no decision cases next to the policy to send as demo traffic (see `palisade test --help` for the case format)");
    }
    println!(
        "\nsending {} requests from the policy's decision cases:\n",
        cases.len()
    );
    let client = envoy::http_client();
    let mut wrong = 0;
    for case in cases {
        let request = &case.request;
        let url = format!("http://{listener}{}", request.path);
        let mut builder = ureq::http::Request::builder()
            .method(request.method.as_str())
            .uri(url.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let body = request.body.clone().unwrap_or_default();
        let response = client
            .run(builder.body(body).context("building the request")?)
            .with_context(|| format!("{} {}", request.method, request.path))?;
        let status = response.status().as_u16();
        let expected = match case.expect.allowed {
            true => 200,
            false => case.expect.status.unwrap_or(403),
        };
        let verdict = match status == expected {
            true => "ok",
            false => {
                wrong += 1;
                "UNEXPECTED"
            }
        };
        println!(
            "  {status} {:<6} {:<24} {verdict:<10} {}",
            request.method, request.path, case.note
        );
    }
    println!("\ndecision events received by the sink:\n");
    let mut events = Vec::new();
    while events.len() < cases.len() {
        match decisions.recv_timeout(EVENT_WAIT) {
            Ok(event) => {
                println!("{}", decision_line(&event));
                events.push(event);
            }
            Err(_) => bail!(
                "only {} of {} decision events arrived within {EVENT_WAIT:?} (sink: {:?})",
                events.len(),
                cases.len(),
                sink.requests()
            ),
        }
    }
    if let Some(first) = events.first() {
        println!(
            "\nthe first event as the sink received it ({} mode):\n",
            first.mode
        );
        println!("{}", serde_json::to_string_pretty(&first.event)?);
    }
    if wrong > 0 {
        bail!(
            "{wrong} of {} requests were not answered as their case expects",
            cases.len()
        );
    }
    println!(
        "\n{} requests answered as their cases expect; {} decision events delivered",
        cases.len(),
        events.len()
    );
    Ok(())
}

/// One line per decision event: verdict, status, method, path, rule and evaluation time.
pub fn decision_line(event: &ReceivedEvent) -> String {
    let Some(data) = event.data() else {
        return format!("{} (no data)", event.event_type());
    };
    let text = |value: Option<&Value>| match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    };
    let allowed = data.get("allowed").and_then(Value::as_bool);
    let verdict = match allowed {
        Some(true) => "ALLOW",
        Some(false) => "DENY ",
        None => "?    ",
    };
    let request = data.get("request");
    let mut line = format!(
        "  {verdict} {} {:<6} {:<24} rule {} in {} us",
        text(data.get("status")),
        text(request.and_then(|r| r.get("method"))),
        text(request.and_then(|r| r.get("path"))),
        text(data.get("rule")),
        text(data.get("eval_time_us")),
    );
    if let Some(error) = data.get("error") {
        line.push_str(&format!("  error: {}", text(Some(error))));
    }
    line
}
