//! A proxy-wasm filter written against the raw ABI (no SDK) that logs every callback it gets with
//! its arguments, at INFO: `cb <callback> ctx=<role> <arguments>`. A context id is logged by its
//! role, not its number (Envoy and the harness number contexts differently): `root` (a root
//! context), `stream` (the HTTP context of the request in flight), `gone` (a stream already
//! deleted), `other`. Each start (`proxy_on_vm_start`) also adds one to the shared-data key
//! `recorder.vm_starts` and to the counter `recorder_vm_starts`. The configuration `tick=<ms>`
//! sets a tick period; each tick logs the instance's place in the start order (`start=<n>`) and
//! adds one to the counter `recorder_ticks_start<n>`. Both worlds of `tests/scenarios` compare
//! these lines, so context ids, callback order and end-of-stream flags are checked exactly.
//!
//! The request header `x-recorder` says what to do from `proxy_on_request_headers`:
//! - `callout`: an HTTP callout (`GET /check`) to the cluster named by `x-cluster` (default
//!   `auth_cluster`), the request paused until the response, which resumes it;
//! - `callout-then-reply`: the same callout, then a 403 local reply at once: the stream ends while
//!   the callout is in flight, and its response arrives later;
//! - `reply`: a local reply with status `x-status` (default 403), body `denied` and gRPC status
//!   `x-grpc-status` (default none);
//! - `read`: logs the value `proxy_get_header_map_value` gives for the header named by `x-read`,
//!   and how many pairs of that name the map has;
//! - `pairs`: logs the request header pairs in order (but `x-recorder` and `x-request-id`);
//! - `property`: logs the property whose path's segments `x-path` gives, separated by `/`;
//! - `foreign`: calls Envoy's built-in foreign functions and logs what each returned;
//! - `instances`: logs how many module instances started in the whole process (counted in shared
//!   data, which every instance of a VM id shares) and in this one (a global, which it does not);
//! - `hold`: pauses the request, and nothing resumes it;
//! - `trap`: traps.

// Raw host calls and `#[no_mangle]` exports are what this crate is for; each unsafe block says why
// it holds.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, ptr: u32, len: u32) -> u32;
    fn proxy_get_header_map_value(kind: u32, kp: u32, kl: u32, ptr_ptr: u32, size_ptr: u32) -> u32;
    fn proxy_get_header_map_pairs(kind: u32, ptr_ptr: u32, size_ptr: u32) -> u32;
    fn proxy_get_buffer_bytes(kind: u32, start: u32, max: u32, ptr_ptr: u32, size_ptr: u32) -> u32;
    fn proxy_continue_stream(kind: u32) -> u32;
    fn proxy_send_local_response(
        status: u32,
        dp: u32,
        dl: u32,
        bp: u32,
        bl: u32,
        hp: u32,
        hl: u32,
        grpc: i32,
    ) -> u32;
    fn proxy_http_call(
        up: u32,
        ul: u32,
        hp: u32,
        hl: u32,
        bp: u32,
        bl: u32,
        tp: u32,
        tl: u32,
        timeout: u32,
        ret: u32,
    ) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    fn proxy_get_shared_data(kp: u32, kl: u32, ptr_ptr: u32, size_ptr: u32, cas_ptr: u32) -> u32;
    fn proxy_set_shared_data(kp: u32, kl: u32, vp: u32, vl: u32, cas: u32) -> u32;
    fn proxy_define_metric(kind: u32, np: u32, nl: u32, ret: u32) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_increment_metric(id: u32, delta: i64) -> u32;
    fn proxy_get_property(pp: u32, pl: u32, ptr_ptr: u32, size_ptr: u32) -> u32;
    fn proxy_call_foreign_function(
        np: u32,
        nl: u32,
        ap: u32,
        al: u32,
        ptr_ptr: u32,
        size_ptr: u32,
    ) -> u32;
}

/// Header map kinds of the ABI.
const REQUEST_HEADERS: u32 = 0;
const HTTP_CALL_RESPONSE_HEADERS: u32 = 6;
/// Buffer kind of the ABI.
const HTTP_CALL_RESPONSE_BODY: u32 = 4;
const PLUGIN_CONFIGURATION: u32 = 7;

#[derive(Default)]
struct Contexts {
    roots: BTreeSet<u32>,
    streams: BTreeSet<u32>,
    gone: BTreeSet<u32>,
    /// Callout token -> the stream that dispatched it.
    callouts: BTreeMap<u32, u32>,
}

