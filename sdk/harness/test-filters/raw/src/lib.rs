//! A test filter for the harness that calls proxy-wasm and WASI imports directly: bad pointers, unknown
//! codes, raw serialized maps, every WASI call. It exports the ABI 0.2.0 marker and libc's `malloc` (see
//! build.rs) instead of `proxy_on_memory_allocate`, to check that older modules load.
//!
//! The plugin configuration names the check to run (`bad-pointers`, `codes`, `maps`, `wasi`,
//! `proc-exit`, `buffer-status`); results are logged as `name=value` lines at INFO.

// Raw host calls and `#[no_mangle]` exports are what this crate is for; each unsafe block says why it holds.
#![allow(unsafe_code)]

use std::cell::RefCell;

/// An address far outside any linear memory this module will have.
const BAD: u32 = 0xffff_fff0;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, ptr: u32, len: u32) -> u32;
    fn proxy_get_log_level(ret: u32) -> u32;
    fn proxy_get_current_time_nanoseconds(ret: u32) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(kind: u32, start: u32, max: u32, ptr_ptr: u32, size_ptr: u32) -> u32;
    fn proxy_set_buffer_bytes(kind: u32, start: u32, size: u32, ptr: u32, len: u32) -> u32;
    fn proxy_get_buffer_status(kind: u32, size_ptr: u32, flags_ptr: u32) -> u32;
    fn proxy_get_header_map_size(kind: u32, ret: u32) -> u32;
    fn proxy_get_header_map_pairs(kind: u32, ptr_ptr: u32, size_ptr: u32) -> u32;
    fn proxy_set_header_map_pairs(kind: u32, ptr: u32, len: u32) -> u32;
    fn proxy_get_header_map_value(kind: u32, kp: u32, kl: u32, ptr_ptr: u32, size_ptr: u32) -> u32;
    fn proxy_add_header_map_value(kind: u32, kp: u32, kl: u32, vp: u32, vl: u32) -> u32;
    fn proxy_replace_header_map_value(kind: u32, kp: u32, kl: u32, vp: u32, vl: u32) -> u32;
    fn proxy_remove_header_map_value(kind: u32, kp: u32, kl: u32) -> u32;
    fn proxy_continue_stream(kind: u32) -> u32;
    fn proxy_close_stream(kind: u32) -> u32;
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
    fn proxy_grpc_call(
        up: u32,
        ul: u32,
        sp: u32,
        sl: u32,
        mp: u32,
        ml: u32,
        mdp: u32,
        mdl: u32,
        msgp: u32,
        msgl: u32,
        timeout: u32,
        ret: u32,
    ) -> u32;
    fn proxy_grpc_stream(
        up: u32,
        ul: u32,
        sp: u32,
        sl: u32,
        mp: u32,
        ml: u32,
        mdp: u32,
        mdl: u32,
        ret: u32,
    ) -> u32;
    fn proxy_grpc_send(token: u32, ptr: u32, len: u32, end: u32) -> u32;
    fn proxy_grpc_cancel(token: u32) -> u32;
    fn proxy_grpc_close(token: u32) -> u32;
    fn proxy_get_status(code: u32, ptr_ptr: u32, size_ptr: u32) -> u32;
    fn proxy_set_shared_data(kp: u32, kl: u32, vp: u32, vl: u32, cas: u32) -> u32;
    fn proxy_get_shared_data(kp: u32, kl: u32, ptr_ptr: u32, size_ptr: u32, cas: u32) -> u32;
    fn proxy_register_shared_queue(np: u32, nl: u32, ret: u32) -> u32;
    fn proxy_resolve_shared_queue(vp: u32, vl: u32, np: u32, nl: u32, ret: u32) -> u32;
    fn proxy_enqueue_shared_queue(id: u32, ptr: u32, len: u32) -> u32;
    fn proxy_dequeue_shared_queue(id: u32, ptr_ptr: u32, size_ptr: u32) -> u32;
    fn proxy_define_metric(kind: u32, np: u32, nl: u32, ret: u32) -> u32;
    fn proxy_record_metric(id: u32, value: u64) -> u32;
    fn proxy_increment_metric(id: u32, delta: i64) -> u32;
    fn proxy_get_metric(id: u32, ret: u32) -> u32;
    fn proxy_get_property(pp: u32, pl: u32, ptr_ptr: u32, size_ptr: u32) -> u32;
    fn proxy_set_property(pp: u32, pl: u32, vp: u32, vl: u32) -> u32;
    fn proxy_call_foreign_function(
        np: u32,
        nl: u32,
        ap: u32,
        al: u32,
        ptr_ptr: u32,
        size_ptr: u32,
    ) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    fn proxy_done() -> u32;
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn clock_time_get(id: u32, precision: u64, ret: u32) -> u32;
    fn clock_res_get(id: u32, ret: u32) -> u32;
    fn random_get(buf: u32, len: u32) -> u32;
    fn environ_sizes_get(count: u32, size: u32) -> u32;
    fn environ_get(array: u32, buf: u32) -> u32;
    fn args_sizes_get(argc: u32, size: u32) -> u32;
    fn args_get(argv: u32, buf: u32) -> u32;
    fn fd_write(fd: u32, iovs: u32, len: u32, ret: u32) -> u32;
    fn fd_read(fd: u32, iovs: u32, len: u32, ret: u32) -> u32;
    fn fd_seek(fd: u32, offset: i64, whence: u32, ret: u32) -> u32;
    fn fd_close(fd: u32) -> u32;
    fn fd_fdstat_get(fd: u32, buf: u32) -> u32;
    fn fd_fdstat_set_flags(fd: u32, flags: u32) -> u32;
    fn fd_prestat_get(fd: u32, buf: u32) -> u32;
    fn fd_prestat_dir_name(fd: u32, ptr: u32, len: u32) -> u32;
    fn path_open(
        fd: u32,
        dirflags: u32,
        pp: u32,
        pl: u32,
        oflags: u32,
        base: u64,
        inheriting: u64,
        fdflags: u32,
        ret: u32,
    ) -> u32;
    fn poll_oneoff(input: u32, output: u32, n: u32, ret: u32) -> u32;
    fn sched_yield() -> u32;
    fn proc_exit(code: u32) -> !;
}

