//! One VM instance: a wasmtime `Store` with the host state, the module's callbacks, and trap bookkeeping.

use wasmtime::{Instance, Store, TypedFunc, WasmParams, WasmResults};

use crate::cache::{shared_engine, CompiledModule};
use crate::error::HarnessError;
use crate::state::HostState;
use crate::types::LogLevel;

type F<P, R> = Option<TypedFunc<P, R>>;

/// The callbacks the module exports (all optional, as the ABI says).
#[derive(Clone, Default)]
pub(crate) struct Callbacks {
    pub(crate) on_context_create: F<(i32, i32), ()>,
    pub(crate) on_done: F<i32, i32>,
    pub(crate) on_log: F<i32, ()>,
    pub(crate) on_delete: F<i32, ()>,
    pub(crate) on_vm_start: F<(i32, i32), i32>,
    pub(crate) on_configure: F<(i32, i32), i32>,
    pub(crate) on_tick: F<i32, ()>,
    pub(crate) on_queue_ready: F<(i32, i32), ()>,
    pub(crate) on_new_connection: F<i32, i32>,
    pub(crate) on_downstream_data: F<(i32, i32, i32), i32>,
    pub(crate) on_downstream_connection_close: F<(i32, i32), ()>,
    pub(crate) on_upstream_data: F<(i32, i32, i32), i32>,
    pub(crate) on_upstream_connection_close: F<(i32, i32), ()>,
    pub(crate) on_request_headers: F<(i32, i32, i32), i32>,
    pub(crate) on_request_body: F<(i32, i32, i32), i32>,
    pub(crate) on_request_trailers: F<(i32, i32), i32>,
    pub(crate) on_response_headers: F<(i32, i32, i32), i32>,
    pub(crate) on_response_body: F<(i32, i32, i32), i32>,
    pub(crate) on_response_trailers: F<(i32, i32), i32>,
    pub(crate) on_http_call_response: F<(i32, i32, i32, i32, i32), ()>,
    pub(crate) on_grpc_receive_initial_metadata: F<(i32, i32, i32), ()>,
    pub(crate) on_grpc_receive: F<(i32, i32, i32), ()>,
    pub(crate) on_grpc_receive_trailing_metadata: F<(i32, i32, i32), ()>,
    pub(crate) on_grpc_close: F<(i32, i32, i32), ()>,
    pub(crate) on_foreign_function: F<(i32, i32, i32), ()>,
}

impl std::fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callbacks").finish_non_exhaustive()
    }
}

/// A callback trapped (the message is also logged at `CRITICAL`, as Envoy logs the crash).
#[derive(Debug, Clone)]
pub(crate) struct Trapped(pub(crate) String);

/// A running VM instance.
#[derive(Debug)]
pub(crate) struct Vm {
    pub(crate) store: Store<HostState>,
    pub(crate) callbacks: Callbacks,
    pub(crate) failed: bool,
}

fn typed<P: WasmParams, R: WasmResults>(
    store: &mut Store<HostState>,
    instance: &Instance,
    name: &'static str,
) -> Result<F<P, R>, HarnessError> {
    match instance.get_func(&mut *store, name) {
        None => Ok(None),
        Some(func) => func
            .typed::<P, R>(&*store)
            .map(Some)
            .map_err(|e| HarnessError::BadExport {
                name,
                message: format!("{e:#}"),
            }),
    }
}

