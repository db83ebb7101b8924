//! The WASI calls Envoy gives a module: stdout/stderr to the logs, the virtual clock, deterministic random
//! bytes, the configured environment; filesystem and other calls are refused with an errno, as in Envoy.

use wasmtime::{Caller, Linker};

use crate::gate::host_fn;
use crate::memory::{read_bytes, read_u32, slice, write_bytes, write_u32, write_u64, MemoryError};
use crate::state::HostState;
use crate::types::{errno, LogLevel};

/// Envoy refuses larger `random_get` requests.
const MAX_RANDOM_BYTES: u32 = 64 * 1024;

/// Adds the WASI functions under both `wasi_snapshot_preview1` and the older `wasi_unstable`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    for module in ["wasi_snapshot_preview1", "wasi_unstable"] {
        add_module(linker, module)?;
    }
    Ok(())
}

fn fault(result: Result<(), MemoryError>) -> i32 {
    match result {
        Ok(()) => errno::SUCCESS,
        Err(_) => errno::FAULT,
    }
}

fn add_module(linker: &mut Linker<HostState>, module: &str) -> wasmtime::Result<()> {
    host_fn(
        linker,
        module,
        "fd_write",
        |mut caller: Caller<'_, HostState>,
         fd: i32,
         iovs: i32,
         iovs_len: i32,
         written: i32|
         -> i32 { fd_write(&mut caller, fd, iovs, iovs_len, written) },
    )?;
    host_fn(
        linker,
        module,
        "fd_read",
        |_: Caller<'_, HostState>, _: i32, _: i32, _: i32, _: i32| -> i32 { errno::NOSYS },
    )?;
    host_fn(
        linker,
        module,
        "fd_seek",
        |_: Caller<'_, HostState>, _: i32, _: i64, _: i32, _: i32| -> i32 { errno::SPIPE },
    )?;
    host_fn(
        linker,
        module,
        "fd_close",
        |_: Caller<'_, HostState>, _: i32| -> i32 { errno::BADF },
    )?;
    host_fn(
        linker,
        module,
        "fd_fdstat_get",
        |mut caller: Caller<'_, HostState>, fd: i32, buf: i32| -> i32 {
            fd_fdstat_get(&mut caller, fd, buf)
        },
    )?;
    host_fn(
        linker,
        module,
        "fd_fdstat_set_flags",
        |_: Caller<'_, HostState>, _: i32, _: i32| -> i32 { errno::NOSYS },
    )?;
    // No preopened directories: `BADF` ends the guest's scan.
    host_fn(
        linker,
        module,
        "fd_prestat_get",
        |_: Caller<'_, HostState>, _: i32, _: i32| -> i32 { errno::BADF },
    )?;
    host_fn(
        linker,
        module,
        "fd_prestat_dir_name",
        |_: Caller<'_, HostState>, _: i32, _: i32, _: i32| -> i32 { errno::NOSYS },
    )?;
    host_fn(
        linker,
        module,
        "path_open",
        |_: Caller<'_, HostState>,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i64,
         _: i64,
         _: i32,
         _: i32|
         -> i32 { errno::NOSYS },
    )?;
    host_fn(
        linker,
        module,
        "environ_sizes_get",
        |mut caller: Caller<'_, HostState>, count_ptr: i32, size_ptr: i32| -> i32 {
            let (count, size) = environ_sizes(caller.data());
            fault(
                write_u32(&mut caller, count_ptr, count)
                    .and_then(|()| write_u32(&mut caller, size_ptr, size)),
            )
        },
    )?;
    host_fn(
        linker,
        module,
        "environ_get",
        |mut caller: Caller<'_, HostState>, array: i32, buf: i32| -> i32 {
            fault(environ_get(&mut caller, array, buf))
        },
    )?;
    host_fn(
        linker,
        module,
        "args_sizes_get",
        |mut caller: Caller<'_, HostState>, argc: i32, size: i32| -> i32 {
            fault(write_u32(&mut caller, argc, 0).and_then(|()| write_u32(&mut caller, size, 0)))
        },
    )?;
    host_fn(
        linker,
        module,
        "args_get",
        |_: Caller<'_, HostState>, _: i32, _: i32| -> i32 { errno::SUCCESS },
    )?;
    host_fn(
        linker,
        module,
        "clock_time_get",
        |mut caller: Caller<'_, HostState>, id: i32, _precision: i64, ret: i32| -> i32 {
            let clock = &caller.data().clock;
            let now = match id {
                0 => clock.realtime_nanos(),
                1 => clock.monotonic_nanos(),
                _ => return errno::NOTSUP,
            };
            fault(write_u64(&mut caller, ret, now))
        },
    )?;
    host_fn(
        linker,
        module,
        "clock_res_get",
        |mut caller: Caller<'_, HostState>, id: i32, ret: i32| -> i32 {
            if !(0..=1).contains(&id) {
                return errno::NOTSUP;
            }
            fault(write_u64(&mut caller, ret, 1))
        },
    )?;
    host_fn(
        linker,
        module,
        "random_get",
        |mut caller: Caller<'_, HostState>, buf: i32, len: i32| -> i32 {
            random_get(&mut caller, buf, len)
        },
    )?;
    // Not behind the fault gate: it has no status to return and traps anyway.
    linker.func_wrap(
        module,
        "proc_exit",
        |_: Caller<'_, HostState>, code: i32| -> wasmtime::Result<()> {
            Err(wasmtime::format_err!(
                "proc_exit({code}) called by the module"
            ))
        },
    )?;
    host_fn(
        linker,
        module,
        "sched_yield",
        |_: Caller<'_, HostState>| -> i32 { errno::SUCCESS },
    )?;
    host_fn(
        linker,
        module,
        "poll_oneoff",
        |_: Caller<'_, HostState>, _: i32, _: i32, _: i32, _: i32| -> i32 { errno::NOSYS },
    )?;
    Ok(())
}

