//! The Envoy world: real Envoy on loopback, rendered from `envoy.yaml`, with a real echo upstream,
//! a second echo server as the callout cluster, and a port that accepts connections but never
//! answers. Requests are written as raw HTTP/1.1, so the headers Envoy receives are exactly the
//! scenario's (no client defaults) and body chunks arrive as separate reads. The native world is
//! the same Envoy with the Wasm filter replaced by the crate's dynamic module.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use palisade_testkit::echo::EchoServer;
use palisade_testkit::envoy::{self, Envoy};

use crate::format::{Request, ScenarioFile, WaitFor};
use crate::outcome::{Observed, SeenCallout, Waited, Wants};

/// Pause between body chunks, so Envoy reads (and the filter sees) each one separately.
const CHUNK_GAP: Duration = Duration::from_millis(60);
/// How long to wait for log lines the scenario expects (Envoy writes its log asynchronously).
const LOG_WAIT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(20);
/// How long a step waits for the upstream to finish recording what it received (a request Envoy
/// started upstream and then reset is recorded when the reset arrives).
const UPSTREAM_SETTLE: Duration = Duration::from_secs(2);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct EnvoyWorld {
    envoy: Envoy,
    /// Where Envoy puts the filter's own stats: `wasmcustom.` or `dynamicmodulescustom.`.
    stats_prefix: &'static str,
    listener: SocketAddr,
    upstream: EchoServer,
    callouts: EchoServer,
    /// Accepted by the kernel (listen backlog), never answered: the `slow` cluster.
    _slow: TcpListener,
}

impl EnvoyWorld {
    pub fn start(file: &ScenarioFile, wasm: &Path) -> anyhow::Result<Self> {
        Self::start_with(file, wasm, None)
    }

    /// The same world with the Wasm filter replaced by the dynamic module `module`
    /// (`lib<name>.so`), given the plugin's configuration as its `filter_config`.
    pub fn start_native(file: &ScenarioFile, module: &Path) -> anyhow::Result<Self> {
        Self::start_with(file, Path::new("/nonexistent.wasm"), Some(module))
    }

    fn start_with(file: &ScenarioFile, wasm: &Path, module: Option<&Path>) -> anyhow::Result<Self> {
        let upstream = EchoServer::start()?;
        let callouts = EchoServer::start()?;
        let slow = TcpListener::bind("127.0.0.1:0")?;
        // A port nothing listens on (bound for a moment to find a free one): the `refused` cluster.
        let refused = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/envoy.yaml");
        let plugin = &file.plugin;
        let configuration = serde_json::to_string(&plugin.configuration)?;
        let config = envoy::render_file(
            &template,
            &[
                ("UPSTREAM_PORT", &upstream.port().to_string()),
                ("CALLOUT_PORT", &callouts.port().to_string()),
                ("SLOW_PORT", &slow.local_addr()?.port().to_string()),
                ("REFUSED_PORT", &refused.to_string()),
                ("WASM_PATH", &wasm.to_string_lossy()),
                ("PLUGIN_NAME", &plugin.name),
                ("ROOT_ID", &plugin.root_id),
                ("VM_ID", &plugin.vm_id),
                ("CONFIGURATION", &configuration),
                ("FAILURE_POLICY", plugin.failure_policy.envoy_name()),
                (
                    "ALLOW_ON_HEADERS_STOP_ITERATION",
                    if plugin.allow_on_headers_stop_iteration {
                        "true"
                    } else {
                        "false"
                    },
                ),
            ],
        )?;
        let (envoy, stats_prefix) = match module {
            None => (Envoy::start(&config)?, "wasmcustom."),
            Some(module) => {
                let config = as_native(&config, module, &plugin.name, &plugin.configuration)?;
                let modules = module.parent().context("the module's directory")?;
                (
                    Envoy::start_with_modules(&config, modules)?,
                    "dynamicmodulescustom.",
                )
            }
        };
        let listener = envoy.listener("ingress")?;
        Ok(Self {
            envoy,
            stats_prefix,
            listener,
            upstream,
            callouts,
            _slow: slow,
        })
    }

