//! A test filter for the harness: each request header `x-probe` (comma-separated commands) makes it use a
//! part of the proxy-wasm ABI through the Rust SDK, and report what it saw in request headers and logs.
//!
//! Root ids: `http` (or any other) is an HTTP filter; `tcp` is a TCP filter. Plugin configuration is
//! `key=value` pairs separated by `;`: `fail=1` makes `on_configure` return false, `tick=<ms>` sets a tick
//! period. A VM configuration of `fail` makes `on_vm_start` return false. The `callout` command calls the
//! cluster named by the request header `x-callout-cluster` (default `auth_cluster`). `resume-later`
//! pauses the request headers until a tick at least 300 ms later resumes them
//! (`proxy_continue_stream`).

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext, StreamContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType, PeerType};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(ProbeRoot { context_id, kind: ContextType::HttpContext, metrics: Metrics::default() })
    });
}}

thread_local! {
    /// Stream contexts waiting for `proxy_done` (their `on_done` returned false).
    static WAITING_FOR_DONE: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    /// Paused requests (context id, when paused) a tick resumes once they waited long enough
    /// (`resume-later`).
    static WAITING_FOR_TICK: RefCell<Vec<(u32, SystemTime)>> = const { RefCell::new(Vec::new()) };
}

#[derive(Default, Clone, Copy)]
struct Metrics {
    requests: u32,
    ticks: u32,
    gauge: u32,
    histogram: u32,
}

struct ProbeRoot {
    context_id: u32,
    kind: ContextType,
    metrics: Metrics,
}

