//! The gate in front of every host function: each call is counted, recorded when asked, and
//! replaced by an armed fault ([`crate::faults`]) before its body runs.

use wasmtime::{Caller, Linker, WasmTy};

use crate::faults::Fault;
use crate::state::HostState;
use crate::types::{errno, Status};

/// The errno a WASI function returns for an injected status.
fn errno_for(status: Status) -> i32 {
    match status {
        Status::Ok => errno::SUCCESS,
        Status::NotFound => errno::NOENT,
        Status::InvalidMemoryAccess => errno::FAULT,
        Status::InternalFailure => errno::IO,
        Status::Unimplemented => errno::NOSYS,
        _ => errno::INVAL,
    }
}

/// What a host function body returns: a status/errno code, or a trap.
pub(crate) trait HostReturn {
    fn into_result(self) -> wasmtime::Result<i32>;
}

impl HostReturn for i32 {
    fn into_result(self) -> wasmtime::Result<i32> {
        Ok(self)
    }
}

impl HostReturn for wasmtime::Result<i32> {
    fn into_result(self) -> wasmtime::Result<i32> {
        self
    }
}

/// The gate at the entry of every host function: counts the call and applies an armed fault.
/// `Ok(Some(code))`/`Err(trap)` replace the call; `Ok(None)` lets it run.
fn gate(
    caller: &mut Caller<'_, HostState>,
    name: &'static str,
    wasi: bool,
) -> wasmtime::Result<Option<i32>> {
    let state = caller.data_mut();
    let context_id = state.effective_context;
    match state.faults.enter(name, context_id) {
        None => Ok(None),
        Some(Fault::Trap) => Err(wasmtime::format_err!("injected fault: {name} trapped")),
        Some(Fault::Status(status)) if wasi => Ok(Some(errno_for(status))),
        Some(Fault::Status(status)) => Ok(Some(status.code() as i32)),
    }
}

/// A host function body, callable with its guest arguments: implemented for closures of every arity
/// the ABI uses, so [`host_fn`] can put the gate in front of any of them.
pub(crate) trait HostFn<Args>: Send + Sync + 'static {
    fn link(
        self,
        linker: &mut Linker<HostState>,
        module: &str,
        name: &'static str,
    ) -> wasmtime::Result<()>;
}

macro_rules! host_fn_impl {
    ($($arg:ident),*) => {
        impl<Func, Ret, $($arg),*> HostFn<($($arg,)*)> for Func
        where
            Func: Fn(Caller<'_, HostState>, $($arg),*) -> Ret + Send + Sync + 'static,
            Ret: HostReturn,
            $($arg: WasmTy,)*
        {
            #[allow(non_snake_case)]
            fn link(
                self,
                linker: &mut Linker<HostState>,
                module: &str,
                name: &'static str,
            ) -> wasmtime::Result<()> {
                let wasi = module != "env";
                linker.func_wrap(
                    module,
                    name,
                    move |mut caller: Caller<'_, HostState>, $($arg: $arg),*| -> wasmtime::Result<i32> {
                        if let Some(code) = gate(&mut caller, name, wasi)? {
                            return Ok(code);
                        }
                        self(caller, $($arg),*).into_result()
                    },
                )?;
                Ok(())
            }
        }
    };
}

host_fn_impl!();
host_fn_impl!(A1);
host_fn_impl!(A1, A2);
host_fn_impl!(A1, A2, A3);
host_fn_impl!(A1, A2, A3, A4);
host_fn_impl!(A1, A2, A3, A4, A5);
host_fn_impl!(A1, A2, A3, A4, A5, A6);
host_fn_impl!(A1, A2, A3, A4, A5, A6, A7);
host_fn_impl!(A1, A2, A3, A4, A5, A6, A7, A8);
host_fn_impl!(A1, A2, A3, A4, A5, A6, A7, A8, A9);
host_fn_impl!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10);
host_fn_impl!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11);
host_fn_impl!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12);

/// Links a host function behind the fault gate (use instead of `Linker::func_wrap`).
pub(crate) fn host_fn<Args>(
    linker: &mut Linker<HostState>,
    module: &str,
    name: &'static str,
    body: impl HostFn<Args>,
) -> wasmtime::Result<()> {
    body.link(linker, module, name)
}