thread_local! {
    static CONTEXTS: RefCell<Contexts> = RefCell::new(Contexts::default());
}

fn role(context_id: u32) -> &'static str {
    CONTEXTS.with(|c| {
        let c = c.borrow();
        if c.roots.contains(&context_id) {
            "root"
        } else if c.streams.contains(&context_id) {
            "stream"
        } else if c.gone.contains(&context_id) {
            "gone"
        } else {
            "other"
        }
    })
}

fn log(line: &str) {
    // SAFETY: the pointer and length describe `line`, which outlives the call; the host only reads.
    unsafe {
        proxy_log(2, line.as_ptr() as u32, line.len() as u32);
    }
}

fn callback(name: &str, context_id: u32, arguments: &str) {
    log(format!("cb {name} ctx={} {arguments}", role(context_id)).trim_end());
}

/// Takes ownership of bytes the host allocated with `proxy_on_memory_allocate`.
fn returned(ptr: u32, size: u32) -> Vec<u8> {
    if ptr == 0 || size == 0 {
        return Vec::new();
    }
    // SAFETY: the host allocated `size` bytes at `ptr` through `proxy_on_memory_allocate` (a
    // `Vec<u8>` of that capacity, leaked) and filled them; we take that allocation back.
    unsafe { Vec::from_raw_parts(ptr as *mut u8, size as usize, size as usize) }
}

/// The host's value of header `name` in map `kind`, with the call's status.
fn header(kind: u32, name: &str) -> (u32, String) {
    let (mut ptr, mut size) = (0u32, 0u32);
    // SAFETY: `name` outlives the call; `ptr`/`size` are valid out-parameters on our stack.
    let status = unsafe {
        proxy_get_header_map_value(
            kind,
            name.as_ptr() as u32,
            name.len() as u32,
            &mut ptr as *mut u32 as u32,
            &mut size as *mut u32 as u32,
        )
    };
    (
        status,
        String::from_utf8_lossy(&returned(ptr, size)).into_owned(),
    )
}

