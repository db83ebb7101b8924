//! One process-wide wasmtime `Engine` and a cache of compiled modules keyed by content hash: each module is
//! compiled and linked once per process, and every test instantiates it cheaply from an `InstancePre`.
//! Only compiled code is cached; no test state is global.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use wasmtime::{Config, Engine, InstancePre, Linker, Module};

use crate::error::HarnessError;
use crate::state::HostState;

/// Which ABI version marker the module exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbiVersion {
    /// `proxy_abi_version_0_2_0`.
    V0_2_0,
    /// `proxy_abi_version_0_2_1`.
    V0_2_1,
}

/// A module compiled, checked and linked against the host functions.
pub(crate) struct CompiledModule {
    pub(crate) pre: InstancePre<HostState>,
    pub(crate) abi: AbiVersion,
}

impl std::fmt::Debug for CompiledModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModule")
            .field("abi", &self.abi)
            .finish_non_exhaustive()
    }
}

/// Why a module could not be prepared (cloneable, so a failure is cached like a success).
#[derive(Debug, Clone)]
enum LoadError {
    Compile(String),
    Link(String),
    NoAbiVersion,
}

impl From<LoadError> for HarnessError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Compile(m) => HarnessError::Compile(m),
            LoadError::Link(m) => HarnessError::Link(m),
            LoadError::NoAbiVersion => HarnessError::NoAbiVersion,
        }
    }
}

type Slot = Arc<OnceLock<Result<Arc<CompiledModule>, LoadError>>>;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(&Config::new()).unwrap_or_else(|_| Engine::default()))
}

fn linker() -> Result<&'static Linker<HostState>, LoadError> {
    static LINKER: OnceLock<Result<Linker<HostState>, String>> = OnceLock::new();
    LINKER
        .get_or_init(|| {
            let mut linker = Linker::new(engine());
            crate::abi::add_to_linker(&mut linker).map_err(|e| format!("{e:#}"))?;
            crate::wasi::add_to_linker(&mut linker).map_err(|e| format!("{e:#}"))?;
            Ok(linker)
        })
        .as_ref()
        .map_err(|e| LoadError::Link(e.clone()))
}

/// Compiles (or fetches from the cache) the module with these bytes.
pub(crate) fn compiled(bytes: &[u8]) -> Result<Arc<CompiledModule>, HarnessError> {
    static CACHE: OnceLock<Mutex<HashMap<(u64, usize), Slot>>> = OnceLock::new();
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    let key = (hasher.finish(), bytes.len());
    let slot = {
        let mut cache = CACHE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.entry(key).or_default().clone()
    };
    // Compile outside the map lock: other modules are not held up, and the same module compiles once.
    slot.get_or_init(|| prepare(bytes).map(Arc::new))
        .clone()
        .map_err(Into::into)
}

fn prepare(bytes: &[u8]) -> Result<CompiledModule, LoadError> {
    let module = Module::new(engine(), bytes).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
    let exports: Vec<&str> = module.exports().map(|e| e.name()).collect();
    let abi = if exports.contains(&"proxy_abi_version_0_2_1") {
        AbiVersion::V0_2_1
    } else if exports.contains(&"proxy_abi_version_0_2_0") {
        AbiVersion::V0_2_0
    } else {
        return Err(LoadError::NoAbiVersion);
    };
    let pre = linker()?
        .instantiate_pre(&module)
        .map_err(|e| LoadError::Link(format!("{e:#}")))?;
    Ok(CompiledModule { pre, abi })
}

/// The engine every host uses.
pub(crate) fn shared_engine() -> &'static Engine {
    engine()
}