    pub fn request(&mut self, request: &Request, wants: &Wants) -> anyhow::Result<Observed> {
        let upstream_mark = self.upstream.received().len();
        let callout_mark = self.callouts.received().len();
        let log_mark = self.envoy.log().len();
        let reply = send(self.listener, request)
            .with_context(|| format!("sending {} {} to Envoy", request.method, request.path))?;
        self.upstream.wait_idle(UPSTREAM_SETTLE);
        let mut upstream = self.upstream.received().split_off(upstream_mark);
        if upstream.len() > 1 {
            bail!(
                "the upstream received {} requests for one: {upstream:?}",
                upstream.len()
            );
        }
        // The logs first: a callout may still be in flight when the client has its answer (the
        // filter answered at once), and the wanted log lines say when it is done.
        let logs = self.logs_until(log_mark, wants);
        let callouts = self
            .callouts
            .received()
            .split_off(callout_mark)
            .into_iter()
            .map(|request| SeenCallout {
                cluster: "auth_cluster".into(),
                request,
            })
            .collect();
        Ok(Observed {
            status: reply.status,
            headers: reply.headers,
            body: String::from_utf8_lossy(&reply.body).into_owned(),
            upstream: upstream.pop(),
            callouts,
            metrics: self.metrics(wants)?,
            logs,
        })
    }

    pub fn wait_for(&mut self, wait: &WaitFor, wants: &Wants) -> anyhow::Result<Waited> {
        let log_mark = self.envoy.log().len();
        let deadline = Instant::now() + Duration::from_millis(wait.timeout_ms);
        let mut value = self.metric(&wait.metric)?;
        while value.is_none_or(|v| v < wait.at_least) && Instant::now() < deadline {
            std::thread::sleep(POLL);
            value = self.metric(&wait.metric)?;
        }
        Ok(Waited {
            value,
            logs: self.logs_until(log_mark, wants),
        })
    }

    pub fn sleep(&mut self, ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }

    /// Envoy's log (and the stats) of this instance, for failure messages.
    pub fn log(&self) -> String {
        self.envoy.log()
    }

    fn metric(&self, name: &str) -> anyhow::Result<Option<u64>> {
        Ok(self
            .envoy
            .stats()?
            .get(&format!("{}{name}", self.stats_prefix))
            .copied())
    }

    fn metrics(&self, wants: &Wants) -> anyhow::Result<BTreeMap<String, u64>> {
        if wants.metrics.is_empty() {
            return Ok(BTreeMap::new());
        }
        let stats = self.envoy.stats()?;
        Ok(wants
            .metrics
            .iter()
            .filter_map(|name| {
                let value = stats.get(&format!("{}{name}", self.stats_prefix))?;
                Some((name.clone(), *value))
            })
            .collect())
    }

    /// The plugin's log messages since `mark`, waiting a little for the ones the scenario expects.
    fn logs_until(&self, mark: usize, wants: &Wants) -> Vec<String> {
        let deadline = Instant::now() + LOG_WAIT;
        loop {
            let logs = plugin_messages(self.envoy.log().get(mark..).unwrap_or_default());
            if wants.logs_seen(&logs) || Instant::now() >= deadline {
                return logs;
            }
            std::thread::sleep(POLL);
        }
    }
}