/// What the raw header-map calls on the request headers return: the status and size of
/// `get_header_map_pairs`, then the statuses of `get_header_map_value(":path")`,
/// `replace_header_map_value`, `add_header_map_value`, `remove_header_map_value` and
/// `get_header_map_size`.
fn request_header_calls() -> String {
    extern "C" {
        fn proxy_get_header_map_pairs(map: u32, data: *mut *mut u8, size: *mut usize) -> u32;
        fn proxy_get_header_map_value(
            map: u32,
            key: *const u8,
            key_size: usize,
            value: *mut *mut u8,
            value_size: *mut usize,
        ) -> u32;
        fn proxy_replace_header_map_value(
            map: u32,
            key: *const u8,
            key_size: usize,
            value: *const u8,
            value_size: usize,
        ) -> u32;
        fn proxy_add_header_map_value(
            map: u32,
            key: *const u8,
            key_size: usize,
            value: *const u8,
            value_size: usize,
        ) -> u32;
        fn proxy_remove_header_map_value(map: u32, key: *const u8, key_size: usize) -> u32;
        fn proxy_get_header_map_size(map: u32, size: *mut usize) -> u32;
    }
    let (mut data, mut size) = (std::ptr::null_mut(), 0usize);
    let (path, key, value) = (b":path", b"x-set-in-body", b"1");
    // SAFETY: every buffer outlives the call that reads it; the host writes only into the locals
    // it is given (a buffer it allocated is leaked, which a test filter can afford).
    #[allow(unsafe_code)]
    let statuses = unsafe {
        let pairs = proxy_get_header_map_pairs(0, &mut data, &mut size);
        let pairs_size = size;
        let get = proxy_get_header_map_value(0, path.as_ptr(), path.len(), &mut data, &mut size);
        let replace =
            proxy_replace_header_map_value(0, key.as_ptr(), 13, value.as_ptr(), value.len());
        let add = proxy_add_header_map_value(0, key.as_ptr(), 13, value.as_ptr(), value.len());
        let remove = proxy_remove_header_map_value(0, key.as_ptr(), key.len());
        let map_size = proxy_get_header_map_size(0, &mut size);
        [
            pairs,
            pairs_size as u32,
            get,
            replace,
            add,
            remove,
            map_size,
        ]
    };
    let [pairs, pairs_size, get, replace, add, remove, map_size] = statuses;
    format!(
        "pairs {pairs} ({pairs_size} bytes), get {get}, replace {replace}, add {add}, \
         remove {remove}, size {map_size}"
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn config_value(config: &str, key: &str) -> Option<String> {
    config.split(';').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

fn log(level: LogLevel, message: &str) {
    // A host error here must not abort the filter.
    let _ = hostcalls::log(level, message);
}

impl Context for ProbeRoot {
    fn on_http_call_response(&mut self, token: u32, headers: usize, body: usize, _trailers: usize) {
        log(
            LogLevel::Info,
            &format!("root callout {token}: headers={headers} body={body}"),
        );
    }
}

impl RootContext for ProbeRoot {
    fn on_queue_ready(&mut self, queue_id: u32) {
        while let Ok(Some(item)) = self.dequeue_shared_queue(queue_id) {
            log(
                LogLevel::Info,
                &format!("queue {queue_id} item: {}", String::from_utf8_lossy(&item)),
            );
        }
    }

    fn on_vm_start(&mut self, _size: usize) -> bool {
        let config = self.get_vm_configuration().unwrap_or_default();
        log(
            LogLevel::Info,
            &format!("vm_start: {}", String::from_utf8_lossy(&config)),
        );
        config != b"fail"
    }

    fn on_configure(&mut self, _size: usize) -> bool {
        let config = self.get_plugin_configuration().unwrap_or_default();
        let config = String::from_utf8_lossy(&config).into_owned();
        log(LogLevel::Info, &format!("configure: {config}"));
        if self.get_property(vec!["plugin_root_id"]).as_deref() == Some(b"tcp".as_slice()) {
            self.kind = ContextType::StreamContext;
        }
        self.metrics = Metrics {
            requests: hostcalls::define_metric(MetricType::Counter, "probe_requests").unwrap_or(0),
            ticks: hostcalls::define_metric(MetricType::Counter, "probe_ticks").unwrap_or(0),
            gauge: hostcalls::define_metric(MetricType::Gauge, "probe_gauge").unwrap_or(0),
            histogram: hostcalls::define_metric(MetricType::Histogram, "probe_histogram")
                .unwrap_or(0),
        };
        let _ = hostcalls::register_shared_queue("probe_queue");
        if let Some(ms) = config_value(&config, "tick").and_then(|v| v.parse().ok()) {
            self.set_tick_period(Duration::from_millis(ms));
        }
        config_value(&config, "fail").is_none()
    }

    fn on_tick(&mut self) {
        let _ = hostcalls::increment_metric(self.metrics.ticks, 1);
        let now = self.get_current_time();
        let nanos = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        log(LogLevel::Info, &format!("tick at {nanos}"));
        // Finish the streams whose on_done returned false: switch to each, then proxy_done.
        let waiting = WAITING_FOR_DONE.with(|w| std::mem::take(&mut *w.borrow_mut()));
        for context_id in waiting {
            let switched = hostcalls::set_effective_context(context_id);
            let done = hostcalls::done();
            log(
                LogLevel::Info,
                &format!("done {context_id}: {switched:?} {done:?}"),
            );
        }
        // Long enough for a client to have sent the whole request, however it is chunked.
        let due = |paused: SystemTime| {
            now.duration_since(paused)
                .is_ok_and(|waited| waited >= Duration::from_millis(300))
        };
        let paused = WAITING_FOR_TICK.with(|w| {
            let mut waiting = w.borrow_mut();
            let (ready, later) = waiting.drain(..).partition(|(_, at)| due(*at));
            *waiting = later;
            ready
        });
        for (context_id, _) in paused {
            let switched = hostcalls::set_effective_context(context_id);
            let resumed = hostcalls::resume_http_request();
            log(
                LogLevel::Info,
                &format!("resume {context_id}: {switched:?} {resumed:?}"),
            );
        }
        let _ = hostcalls::set_effective_context(self.context_id);
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(ProbeHttp {
            context_id,
            commands: Vec::new(),
            metrics: self.metrics,
            grpc_token: None,
        }))
    }

    fn create_stream_context(&self, context_id: u32) -> Option<Box<dyn StreamContext>> {
        Some(Box::new(ProbeTcp { context_id }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(self.kind)
    }
}

struct ProbeHttp {
    context_id: u32,
    commands: Vec<String>,
    metrics: Metrics,
    grpc_token: Option<u32>,
}

impl ProbeHttp {
    fn has(&self, command: &str) -> bool {
        self.commands.iter().any(|c| c == command)
    }

    fn report(&self, name: &str, value: &str) {
        self.set_http_request_header(name, Some(value));
    }

    fn run_properties(&self) {
        let paths = self.get_http_request_header("x-props").unwrap_or_default();
        for path in paths.split(',').filter(|p| !p.is_empty()) {
            let segments: Vec<&str> = path.split('.').collect();
            let value = self
                .get_property(segments)
                .map_or("none".to_string(), |v| hex(&v));
            self.report(&format!("x-prop-{path}"), &value);
        }
        self.set_property(vec!["my_key"], Some(b"my_value"));
        let back = self.get_property(vec!["my_key"]).unwrap_or_default();
        self.report("x-prop-readback", &String::from_utf8_lossy(&back));
    }

    fn run_shared(&self) {
        let (value, cas) = self.get_shared_data("probe_key");
        let mut value = value.unwrap_or_default();
        value.push(b'x');
        let ok = self.set_shared_data("probe_key", Some(&value), cas);
        let stale = self.set_shared_data("probe_key", Some(b"stale"), cas);
        self.report("x-shared-set", &format!("{ok:?}"));
        self.report("x-shared-stale", &format!("{stale:?}"));
        self.report(
            "x-shared-value",
            &String::from_utf8_lossy(&self.get_shared_data("probe_key").0.unwrap_or_default()),
        );
    }

    fn run_metrics(&self) {
        let _ = hostcalls::record_metric(self.metrics.gauge, 42);
        let _ = hostcalls::increment_metric(self.metrics.gauge, -2);
        let _ = hostcalls::record_metric(self.metrics.histogram, 7);
        let counter = hostcalls::get_metric(self.metrics.requests);
        let negative = hostcalls::increment_metric(self.metrics.requests, -1);
        self.report("x-metric-requests", &format!("{counter:?}"));
        self.report("x-metric-negative", &format!("{negative:?}"));
    }

    fn run_logs(&self) {
        for (level, name) in [
            (LogLevel::Trace, "trace"),
            (LogLevel::Debug, "debug"),
            (LogLevel::Info, "info"),
            (LogLevel::Warn, "warn"),
            (LogLevel::Error, "error"),
            (LogLevel::Critical, "critical"),
        ] {
            log(level, &format!("{name} message"));
        }
        #[allow(clippy::print_stdout)]
        {
            println!("stdout line");
        }
        eprintln!("stderr line");
        let level = hostcalls::get_log_level();
        self.report("x-log-level", &format!("{level:?}"));
    }

    fn run_time(&self) {
        let host = self.get_current_time();
        let wasi = SystemTime::now();
        let nanos = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        self.report("x-time-host", &nanos(host).to_string());
        self.report("x-time-wasi", &nanos(wasi).to_string());
    }

    fn run_env(&self) {
        self.report(
            "x-env",
            &std::env::var("PROBE_ENV").unwrap_or_else(|_| "unset".into()),
        );
        self.report("x-env-count", &std::env::vars().count().to_string());
        self.report("x-args", &std::env::args().count().to_string());
    }

    fn run_foreign(&self) {
        let echo = self.call_foreign_function("echo", Some(b"ping"));
        let missing = self.call_foreign_function("missing", None);
        let echo = match echo {
            Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            other => format!("{other:?}"),
        };
        self.report("x-foreign", &echo);
        self.report("x-foreign-missing", &format!("{missing:?}"));
    }

    fn run_queue(&self) {
        match self.resolve_shared_queue("", "probe_queue") {
            Some(id) => {
                let result = self.enqueue_shared_queue(id, Some(b"from-stream"));
                self.report("x-enqueue", &format!("{result:?}"));
            }
            None => self.report("x-enqueue", "unresolved"),
        }
        let missing = hostcalls::resolve_shared_queue("other_vm", "probe_queue");
        self.report("x-resolve-missing", &format!("{missing:?}"));
    }

    fn run_callout(&self, with_path: bool) -> Action {
        let mut headers = vec![
            (":method", "POST"),
            (":authority", "auth"),
            ("x-from", "probe"),
        ];
        if with_path {
            headers.push((":path", "/check"));
        }
        // `x-callout-cluster` picks the upstream (default `auth_cluster`), so one configuration can
        // reach a working cluster, one without endpoints and one that never answers.
        let cluster = self
            .get_http_request_header("x-callout-cluster")
            .unwrap_or_else(|| "auth_cluster".to_string());
        match self.dispatch_http_call(
            &cluster,
            headers,
            Some(b"callout-body"),
            vec![("x-trailer", "t")],
            Duration::from_millis(500),
        ) {
            Ok(token) => {
                self.report("x-callout-token", &token.to_string());
                Action::Pause
            }
            Err(status) => {
                self.report("x-callout-error", &format!("{status:?}"));
                Action::Continue
            }
        }
    }

    fn run_grpc(&mut self) -> Action {
        let md = vec![("x-md", b"1".as_slice())];
        if self.has("grpc-stream") {
            match self.open_grpc_stream("grpc_cluster", "probe.Service", "Stream", md) {
                Ok(token) => {
                    self.grpc_token = Some(token);
                    self.send_grpc_stream_message(token, Some(b"first"), false);
                    Action::Pause
                }
                Err(status) => {
                    self.report("x-grpc-error", &format!("{status:?}"));
                    Action::Continue
                }
            }
        } else {
            let call = self.dispatch_grpc_call(
                "grpc_cluster",
                "probe.Service",
                "Call",
                md,
                Some(b"request"),
                Duration::from_millis(1000),
            );
            match call {
                Ok(token) if self.has("grpc-cancel") => {
                    self.cancel_grpc_call(token);
                    self.report("x-grpc-cancelled", &token.to_string());
                    Action::Continue
                }
                Ok(_) => Action::Pause,
                Err(status) => {
                    self.report("x-grpc-error", &format!("{status:?}"));
                    Action::Continue
                }
            }
        }
    }
}

impl Context for ProbeHttp {
    fn on_http_call_response(
        &mut self,
        token: u32,
        headers: usize,
        body_size: usize,
        trailers: usize,
    ) {
        log(
            LogLevel::Info,
            &format!("callout {token}: headers={headers} body={body_size} trailers={trailers}"),
        );
        if headers == 0 {
            self.send_http_response(503, vec![("x-callout", "failed")], Some(b"callout failed"));
            return;
        }
        let status = self
            .get_http_call_response_header(":status")
            .unwrap_or_default();
        let body = self
            .get_http_call_response_body(0, body_size)
            .unwrap_or_default();
        // Without trailers Envoy has no trailers map (reading it is BAD_ARGUMENT, which the SDK turns
        // into a panic): look only when the response has some.
        let trailer = if trailers > 0 {
            self.get_http_call_response_trailer("x-t")
                .unwrap_or_default()
        } else {
            String::new()
        };
        if status == "200" {
            self.set_http_request_header("x-auth", Some(&String::from_utf8_lossy(&body)));
            self.set_http_request_header("x-auth-trailer", Some(&trailer));
            self.resume_http_request();
        } else {
            self.send_http_response(403, vec![("x-callout-status", &status)], Some(b"forbidden"));
        }
    }

    fn on_grpc_call_response(&mut self, token: u32, status: u32, size: usize) {
        let body = self
            .get_grpc_call_response_body(0, size)
            .unwrap_or_default();
        let (_, message) = self.get_grpc_status();
        log(
            LogLevel::Info,
            &format!(
                "grpc call {token}: status={status} body={} message={}",
                String::from_utf8_lossy(&body),
                message.unwrap_or_default()
            ),
        );
        if status == 0 {
            self.set_http_request_header("x-grpc", Some(&String::from_utf8_lossy(&body)));
            self.resume_http_request();
        } else {
            self.send_http_response(502, vec![], Some(b"grpc failed"));
        }
    }

    fn on_grpc_stream_initial_metadata(&mut self, token: u32, n: u32) {
        let value = self
            .get_grpc_stream_initial_metadata_value("x-init")
            .unwrap_or_default();
        log(
            LogLevel::Info,
            &format!(
                "grpc stream {token} initial {n}: {}",
                String::from_utf8_lossy(&value)
            ),
        );
    }

    fn on_grpc_stream_message(&mut self, token: u32, size: usize) {
        let body = self.get_grpc_stream_message(0, size).unwrap_or_default();
        log(
            LogLevel::Info,
            &format!(
                "grpc stream {token} message: {}",
                String::from_utf8_lossy(&body)
            ),
        );
        self.send_grpc_stream_message(token, Some(b"reply"), true);
    }

    fn on_grpc_stream_trailing_metadata(&mut self, token: u32, n: u32) {
        let value = self
            .get_grpc_stream_trailing_metadata_value("x-trail")
            .unwrap_or_default();
        log(
            LogLevel::Info,
            &format!(
                "grpc stream {token} trailing {n}: {}",
                String::from_utf8_lossy(&value)
            ),
        );
    }

    fn on_grpc_stream_close(&mut self, token: u32, status: u32) {
        let (_, message) = self.get_grpc_status();
        log(
            LogLevel::Info,
            &format!(
                "grpc stream {token} closed: {status} {}",
                message.unwrap_or_default()
            ),
        );
        self.resume_http_request();
    }

    fn on_done(&mut self) -> bool {
        log(LogLevel::Info, &format!("on_done {}", self.context_id));
        if self.has("done-later") {
            WAITING_FOR_DONE.with(|w| w.borrow_mut().push(self.context_id));
            return false;
        }
        true
    }
}

impl HttpContext for ProbeHttp {
    fn on_http_request_headers(&mut self, num_headers: usize, end_of_stream: bool) -> Action {
        let _ = hostcalls::increment_metric(self.metrics.requests, 1);
        self.commands = self
            .get_http_request_header("x-probe")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        log(
            LogLevel::Info,
            &format!("request_headers {num_headers} {end_of_stream}"),
        );
        if self.has("trap") {
            #[allow(clippy::panic)]
            {
                panic!("probe trap");
            }
        }
        if self.has("mutate") {
            let count = self.get_http_request_headers().len();
            self.add_http_request_header("x-added", "1");
            self.set_http_request_header("x-replaced", Some("new"));
            self.remove_http_request_header("x-remove");
            self.report("x-count", &count.to_string());
            let path = self.get_http_request_header(":path").unwrap_or_default();
            self.report("x-path-seen", &path);
            let mixed = self.get_http_request_header("X-MiXeD").unwrap_or_default();
            self.report("x-mixed-seen", &mixed);
        }
        if self.has("replace-all") {
            self.set_http_request_headers(vec![(":path", "/replaced"), ("X-Only", "1")]);
        }
        if self.has("props") {
            self.run_properties();
        }
        if self.has("shared") {
            self.run_shared();
        }
        if self.has("metrics") {
            self.run_metrics();
        }
        if self.has("log") {
            self.run_logs();
        }
        if self.has("time") {
            self.run_time();
        }
        if self.has("env") {
            self.run_env();
        }
        if self.has("foreign") {
            self.run_foreign();
        }
        if self.has("enqueue") {
            self.run_queue();
        }
        if self.has("reset") {
            self.reset_http_request();
        }
        if self.has("deny") {
            self.send_http_response(403, vec![("x-denied", "yes")], Some(b"denied"));
            return Action::Pause;
        }
        if self.has("callout") {
            return self.run_callout(true);
        }
        if self.has("callout-bad") {
            return self.run_callout(false);
        }
        if self.has("grpc") || self.has("grpc-stream") || self.has("grpc-cancel") {
            return self.run_grpc();
        }
        if self.has("resume-later") {
            let now = self.get_current_time();
            WAITING_FOR_TICK.with(|w| w.borrow_mut().push((self.context_id, now)));
            return Action::Pause;
        }
        if self.has("pause") {
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        log(
            LogLevel::Info,
            &format!("request_body {body_size} {end_of_stream}"),
        );
        if self.has("trap-body") {
            std::process::abort();
        }
        if self.has("headers-in-body") {
            // Envoy hands the request headers to a plugin only until they went on.
            // The raw call: the SDK's `get_map` panics on a status other than OK.
            log(
                LogLevel::Info,
                &format!("request headers in body: {}", request_header_calls()),
            );
        }
        if self.has("pause-body") && !end_of_stream {
            return Action::Pause;
        }
        if self.has("buffer") {
            if !end_of_stream {
                return Action::Pause;
            }
            let body = self.get_http_request_body(0, body_size).unwrap_or_default();
            let upper = String::from_utf8_lossy(&body).to_uppercase();
            self.set_http_request_body(0, body_size, upper.as_bytes());
            self.set_http_request_body(usize::MAX, 0, b"!");
        }
        if self.has("deny-body") && end_of_stream {
            self.send_http_response(413, vec![], Some(b"too much"));
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_http_request_trailers(&mut self, num_trailers: usize) -> Action {
        self.add_http_request_trailer("x-trailer-added", &num_trailers.to_string());
        Action::Continue
    }

    fn on_http_response_headers(&mut self, num_headers: usize, _end_of_stream: bool) -> Action {
        log(LogLevel::Info, &format!("response_headers {num_headers}"));
        self.add_http_response_header("x-response-probe", "1");
        let status = self.get_http_response_header(":status").unwrap_or_default();
        self.set_http_response_header("x-upstream-status", Some(&status));
        if self.has("deny-response") {
            self.send_http_response(451, vec![], None);
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.has("buffer-response") {
            if !end_of_stream {
                return Action::Pause;
            }
            self.set_http_response_body(body_size, 0, b" [checked]");
        }
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        self.set_http_response_trailer("x-response-trailer", Some("seen"));
        Action::Continue
    }

    fn on_log(&mut self) {
        log(LogLevel::Info, &format!("on_log {}", self.context_id));
    }
}

struct ProbeTcp {
    context_id: u32,
}

impl Context for ProbeTcp {}

impl StreamContext for ProbeTcp {
    fn on_new_connection(&mut self) -> Action {
        log(
            LogLevel::Info,
            &format!("new connection {}", self.context_id),
        );
        Action::Continue
    }

    fn on_downstream_data(&mut self, data_size: usize, end_of_stream: bool) -> Action {
        let data = self.get_downstream_data(0, data_size).unwrap_or_default();
        log(
            LogLevel::Info,
            &format!(
                "downstream {data_size} {end_of_stream}: {}",
                String::from_utf8_lossy(&data)
            ),
        );
        if data.ends_with(b"close") {
            self.close_downstream();
            return Action::Continue;
        }
        if !end_of_stream && data.ends_with(b"more") {
            return Action::Pause;
        }
        if data.ends_with(b"trap") {
            std::process::abort();
        }
        self.set_downstream_data(0, 0, b">");
        Action::Continue
    }

    fn on_upstream_data(&mut self, data_size: usize, _end_of_stream: bool) -> Action {
        let data = self.get_upstream_data(0, data_size).unwrap_or_default();
        if data.ends_with(b"close") {
            self.close_upstream();
        }
        self.set_upstream_data(data_size, 0, b"<");
        Action::Continue
    }

    fn on_downstream_close(&mut self, peer: PeerType) {
        log(
            LogLevel::Info,
            &format!("downstream closed by {}", peer as u32),
        );
    }

    fn on_upstream_close(&mut self, peer: PeerType) {
        log(
            LogLevel::Info,
            &format!("upstream closed by {}", peer as u32),
        );
    }

    fn on_log(&mut self) {
        log(LogLevel::Info, &format!("tcp on_log {}", self.context_id));
    }
}
