//! The module's exports: the proxy-wasm ABI (v0.2.1) entry points the proxy calls, routed to
//! the one [`Plugin`] the module registered.
//!
//! Only the callbacks the SDK uses are exported. Envoy skips a callback the module does not
//! export, and each one it does export costs a call into the VM on every request that reaches
//! it: `proxy_on_log`, `proxy_on_done` and `proxy_on_response_body` would be three per request,
//! for nothing.
//!
//! No callback can panic: a callback for a context the plugin does not know, or one that
//! arrives while another is running (which the ABI does not allow), is logged and answered
//! with the ABI's default.
#![allow(unsafe_code)] // `#[no_mangle]` entry points and the host's allocator
#![allow(unreachable_pub)] // the entry points are reached by the proxy, as the module's exports

use std::alloc::Layout;
use std::cell::RefCell;
use std::ptr::NonNull;

/// What a stream callback tells the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Go on with the stream.
    Continue = 0,
    /// Hold it (until a local reply, or, for the body, until more is buffered).
    Pause = 1,
}

/// The callbacks a module answers, by context id. A root context's parent id is 0.
pub(crate) trait Plugin {
    fn on_context_create(&mut self, context_id: u32, parent_id: u32);
    fn on_vm_start(&mut self, root_id: u32) -> bool;
    fn on_configure(&mut self, root_id: u32) -> bool;
    fn on_tick(&mut self, root_id: u32);
    fn on_http_call_response(&mut self, root_id: u32, token: u32, num_headers: usize);
    fn on_request_headers(&mut self, context_id: u32, end_of_stream: bool) -> Action;
    fn on_request_body(&mut self, context_id: u32, body_size: usize, end_of_stream: bool)
        -> Action;
    fn on_request_trailers(&mut self, context_id: u32) -> Action;
    fn on_response_headers(&mut self, context_id: u32) -> Action;
    fn on_delete(&mut self, context_id: u32);
}

thread_local! {
    static PLUGIN: RefCell<Option<Box<dyn Plugin>>> = const { RefCell::new(None) };
}

/// Makes `plugin` answer every callback from now on. Called once, from `_initialize`.
pub(crate) fn register(plugin: Box<dyn Plugin>) {
    PLUGIN.with(|slot| match slot.try_borrow_mut() {
        Ok(mut slot) => *slot = Some(plugin),
        Err(_) => log::error!("palisade: cannot register the plugin from inside a callback"),
    });
}

/// Runs `callback` on the registered plugin; `default` when there is none or it is busy.
fn with_plugin<R>(default: R, callback: impl FnOnce(&mut dyn Plugin) -> R) -> R {
    PLUGIN.with(|slot| match slot.try_borrow_mut() {
        Ok(mut slot) => match slot.as_deref_mut() {
            Some(plugin) => callback(plugin),
            None => default,
        },
        Err(_) => {
            log::error!("palisade: a callback arrived while another was running; ignored");
            default
        }
    })
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// Memory the host fills for the module (header maps, buffers, properties). The SDK adopts it
/// as a `Vec<u8>` of exactly `size` bytes (see `imports::adopt`), so it is allocated with that
/// layout.
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let Ok(layout) = Layout::array::<u8>(size) else {
        return std::ptr::null_mut();
    };
    if size == 0 {
        return NonNull::<u8>::dangling().as_ptr();
    }
    // SAFETY: the layout has a non-zero size.
    unsafe { std::alloc::alloc(layout) }
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(context_id: u32, parent_id: u32) {
    with_plugin((), |p| p.on_context_create(context_id, parent_id));
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(root_id: u32, _vm_configuration_size: usize) -> u32 {
    with_plugin(false, |p| p.on_vm_start(root_id)).into()
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(root_id: u32, _plugin_configuration_size: usize) -> u32 {
    with_plugin(false, |p| p.on_configure(root_id)).into()
}

#[no_mangle]
pub extern "C" fn proxy_on_tick(root_id: u32) {
    with_plugin((), |p| p.on_tick(root_id));
}

#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(
    root_id: u32,
    token: u32,
    num_headers: usize,
    _body_size: usize,
    _num_trailers: usize,
) {
    with_plugin((), |p| p.on_http_call_response(root_id, token, num_headers));
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(
    context_id: u32,
    _num_headers: usize,
    end_of_stream: u32,
) -> u32 {
    let end_of_stream = end_of_stream != 0;
    with_plugin(Action::Continue, |p| {
        p.on_request_headers(context_id, end_of_stream)
    }) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_request_body(
    context_id: u32,
    body_size: usize,
    end_of_stream: u32,
) -> u32 {
    let end_of_stream = end_of_stream != 0;
    with_plugin(Action::Continue, |p| {
        p.on_request_body(context_id, body_size, end_of_stream)
    }) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_request_trailers(context_id: u32, _num_trailers: usize) -> u32 {
    with_plugin(Action::Continue, |p| p.on_request_trailers(context_id)) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(
    context_id: u32,
    _num_headers: usize,
    _end_of_stream: u32,
) -> u32 {
    with_plugin(Action::Continue, |p| p.on_response_headers(context_id)) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    with_plugin((), |p| p.on_delete(context_id));
}