impl Vm {
    /// Instantiates the module and runs its start functions (`_initialize` then `main`, or `_start`).
    pub(crate) fn new(compiled: &CompiledModule, state: HostState) -> Result<Self, HarnessError> {
        let mut store = Store::new(shared_engine(), state);
        let instance = compiled
            .pre
            .instantiate(&mut store)
            .map_err(|e| HarnessError::Instantiate(format!("{e:#}")))?;
        let memory = instance.get_memory(&mut store, "memory");
        let allocator = match typed::<i32, i32>(&mut store, &instance, "proxy_on_memory_allocate")?
        {
            Some(f) => Some(f),
            None => typed::<i32, i32>(&mut store, &instance, "malloc")?,
        };
        store.data_mut().memory = memory;
        store.data_mut().allocator = allocator;
        let s = &mut store;
        let i = &instance;
        let callbacks = Callbacks {
            on_context_create: typed(s, i, "proxy_on_context_create")?,
            on_done: typed(s, i, "proxy_on_done")?,
            on_log: typed(s, i, "proxy_on_log")?,
            on_delete: typed(s, i, "proxy_on_delete")?,
            on_vm_start: typed(s, i, "proxy_on_vm_start")?,
            on_configure: typed(s, i, "proxy_on_configure")?,
            on_tick: typed(s, i, "proxy_on_tick")?,
            on_queue_ready: typed(s, i, "proxy_on_queue_ready")?,
            on_new_connection: typed(s, i, "proxy_on_new_connection")?,
            on_downstream_data: typed(s, i, "proxy_on_downstream_data")?,
            on_downstream_connection_close: typed(s, i, "proxy_on_downstream_connection_close")?,
            on_upstream_data: typed(s, i, "proxy_on_upstream_data")?,
            on_upstream_connection_close: typed(s, i, "proxy_on_upstream_connection_close")?,
            on_request_headers: typed(s, i, "proxy_on_request_headers")?,
            on_request_body: typed(s, i, "proxy_on_request_body")?,
            on_request_trailers: typed(s, i, "proxy_on_request_trailers")?,
            on_response_headers: typed(s, i, "proxy_on_response_headers")?,
            on_response_body: typed(s, i, "proxy_on_response_body")?,
            on_response_trailers: typed(s, i, "proxy_on_response_trailers")?,
            on_http_call_response: typed(s, i, "proxy_on_http_call_response")?,
            on_grpc_receive_initial_metadata: typed(
                s,
                i,
                "proxy_on_grpc_receive_initial_metadata",
            )?,
            on_grpc_receive: typed(s, i, "proxy_on_grpc_receive")?,
            on_grpc_receive_trailing_metadata: typed(
                s,
                i,
                "proxy_on_grpc_receive_trailing_metadata",
            )?,
            on_grpc_close: typed(s, i, "proxy_on_grpc_close")?,
            on_foreign_function: typed(s, i, "proxy_on_foreign_function")?,
        };
        let initialize = typed::<(), ()>(s, i, "_initialize")?;
        let main = typed::<(i32, i32), i32>(s, i, "main")?;
        let start = typed::<(), ()>(s, i, "_start")?;
        let mut vm = Vm {
            store,
            callbacks,
            failed: false,
        };
        let trap = |callback: &'static str| {
            move |Trapped(message)| HarnessError::Trap { callback, message }
        };
        if initialize.is_some() {
            vm.call(initialize, 0, ()).map_err(trap("_initialize"))?;
            vm.call(main, 0, (0, 0)).map_err(trap("main"))?;
        } else {
            vm.call(start, 0, ()).map_err(trap("_start"))?;
        }
        Ok(vm)
    }

    /// Calls a callback with `context_id` as the effective context. `Ok(None)` when the module does not
    /// export it. A trap marks the VM failed.
    pub(crate) fn call<P: WasmParams, R: WasmResults>(
        &mut self,
        func: F<P, R>,
        context_id: u32,
        params: P,
    ) -> Result<Option<R>, Trapped> {
        let Some(func) = func else { return Ok(None) };
        self.store.data_mut().effective_context = context_id;
        match func.call(&mut self.store, params) {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                self.failed = true;
                let message = format!("{e:#}");
                // Envoy logs a trap as its own error (`Function: ... failed: ...`), not as a line
                // of the plugin's.
                let state = self.store.data_mut();
                let context_id = state.effective_context;
                state.host_logs.push(crate::state::LogEntry {
                    level: LogLevel::Error,
                    message: format!("wasm trap: {message}"),
                    context_id,
                });
                Err(Trapped(message))
            }
        }
    }

    pub(crate) fn state(&self) -> &HostState {
        self.store.data()
    }

    pub(crate) fn state_mut(&mut self) -> &mut HostState {
        self.store.data_mut()
    }
}