thread_local! {
    static CHECK: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The ABI 0.2.0 marker.
#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_0() {}

/// The address of an out-parameter the host writes to.
fn out_ptr<T>(value: &mut T) -> u32 {
    value as *mut T as u32
}

fn addr_of(bytes: &[u8]) -> u32 {
    bytes.as_ptr() as u32
}

fn len(bytes: &[u8]) -> u32 {
    bytes.len() as u32
}

/// Logs `name=value` at INFO through `proxy_log`.
fn report(name: &str, value: impl std::fmt::Display) {
    let line = format!("{name}={value}");
    // SAFETY: the pointer and length describe `line`, which outlives the call; the host only reads.
    #[allow(unsafe_code)]
    unsafe {
        proxy_log(2, addr_of(line.as_bytes()), len(line.as_bytes()));
    }
}

/// Reads bytes the host returned through `proxy_*` out-parameters (allocated with our `malloc`).
fn returned(ptr: u32, size: u32) -> Vec<u8> {
    if ptr == 0 {
        return Vec::new();
    }
    // SAFETY: the host allocated `size` bytes at `ptr` with the exported libc `malloc`, which is also Rust's
    // allocator on wasm32-wasip1, and filled them; we take ownership of that allocation.
    #[allow(unsafe_code)]
    unsafe {
        Vec::from_raw_parts(ptr as *mut u8, size as usize, size as usize)
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_root: u32, _size: usize) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(_root: u32, size: usize) -> u32 {
    let mut ptr = 0u32;
    let mut got = 0u32;
    // SAFETY: `ptr`/`got` are valid out-parameters on our stack.
    #[allow(unsafe_code)]
    let status =
        unsafe { proxy_get_buffer_bytes(7, 0, size as u32, out_ptr(&mut ptr), out_ptr(&mut got)) };
    let check = String::from_utf8_lossy(&returned(ptr, got)).into_owned();
    report("configure", format!("{status}:{check}"));
    CHECK.with(|c| *c.borrow_mut() = check.clone());
    match check.as_str() {
        "wasi" => wasi_checks(),
        "proc-exit" => {
            // SAFETY: proc_exit never returns; the host turns it into a trap.
            #[allow(unsafe_code)]
            unsafe {
                proc_exit(3)
            }
        }
        "buffer-status" => buffer_status_checks(),
        _ => {}
    }
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(_context: u32, _parent: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(_context: u32, headers: usize, _eos: u32) -> u32 {
    report("request_headers", headers);
    match CHECK.with(|c| c.borrow().clone()).as_str() {
        "bad-pointers" => bad_pointer_checks(),
        "codes" => code_checks(),
        "maps" => map_checks(),
        _ => {}
    }
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_foreign_function(_root: u32, function_id: u32, size: usize) {
    let mut ptr = 0u32;
    let mut got = 0u32;
    // SAFETY: valid out-parameters on our stack.
    #[allow(unsafe_code)]
    let status =
        unsafe { proxy_get_buffer_bytes(8, 0, size as u32, out_ptr(&mut ptr), out_ptr(&mut got)) };
    let args = String::from_utf8_lossy(&returned(ptr, got)).into_owned();
    report("foreign_callback", format!("{function_id}:{status}:{args}"));
}

#[allow(unsafe_code)]
fn bad_pointer_checks() {
    let mut out = 0u32;
    let mut out2 = 0u32;
    let o = out_ptr(&mut out);
    let o2 = out_ptr(&mut out2);
    let key = b":path";
    let (k, kl) = (addr_of(key), len(key));
    let word = b"abc";
    let (w, wl) = (addr_of(word), len(word));
    // SAFETY (whole block): every call passes `BAD` (outside linear memory) or huge lengths where a guest
    // address is expected; the host must answer INVALID_MEMORY_ACCESS and write nothing. Valid out-parameters
    // point at `out`/`out2` on our stack.
    unsafe {
        report("proxy_log", proxy_log(2, BAD, 10));
        report("proxy_log_len", proxy_log(2, w, 0x7fff_ffff));
        report("proxy_get_log_level", proxy_get_log_level(BAD));
        report(
            "proxy_get_current_time_nanoseconds",
            proxy_get_current_time_nanoseconds(BAD),
        );
        report(
            "proxy_get_buffer_bytes",
            proxy_get_buffer_bytes(7, 0, 100, BAD, o),
        );
        report(
            "proxy_set_buffer_bytes",
            proxy_set_buffer_bytes(0, 0, 0, BAD, 5),
        );
        report(
            "proxy_get_buffer_status",
            proxy_get_buffer_status(7, BAD, o),
        );
        report(
            "proxy_get_header_map_size",
            proxy_get_header_map_size(0, BAD),
        );
        report(
            "proxy_get_header_map_pairs",
            proxy_get_header_map_pairs(0, BAD, o),
        );
        report(
            "proxy_set_header_map_pairs",
            proxy_set_header_map_pairs(0, BAD, 8),
        );
        report(
            "proxy_get_header_map_value",
            proxy_get_header_map_value(0, BAD, 4, o, o2),
        );
        report(
            "proxy_get_header_map_value_ret",
            proxy_get_header_map_value(0, k, kl, BAD, o2),
        );
        report(
            "proxy_add_header_map_value",
            proxy_add_header_map_value(0, BAD, 1, w, wl),
        );
        report(
            "proxy_replace_header_map_value",
            proxy_replace_header_map_value(0, k, kl, BAD, 1),
        );
        report(
            "proxy_remove_header_map_value",
            proxy_remove_header_map_value(0, BAD, 1),
        );
        report(
            "proxy_send_local_response",
            proxy_send_local_response(200, BAD, 3, 0, 0, 0, 0, -1),
        );
        report(
            "proxy_http_call",
            proxy_http_call(BAD, 3, 0, 0, 0, 0, 0, 0, 100, o),
        );
        report(
            "proxy_grpc_call",
            proxy_grpc_call(w, wl, BAD, 3, w, wl, 0, 0, 0, 0, 100, o),
        );
        report(
            "proxy_grpc_stream",
            proxy_grpc_stream(w, wl, w, wl, w, wl, 0, 0, BAD),
        );
        report("proxy_grpc_send", proxy_grpc_send(1, BAD, 4, 0));
        report(
            "proxy_set_shared_data",
            proxy_set_shared_data(BAD, 3, w, wl, 0),
        );
        report(
            "proxy_get_shared_data",
            proxy_get_shared_data(BAD, 3, o, o2, o),
        );
        proxy_set_shared_data(w, wl, w, wl, 0);
        report(
            "proxy_get_shared_data_cas",
            proxy_get_shared_data(w, wl, o, o2, BAD),
        );
        report(
            "proxy_register_shared_queue",
            proxy_register_shared_queue(BAD, 3, o),
        );
        report(
            "proxy_register_shared_queue_ret",
            proxy_register_shared_queue(w, wl, BAD),
        );
        report(
            "proxy_resolve_shared_queue",
            proxy_resolve_shared_queue(0, 0, BAD, 3, o),
        );
        proxy_register_shared_queue(w, wl, o);
        let queue = out;
        report(
            "proxy_enqueue_shared_queue",
            proxy_enqueue_shared_queue(queue, BAD, 3),
        );
        proxy_enqueue_shared_queue(queue, w, wl);
        report(
            "proxy_dequeue_shared_queue",
            proxy_dequeue_shared_queue(queue, BAD, o2),
        );
        report("proxy_define_metric", proxy_define_metric(0, BAD, 3, o));
        report(
            "proxy_define_metric_ret",
            proxy_define_metric(0, w, wl, BAD),
        );
        proxy_define_metric(0, w, wl, o);
        report("proxy_get_metric", proxy_get_metric(out, BAD));
        report("proxy_get_property", proxy_get_property(BAD, 4, o, o2));
        report("proxy_set_property", proxy_set_property(BAD, 4, w, wl));
        report(
            "proxy_call_foreign_function",
            proxy_call_foreign_function(BAD, 4, 0, 0, o, o2),
        );
        report("proxy_get_status", proxy_get_status(BAD, o, o2));
    }
}

#[allow(unsafe_code)]
fn code_checks() {
    let mut out = 0u32;
    let mut out2 = 0u32;
    let o = out_ptr(&mut out);
    let o2 = out_ptr(&mut out2);
    let word = b"abc";
    let (w, wl) = (addr_of(word), len(word));
    // SAFETY (whole block): valid pointers into `word`, `out`, `out2`; unknown enum codes on purpose.
    unsafe {
        report("log_level_9", proxy_log(9, w, wl));
        report("buffer_99", proxy_get_buffer_bytes(99, 0, 1, o, o2));
        report(
            "buffer_set_vm_config",
            proxy_set_buffer_bytes(6, 0, 0, w, wl),
        );
        report(
            "buffer_upstream_in_http",
            proxy_get_buffer_bytes(3, 0, 1, o, o2),
        );
        report("map_99", proxy_get_header_map_pairs(99, o, o2));
        report(
            "map_set_call_response",
            proxy_add_header_map_value(6, w, wl, w, wl),
        );
        report("metric_type_9", proxy_define_metric(9, w, wl, o));
        report("record_unknown_metric", proxy_record_metric(77, 1));
        report("increment_unknown_metric", proxy_increment_metric(77, 1));
        report("continue_9", proxy_continue_stream(9));
        report("close_9", proxy_close_stream(9));
        report("effective_unknown", proxy_set_effective_context(999));
        report("done_not_pending", proxy_done());
        report("grpc_cancel_unknown", proxy_grpc_cancel(12345));
        report("grpc_close_unknown", proxy_grpc_close(12345));
        report("grpc_send_unknown", proxy_grpc_send(12345, w, wl, 0));
        report("dequeue_unknown", proxy_dequeue_shared_queue(999, o, o2));
        report("enqueue_unknown", proxy_enqueue_shared_queue(999, w, wl));
        report(
            "resolve_unknown",
            proxy_resolve_shared_queue(w, wl, w, wl, o),
        );
        proxy_register_shared_queue(w, wl, o);
        report("dequeue_empty", proxy_dequeue_shared_queue(out, o, o2));
        report("property_unknown", proxy_get_property(w, wl, o, o2));
        report("tick_period", proxy_set_tick_period_milliseconds(0));
        let bad_map = [5u8, 0, 0, 0];
        report(
            "set_map_malformed",
            proxy_set_header_map_pairs(0, addr_of(&bad_map), 4),
        );
        // Inject in the middle of a buffer: Envoy refuses.
        let body = b"hello";
        proxy_set_buffer_bytes(0, 0, 0, addr_of(body), len(body));
        report(
            "buffer_inject_middle",
            proxy_set_buffer_bytes(0, 2, 1, w, wl),
        );
        report(
            "buffer_get_past_end",
            proxy_get_buffer_bytes(0, 10, 1, o, o2),
        );
    }
}

#[allow(unsafe_code)]
fn map_checks() {
    let mut ptr = 0u32;
    let mut size = 0u32;
    let (p, s) = (out_ptr(&mut ptr), out_ptr(&mut size));
    // SAFETY (whole block): every pointer refers to a live local; returned data is taken over with
    // `returned`.
    unsafe {
        proxy_get_header_map_size(0, s);
        report("map_size", size);
        proxy_get_header_map_pairs(0, p, s);
        let pairs = returned(ptr, size);
        report("map_pairs_len", pairs.len());
        report("map_pairs_count", pairs.first().copied().unwrap_or(255));
        // A single NUL byte is an empty map.
        let empty = [0u8];
        report(
            "set_empty_map",
            proxy_set_header_map_pairs(0, addr_of(&empty), 1),
        );
        proxy_get_header_map_size(0, s);
        report("map_size_after_empty", size);
        let key = b"x-raw";
        let value = b"1";
        proxy_add_header_map_value(0, addr_of(key), len(key), addr_of(value), len(value));
        report(
            "map_value",
            proxy_get_header_map_value(0, addr_of(key), len(key), p, s),
        );
        report(
            "map_value_text",
            String::from_utf8_lossy(&returned(ptr, size)),
        );
        let missing = b"x-missing";
        report(
            "map_value_missing",
            proxy_get_header_map_value(0, addr_of(missing), len(missing), p, s),
        );
    }
}

#[allow(unsafe_code)]
fn buffer_status_checks() {
    let mut size = 0u32;
    let mut flags = 7u32;
    // SAFETY: valid out-parameters on our stack.
    unsafe {
        let status = proxy_get_buffer_status(7, out_ptr(&mut size), out_ptr(&mut flags));
        report("buffer_status", format!("{status}:{size}:{flags}"));
        let status = proxy_get_buffer_status(0, out_ptr(&mut size), out_ptr(&mut flags));
        report("buffer_status_body_in_root", status);
    }
}

#[allow(unsafe_code)]
fn wasi_checks() {
    let mut time = 0u64;
    let t = out_ptr(&mut time);
    let mut buf = [0u8; 64];
    let b = buf.as_mut_ptr() as u32;
    let mut a = 0u32;
    let mut c = 0u32;
    // SAFETY (whole block): pointers refer to live locals, except where `BAD` tests the FAULT answer.
    unsafe {
        report(
            "clock_realtime",
            format!("{}:{time}", clock_time_get(0, 1, t)),
        );
        let realtime = time;
        report("clock_realtime_value", realtime);
        report(
            "clock_monotonic",
            format!("{}:{time}", clock_time_get(1, 1, t)),
        );
        report("clock_monotonic_value", time);
        report("clock_unknown", clock_time_get(7, 1, t));
        report("clock_bad_pointer", clock_time_get(0, 1, BAD));
        report("clock_res", format!("{}:{time}", clock_res_get(1, t)));
        report("random", random_get(b, 16));
        report(
            "random_bytes",
            buf.iter()
                .take(16)
                .map(|x| format!("{x:02x}"))
                .collect::<String>(),
        );
        report("random_too_big", random_get(b, 1 << 20));
        report("random_bad_pointer", random_get(BAD, 8));
        report(
            "environ_sizes",
            format!(
                "{}:{a}:{c}",
                environ_sizes_get(out_ptr(&mut a), out_ptr(&mut c))
            ),
        );
        let mut array = [0u32; 8];
        let mut env = [0u8; 256];
        if a <= 8 && c <= 256 {
            report(
                "environ_get",
                environ_get(array.as_mut_ptr() as u32, env.as_mut_ptr() as u32),
            );
            let first = array[0].wrapping_sub(addr_of(&env)) as usize;
            let text = String::from_utf8_lossy(env.get(first..c as usize).unwrap_or_default());
            report("environ", text.replace('\0', "|"));
        }
        report(
            "environ_bad_pointer",
            environ_sizes_get(BAD, out_ptr(&mut c)),
        );
        report(
            "args_sizes",
            format!(
                "{}:{a}:{c}",
                args_sizes_get(out_ptr(&mut a), out_ptr(&mut c))
            ),
        );
        report("args_get", args_get(out_ptr(&mut a), out_ptr(&mut c)));
        let message = b"via fd_write\n";
        let iov = [addr_of(message), len(message)];
        report(
            "fd_write_stdout",
            format!("{}:{a}", fd_write(1, addr_of_u32(&iov), 1, out_ptr(&mut a))),
        );
        report(
            "fd_write_stderr",
            fd_write(2, addr_of_u32(&iov), 1, out_ptr(&mut a)),
        );
        report(
            "fd_write_bad_fd",
            fd_write(5, addr_of_u32(&iov), 1, out_ptr(&mut a)),
        );
        let bad_iov = [BAD, 4];
        report(
            "fd_write_bad_iovec",
            fd_write(1, addr_of_u32(&bad_iov), 1, out_ptr(&mut a)),
        );
        report("fd_read", fd_read(0, addr_of_u32(&iov), 1, out_ptr(&mut a)));
        report("fd_seek", fd_seek(1, 0, 0, t));
        report("fd_close", fd_close(1));
        report(
            "fd_fdstat_get",
            format!("{}:{}", fd_fdstat_get(1, b), buf[0]),
        );
        report("fd_fdstat_get_bad_fd", fd_fdstat_get(9, b));
        report("fd_fdstat_set_flags", fd_fdstat_set_flags(1, 0));
        report("fd_prestat_get", fd_prestat_get(3, b));
        report("fd_prestat_dir_name", fd_prestat_dir_name(3, b, 4));
        report(
            "path_open",
            path_open(3, 0, b, 4, 0, 0, 0, 0, out_ptr(&mut a)),
        );
        report("poll_oneoff", poll_oneoff(b, b, 0, out_ptr(&mut a)));
        report("sched_yield", sched_yield());
    }
}

fn addr_of_u32(words: &[u32]) -> u32 {
    words.as_ptr() as u32
}