/// The pairs of map `kind`, from the ABI's serialized form.
fn pairs(kind: u32) -> Vec<(String, String)> {
    let (mut ptr, mut size) = (0u32, 0u32);
    // SAFETY: `ptr`/`size` are valid out-parameters on our stack.
    unsafe {
        proxy_get_header_map_pairs(
            kind,
            &mut ptr as *mut u32 as u32,
            &mut size as *mut u32 as u32,
        );
    }
    let bytes = returned(ptr, size);
    let word = |at: usize| -> Option<usize> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(u32::from_le_bytes(b) as usize)
    };
    let Some(count) = word(0) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut data = 4 + 8 * count;
    for i in 0..count {
        let (Some(k), Some(v)) = (word(4 + 8 * i), word(8 + 8 * i)) else {
            break;
        };
        let key = bytes.get(data..data + k).unwrap_or_default();
        let value = bytes
            .get(data + k + 1..data + k + 1 + v)
            .unwrap_or_default();
        out.push((
            String::from_utf8_lossy(key).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
        data += k + 1 + v + 1;
    }
    out
}

/// The first `size` bytes of the callout response body, as text.
fn body_text(size: u32) -> String {
    buffer_text(HTTP_CALL_RESPONSE_BODY, size)
}

/// The first `size` bytes of buffer `kind`, as text.
fn buffer_text(kind: u32, size: u32) -> String {
    let (mut ptr, mut got) = (0u32, 0u32);
    // SAFETY: `ptr`/`got` are valid out-parameters on our stack.
    unsafe {
        proxy_get_buffer_bytes(
            kind,
            0,
            size,
            &mut ptr as *mut u32 as u32,
            &mut got as *mut u32 as u32,
        );
    }
    String::from_utf8_lossy(&returned(ptr, got)).into_owned()
}

/// The ABI's serialized form of `pairs`.
fn serialize(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
    for (k, v) in pairs {
        out.extend((k.len() as u32).to_le_bytes());
        out.extend((v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend(k.as_bytes());
        out.push(0);
        out.extend(v.as_bytes());
        out.push(0);
    }
    out
}

fn local_reply(status: u32, grpc_status: i32) -> u32 {
    let body = b"denied";
    let details = b"recorder";
    let headers = serialize(&[("x-recorder-reply", "yes")]);
    // SAFETY: every pointer/length pair describes a live local buffer; the host only reads.
    unsafe {
        proxy_send_local_response(
            status,
            details.as_ptr() as u32,
            details.len() as u32,
            body.as_ptr() as u32,
            body.len() as u32,
            headers.as_ptr() as u32,
            headers.len() as u32,
            grpc_status,
        )
    }
}

/// Dispatches `GET /check` to `cluster`; the token, or the failing status.
fn callout(cluster: &str) -> Result<u32, u32> {
    let headers = serialize(&[
        (":method", "GET"),
        (":path", "/check"),
        (":authority", "auth"),
    ]);
    let trailers = serialize(&[]);
    let mut token = 0u32;
    // SAFETY: every pointer/length pair describes a live local buffer; `token` is a valid
    // out-parameter on our stack.
    let status = unsafe {
        proxy_http_call(
            cluster.as_ptr() as u32,
            cluster.len() as u32,
            headers.as_ptr() as u32,
            headers.len() as u32,
            0,
            0,
            trailers.as_ptr() as u32,
            trailers.len() as u32,
            1000,
            &mut token as *mut u32 as u32,
        )
    };
    match status {
        0 => Ok(token),
        failed => Err(failed),
    }
}

/// The property at `path` (segments separated by `/`), as text, with the call's status.
fn property(path: &str) -> (u32, String) {
    let mut encoded = Vec::new();
    for segment in path.split('/') {
        encoded.extend_from_slice(segment.as_bytes());
        encoded.push(0);
    }
    let (mut ptr, mut size) = (0u32, 0u32);
    // SAFETY: `encoded` outlives the call; `ptr`/`size` are valid out-parameters on our stack.
    let status = unsafe {
        proxy_get_property(
            encoded.as_ptr() as u32,
            encoded.len() as u32,
            &mut ptr as *mut u32 as u32,
            &mut size as *mut u32 as u32,
        )
    };
    (
        status,
        String::from_utf8_lossy(&returned(ptr, size)).into_owned(),
    )
}

/// Calls foreign function `name`; its status and result.
fn foreign(name: &str, arguments: &[u8]) -> (u32, Vec<u8>) {
    let (mut ptr, mut size) = (0u32, 0u32);
    // SAFETY: `name`/`arguments` outlive the call; `ptr`/`size` are valid out-parameters.
    let status = unsafe {
        proxy_call_foreign_function(
            name.as_ptr() as u32,
            name.len() as u32,
            arguments.as_ptr() as u32,
            arguments.len() as u32,
            &mut ptr as *mut u32 as u32,
            &mut size as *mut u32 as u32,
        )
    };
    (status, returned(ptr, size))
}

/// A protobuf message of length-delimited fields `(number, bytes)`.
fn message(fields: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (number, value) in fields {
        out.push((number << 3) | 2);
        out.push(value.len() as u8);
        out.extend_from_slice(value);
    }
    out
}

/// Envoy's built-in foreign functions, each with what it returned.
fn foreign_functions() {
    let (status, _) = foreign("clear_route_cache", b"");
    log(&format!("foreign clear_route_cache status={status}"));
    for path in [
        "envoy.string",
        "envoy.tcp_proxy.cluster",
        "palisade.unknown",
    ] {
        let arguments = message(&[(1, path.as_bytes()), (2, b"v")]);
        let (status, _) = foreign("set_envoy_filter_state", &arguments);
        log(&format!(
            "foreign set_envoy_filter_state {path} status={status}"
        ));
    }
    let (status, _) = foreign("set_envoy_filter_state", b"\xff");
    log(&format!(
        "foreign set_envoy_filter_state garbage status={status}"
    ));
    let (status, _) = foreign("declare_property", &message(&[(1, b"recorder_prop")]));
    log(&format!("foreign declare_property status={status}"));
    let text = b"hello hello hello hello";
    let (status, compressed) = foreign("compress", text);
    let (back_status, back) = foreign("uncompress", &compressed);
    log(&format!(
        "foreign compress status={status} zlib={} uncompress status={back_status} round_trip={}",
        compressed.first() == Some(&0x78),
        back == text
    ));
    let (status, _) = foreign("uncompress", b"not zlib");
    log(&format!("foreign uncompress garbage status={status}"));
    for name in ["expr_create", "sign", "no_such_function"] {
        let (status, _) = foreign(name, b"1 + 1");
        log(&format!("foreign {name} status={status}"));
    }
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut buffer: Vec<u8> = Vec::with_capacity(size);
    let ptr = buffer.as_mut_ptr();
    std::mem::forget(buffer);
    ptr
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(root: u32, size: u32) -> u32 {
    CONTEXTS.with(|c| c.borrow_mut().roots.insert(root));
    callback("vm_start", root, &format!("config_size={size}"));
    count_start();
    1
}

/// The shared-data key every instance adds its start to.
const STARTS_KEY: &str = "recorder.vm_starts";

thread_local! {
    /// This instance's starts: a global, which no other instance sees.
    static STARTS_HERE: RefCell<u32> = const { RefCell::new(0) };
    /// The process's count of starts once this instance's was added: its place in start order.
    static START_ORDINAL: RefCell<u32> = const { RefCell::new(0) };
}

/// Adds this start to the instance's global, the shared-data count (compare-and-swap, as
/// instances on other threads may add theirs at the same time) and the counter.
fn count_start() {
    STARTS_HERE.with(|n| *n.borrow_mut() += 1);
    for _ in 0..100 {
        let (count, cas) = shared_starts();
        let next = (count + 1).to_string();
        // SAFETY: both pointers and lengths describe live strings; the host only reads them.
        let status = unsafe {
            proxy_set_shared_data(
                STARTS_KEY.as_ptr() as u32,
                STARTS_KEY.len() as u32,
                next.as_ptr() as u32,
                next.len() as u32,
                cas,
            )
        };
        if status == 0 {
            START_ORDINAL.with(|n| *n.borrow_mut() = count + 1);
            break;
        }
    }
    increment("recorder_vm_starts");
    // Defined here so that a start order whose instance never ticks shows 0.
    for ordinal in 1..=4 {
        counter(&format!("recorder_ticks_start{ordinal}"));
    }
}

/// The id of the counter `name` (defining it again gives the same one).
fn counter(name: &str) -> Option<u32> {
    let mut id = 0u32;
    // SAFETY: the name is a live string and `id` a live u32 the host writes.
    let status = unsafe {
        proxy_define_metric(
            0,
            name.as_ptr() as u32,
            name.len() as u32,
            &mut id as *mut u32 as u32,
        )
    };
    (status == 0).then_some(id)
}

fn increment(name: &str) {
    if let Some(id) = counter(name) {
        // SAFETY: a plain host call without pointers.
        unsafe { proxy_increment_metric(id, 1) };
    }
}

/// The shared-data count of starts and its CAS (0 and 0 before the first).
fn shared_starts() -> (u32, u32) {
    let (mut ptr, mut size, mut cas) = (0u32, 0u32, 0u32);
    // SAFETY: the key is a live string; the three out-pointers are live u32s the host writes.
    let status = unsafe {
        proxy_get_shared_data(
            STARTS_KEY.as_ptr() as u32,
            STARTS_KEY.len() as u32,
            &mut ptr as *mut u32 as u32,
            &mut size as *mut u32 as u32,
            &mut cas as *mut u32 as u32,
        )
    };
    if status != 0 {
        return (0, 0);
    }
    let text = returned(ptr, size);
    (String::from_utf8_lossy(&text).parse().unwrap_or(0), cas)
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(root: u32, size: u32) -> u32 {
    callback("configure", root, &format!("config_size={size}"));
    // `tick=<ms>` as the configuration sets a tick period.
    let configuration = buffer_text(PLUGIN_CONFIGURATION, size);
    if let Some(period) = configuration
        .strip_prefix("tick=")
        .and_then(|ms| ms.parse().ok())
    {
        // SAFETY: a plain host call without pointers.
        unsafe { proxy_set_tick_period_milliseconds(period) };
    }
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(context_id: u32, parent: u32) {
    CONTEXTS.with(|c| {
        let mut c = c.borrow_mut();
        match parent {
            0 => c.roots.insert(context_id),
            _ => c.streams.insert(context_id),
        }
    });
    callback(
        "context_create",
        context_id,
        &format!("parent={}", role(parent)),
    );
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(context_id: u32, headers: u32, end: u32) -> u32 {
    callback(
        "request_headers",
        context_id,
        &format!("headers={headers} end={end}"),
    );
    let (_, action) = header(REQUEST_HEADERS, "x-recorder");
    match action.as_str() {
        "callout" | "callout-then-reply" => {
            let (_, cluster) = header(REQUEST_HEADERS, "x-cluster");
            let cluster = if cluster.is_empty() {
                "auth_cluster".to_string()
            } else {
                cluster
            };
            match callout(&cluster) {
                Ok(token) => {
                    CONTEXTS.with(|c| c.borrow_mut().callouts.insert(token, context_id));
                    log("callout dispatched");
                    if action == "callout-then-reply" {
                        log(&format!("local reply status={}", local_reply(403, -1)));
                    }
                    1
                }
                Err(status) => {
                    log(&format!("callout refused status={status}"));
                    0
                }
            }
        }
        "reply" => {
            let (_, status) = header(REQUEST_HEADERS, "x-status");
            let (_, grpc) = header(REQUEST_HEADERS, "x-grpc-status");
            let status = status.parse().unwrap_or(403);
            let grpc = grpc.parse().unwrap_or(-1);
            log(&format!("local reply status={}", local_reply(status, grpc)));
            1
        }
        "read" => {
            let (_, name) = header(REQUEST_HEADERS, "x-read");
            let (status, value) = header(REQUEST_HEADERS, &name);
            let count = pairs(REQUEST_HEADERS)
                .iter()
                .filter(|(k, _)| *k == name)
                .count();
            log(&format!(
                "read {name}: status={status} value={value:?} pairs={count}"
            ));
            0
        }
        "pairs" => {
            let all: Vec<String> = pairs(REQUEST_HEADERS)
                .iter()
                .filter(|(k, _)| k != "x-recorder" && k != "x-request-id")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            log(&format!("pairs {}", all.join(" | ")));
            0
        }
        "property" => {
            let (_, path) = header(REQUEST_HEADERS, "x-path");
            let (status, value) = property(&path);
            log(&format!("property {path}: status={status} value={value:?}"));
            0
        }
        "foreign" => {
            foreign_functions();
            0
        }
        "instances" => {
            let here = STARTS_HERE.with(|n| *n.borrow());
            log(&format!(
                "instances: {} started in the process, {here} in this one",
                shared_starts().0
            ));
            0
        }
        "hold" => 1,
        "trap" => std::process::abort(),
        _ => 0,
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_request_body(context_id: u32, size: u32, end: u32) -> u32 {
    callback(
        "request_body",
        context_id,
        &format!("size={size} end={end}"),
    );
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_request_trailers(context_id: u32, trailers: u32) -> u32 {
    callback(
        "request_trailers",
        context_id,
        &format!("trailers={trailers}"),
    );
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(context_id: u32, headers: u32, end: u32) -> u32 {
    callback(
        "response_headers",
        context_id,
        &format!("headers={headers} end={end}"),
    );
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_response_body(context_id: u32, size: u32, end: u32) -> u32 {
    callback(
        "response_body",
        context_id,
        &format!("size={size} end={end}"),
    );
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_response_trailers(context_id: u32, trailers: u32) -> u32 {
    callback(
        "response_trailers",
        context_id,
        &format!("trailers={trailers}"),
    );
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_log(context_id: u32) {
    callback("log", context_id, "");
}

#[no_mangle]
pub extern "C" fn proxy_on_done(context_id: u32) -> u32 {
    callback("done", context_id, "");
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    callback("delete", context_id, "");
    CONTEXTS.with(|c| {
        let mut c = c.borrow_mut();
        if c.streams.remove(&context_id) {
            c.gone.insert(context_id);
        }
    });
}

#[no_mangle]
pub extern "C" fn proxy_on_tick(root: u32) {
    let start = START_ORDINAL.with(|n| *n.borrow());
    callback("tick", root, &format!("start={start}"));
    increment(&format!("recorder_ticks_start{start}"));
}

#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(
    context_id: u32,
    token: u32,
    headers: u32,
    body: u32,
    trailers: u32,
) {
    let stream = CONTEXTS.with(|c| c.borrow_mut().callouts.remove(&token));
    let (_, status) = header(HTTP_CALL_RESPONSE_HEADERS, ":status");
    callback(
        "http_call_response",
        context_id,
        &format!(
            "token={} headers={} body={} trailers={trailers} status={status:?} for={}",
            if stream.is_some() {
                "dispatched"
            } else {
                "unknown"
            },
            headers,
            body.min(1),
            stream.map_or("none", role),
        ),
    );
    if status != "200" {
        log(&format!("callout answer: {}", body_text(body)));
    }
    if let Some(stream) = stream {
        // SAFETY: plain host calls with integer arguments.
        let (effective, resumed) = unsafe {
            let effective = proxy_set_effective_context(stream);
            (
                effective,
                (effective == 0).then(|| proxy_continue_stream(0)),
            )
        };
        log(&format!(
            "set_effective_context={effective} continue={resumed:?}"
        ));
    }
}