/// The bootstrap with its Wasm filter replaced by the dynamic module `module` (`lib<name>.so`,
/// found by `<name>`) under the plugin's name, configured with `configuration` (JSON text).
fn as_native(
    bootstrap: &str,
    module: &Path,
    plugin: &str,
    configuration: &str,
) -> anyhow::Result<String> {
    let name = module
        .file_stem()
        .and_then(|stem| stem.to_str()?.strip_prefix("lib"))
        .context("a module file named lib<name>.so")?;
    let filter = serde_json::json!({
        "name": "envoy.filters.http.dynamic_modules",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
            "dynamic_module_config": { "name": name, "do_not_close": true },
            "filter_name": plugin,
            "filter_config": {
                "@type": "type.googleapis.com/google.protobuf.StringValue",
                "value": configuration,
            },
        },
    });
    let mut doc: serde_yaml::Value = serde_yaml::from_str(bootstrap)?;
    let filters = &mut doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"]["http_filters"];
    let wasm = filters
        .as_sequence_mut()
        .and_then(|filters| {
            filters
                .iter_mut()
                .find(|f| f["name"] == "envoy.filters.http.wasm")
        })
        .context("no Wasm filter in the bootstrap")?;
    *wasm = serde_yaml::to_value(filter)?;
    Ok(serde_yaml::to_string(&doc)?)
}

/// The messages of Envoy's `wasm log <plugin> <root id> <vm id>: <message>` lines, or of a native
/// module's `palisade <level>: <message>` lines (a message may continue on the lines after it, up
/// to the next log entry).
fn plugin_messages(log: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut in_message = false;
    for line in log.lines() {
        let wasm = line.split_once("] wasm log ").map(|(_, rest)| rest);
        let native = line.strip_prefix("palisade ");
        if let Some(rest) = wasm.or(native) {
            let message = rest.split_once(": ").map_or("", |(_, m)| m);
            out.push(message.to_string());
            in_message = true;
        } else if line.starts_with('[') {
            in_message = false;
        } else if in_message {
            if let Some(last) = out.last_mut() {
                last.push('\n');
                last.push_str(line);
            }
        }
    }
    out
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Writes the request as raw HTTP/1.1 (one connection per request) and reads the response.
fn send(address: SocketAddr, request: &Request) -> anyhow::Result<Reply> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {}\r\n",
        request.method, request.path, request.authority
    );
    for (name, value) in &request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let chunked = request.body.len() > 1 || !request.trailers.is_empty();
    match request.body.as_slice() {
        [] if !chunked => {}
        [one] if !chunked => head.push_str(&format!("content-length: {}\r\n", one.len())),
        _ => head.push_str("transfer-encoding: chunked\r\n"),
    }
    head.push_str("\r\n");
    if chunked {
        stream.write_all(head.as_bytes())?;
        for chunk in &request.body {
            std::thread::sleep(CHUNK_GAP);
            stream.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes())?;
        }
        std::thread::sleep(CHUNK_GAP);
        let mut last = String::from("0\r\n");
        for (name, value) in &request.trailers {
            last.push_str(&format!("{name}: {value}\r\n"));
        }
        last.push_str("\r\n");
        stream.write_all(last.as_bytes())?;
    } else {
        head.push_str(request.body.first().map_or("", String::as_str));
        stream.write_all(head.as_bytes())?;
    }
    stream.flush()?;
    let head_request = request.method.eq_ignore_ascii_case("HEAD");
    read_reply(BufReader::new(stream), head_request)
}

/// Reads one response; the reply to a HEAD request has no body, whatever its `content-length`
/// says (RFC 9110 §9.3.2).
fn read_reply(mut reader: impl BufRead, head_request: bool) -> anyhow::Result<Reply> {
    let mut line = String::new();
    let (status, headers) = loop {
        line.clear();
        reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .context("no status line (connection closed?)")?
            .parse()?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            let (name, value) = trimmed.split_once(':').context("bad header line")?;
            headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
        }
        // An interim response (Envoy answers `expect: 100-continue` itself) precedes the reply.
        if !(100..200).contains(&status) {
            break (status, headers);
        }
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v): &(String, String)| v.clone())
    };
    let mut body = Vec::new();
    if head_request {
        // No body follows.
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim(), 16)?;
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            chunk.truncate(size);
            body.extend_from_slice(&chunk);
        }
    } else if let Some(length) = header("content-length") {
        body.resize(length.parse()?, 0);
        reader.read_exact(&mut body)?;
    } else if status != 204 && status != 304 {
        reader.read_to_end(&mut body)?;
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}