fn fd_write(
    caller: &mut Caller<'_, HostState>,
    fd: i32,
    iovs: i32,
    iovs_len: i32,
    written: i32,
) -> i32 {
    let level = match fd {
        1 => LogLevel::Info,
        2 => LogLevel::Error,
        _ => return errno::BADF,
    };
    let mut data = Vec::new();
    for i in 0..iovs_len as u32 {
        let Some(at) = (iovs as u32).checked_add(i.saturating_mul(8)) else {
            return errno::FAULT;
        };
        let Some(memory) = caller.data().memory else {
            return errno::FAULT;
        };
        let mem = memory.data(&*caller);
        let (Ok(ptr), Ok(len)) = (read_u32(mem, at), read_u32(mem, at.wrapping_add(4))) else {
            return errno::FAULT;
        };
        match slice(mem, ptr, len) {
            Ok(bytes) => data.extend_from_slice(bytes),
            Err(_) => return errno::FAULT,
        }
    }
    if write_u32(caller, written, data.len() as u32).is_err() {
        return errno::FAULT;
    }
    let text = String::from_utf8_lossy(&data);
    let message = text.strip_suffix('\n').unwrap_or(&text).to_string();
    caller.data_mut().log(level, message);
    errno::SUCCESS
}

fn fd_fdstat_get(caller: &mut Caller<'_, HostState>, fd: i32, buf: i32) -> i32 {
    if !(0..=2).contains(&fd) {
        return errno::BADF;
    }
    // fdstat: filetype CHARACTER_DEVICE (2), no flags, rights to write (bit 6) for stdout/stderr.
    let mut stat = [0u8; 24];
    stat[0] = 2;
    let rights: u64 = if fd == 0 { 0 } else { 1 << 6 };
    stat[8..16].copy_from_slice(&rights.to_le_bytes());
    fault(write_bytes(caller, buf, &stat))
}

fn environment(state: &HostState) -> Vec<Vec<u8>> {
    state
        .config
        .environment
        .iter()
        .map(|(k, v)| format!("{k}={v}\0").into_bytes())
        .collect()
}

fn environ_sizes(state: &HostState) -> (u32, u32) {
    let env = environment(state);
    (
        env.len() as u32,
        env.iter().map(Vec::len).sum::<usize>() as u32,
    )
}

fn environ_get(
    caller: &mut Caller<'_, HostState>,
    array: i32,
    buf: i32,
) -> Result<(), MemoryError> {
    let env = environment(caller.data());
    let mut offset = buf as u32;
    for (i, entry) in env.iter().enumerate() {
        write_u32(
            caller,
            (array as u32).wrapping_add(i as u32 * 4) as i32,
            offset,
        )?;
        write_bytes(caller, offset as i32, entry)?;
        offset = offset.wrapping_add(entry.len() as u32);
    }
    Ok(())
}

fn random_get(caller: &mut Caller<'_, HostState>, buf: i32, len: i32) -> i32 {
    let len = len as u32;
    if len > MAX_RANDOM_BYTES {
        return errno::INVAL;
    }
    // Check the target before drawing, so a fault does not advance the random sequence.
    if read_bytes(caller, buf, len as i32).is_err() {
        return errno::FAULT;
    }
    let mut bytes = Vec::with_capacity(len as usize + 8);
    while bytes.len() < len as usize {
        let word = caller.data_mut().next_random();
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    bytes.truncate(len as usize);
    fault(write_bytes(caller, buf, &bytes))
}
