//! Shared data (`proxy_get_shared_data`, `proxy_set_shared_data`) and shared queues (register, resolve,
//! enqueue, dequeue).

use wasmtime::{Caller, Linker};

use crate::gate::host_fn;
use crate::memory::{
    check_writable, read_bytes, read_string, return_bytes, status_code, write_u32, HostResult,
};
use crate::shared::QueueOwner;
use crate::state::HostState;
use crate::types::Status;

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    host_fn(
        linker,
        "env",
        "proxy_get_shared_data",
        |mut caller: Caller<'_, HostState>,
         kp: i32,
         kl: i32,
         ptr_ptr: i32,
         size_ptr: i32,
         cas_ptr: i32| {
            status_code(get_data(&mut caller, kp, kl, ptr_ptr, size_ptr, cas_ptr))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_set_shared_data",
        |mut caller: Caller<'_, HostState>, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32| {
            status_code(set_data(&mut caller, kp, kl, vp, vl, cas as u32))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_register_shared_queue",
        |mut caller: Caller<'_, HostState>, np: i32, nl: i32, ret: i32| {
            status_code(register(&mut caller, np, nl, ret))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_resolve_shared_queue",
        |mut caller: Caller<'_, HostState>, vp: i32, vl: i32, np: i32, nl: i32, ret: i32| {
            status_code(resolve(&mut caller, vp, vl, np, nl, ret))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_enqueue_shared_queue",
        |mut caller: Caller<'_, HostState>, id: i32, vp: i32, vl: i32| {
            status_code(enqueue(&mut caller, id as u32, vp, vl))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_dequeue_shared_queue",
        |mut caller: Caller<'_, HostState>, id: i32, ptr_ptr: i32, size_ptr: i32| {
            status_code(dequeue(&mut caller, id as u32, ptr_ptr, size_ptr))
        },
    )?;
    Ok(())
}

fn get_data(
    caller: &mut Caller<'_, HostState>,
    key_ptr: i32,
    key_len: i32,
    ptr_ptr: i32,
    size_ptr: i32,
    cas_ptr: i32,
) -> HostResult {
    let key = read_string(caller, key_ptr, key_len)?;
    let (value, cas) = caller
        .data()
        .process
        .lock()
        .shared_data
        .get(&key)
        .map(|(v, cas)| (v.to_vec(), cas))
        .ok_or(Status::NotFound)?;
    check_writable(caller, cas_ptr, 4)?;
    return_bytes(caller, &value, ptr_ptr, size_ptr)?;
    write_u32(caller, cas_ptr, cas)?;
    Ok(())
}

fn set_data(
    caller: &mut Caller<'_, HostState>,
    key_ptr: i32,
    key_len: i32,
    value_ptr: i32,
    value_len: i32,
    cas: u32,
) -> HostResult {
    let key = read_string(caller, key_ptr, key_len)?;
    let value = read_bytes(caller, value_ptr, value_len)?;
    caller
        .data()
        .process
        .lock()
        .shared_data
        .set(&key, value, cas)?;
    Ok(())
}

fn register(
    caller: &mut Caller<'_, HostState>,
    name_ptr: i32,
    name_len: i32,
    ret: i32,
) -> HostResult {
    let name = read_string(caller, name_ptr, name_len)?;
    check_writable(caller, ret, 4)?;
    let state = caller.data_mut();
    let owner = QueueOwner {
        instance: state.instance,
        context_id: state.root_of(state.effective_context).unwrap_or(0),
    };
    let vm_id = state.config.vm_id.clone();
    let id = state.process.lock().queues.register(&vm_id, &name, owner);
    write_u32(caller, ret, id)?;
    Ok(())
}

fn resolve(
    caller: &mut Caller<'_, HostState>,
    vm_ptr: i32,
    vm_len: i32,
    name_ptr: i32,
    name_len: i32,
    ret: i32,
) -> HostResult {
    let vm_id = read_string(caller, vm_ptr, vm_len)?;
    let name = read_string(caller, name_ptr, name_len)?;
    check_writable(caller, ret, 4)?;
    let state = caller.data();
    // An empty VM id means this plugin's own VM.
    let vm_id = if vm_id.is_empty() {
        state.config.vm_id.clone()
    } else {
        vm_id
    };
    let id = state
        .process
        .lock()
        .queues
        .resolve(&vm_id, &name)
        .ok_or(Status::NotFound)?;
    write_u32(caller, ret, id)?;
    Ok(())
}

fn enqueue(caller: &mut Caller<'_, HostState>, id: u32, ptr: i32, len: i32) -> HostResult {
    let value = read_bytes(caller, ptr, len)?;
    let state = caller.data_mut();
    let notification = state
        .process
        .lock()
        .queues
        .push(id, value)
        .ok_or(Status::NotFound)?;
    // Envoy posts the notification; it runs after the current callback.
    state.notify(notification);
    Ok(())
}

fn dequeue(caller: &mut Caller<'_, HostState>, id: u32, ptr_ptr: i32, size_ptr: i32) -> HostResult {
    let item = caller
        .data()
        .process
        .lock()
        .queues
        .get(id)
        .ok_or(Status::NotFound)?
        .items
        .front()
        .cloned()
        .ok_or(Status::Empty)?;
    return_bytes(caller, &item, ptr_ptr, size_ptr)?;
    // Only remove once the guest has the item.
    if let Some(queue) = caller.data().process.lock().queues.get_mut(id) {
        queue.items.pop_front();
    }
    Ok(())
}
