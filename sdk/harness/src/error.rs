//! Errors of the harness API.

use std::path::PathBuf;

/// Everything that can go wrong when a test loads or drives a plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// The `.wasm` file could not be read.
    #[error("cannot read wasm module {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// wasmtime rejected the module.
    #[error("cannot compile wasm module: {0}")]
    Compile(String),
    /// The module imports something the host does not provide (Envoy refuses such modules too).
    #[error("cannot link wasm module: {0}")]
    Link(String),
    /// The module exports no supported ABI version marker.
    #[error("the module exports no proxy_abi_version_0_2_0 or proxy_abi_version_0_2_1 marker")]
    NoAbiVersion,
    /// A callback export has a signature the ABI does not define.
    #[error("export `{name}` has the wrong signature: {message}")]
    BadExport {
        /// The export.
        name: &'static str,
        /// wasmtime's explanation.
        message: String,
    },
    /// Instantiating the module failed.
    #[error("cannot instantiate wasm module: {0}")]
    Instantiate(String),
    /// The module trapped while starting (`_initialize`, `_start`, `main`, context creation).
    #[error("wasm trap in {callback}: {message}")]
    Trap {
        /// The callback that trapped.
        callback: &'static str,
        /// The trap message.
        message: String,
    },
    /// No plugin with this root id was configured.
    #[error("unknown plugin root id `{0}`")]
    UnknownPlugin(String),
    /// The plugin was not started, or its `on_vm_start`/`on_configure` returned false.
    #[error(
        "plugin `{0}` is not running (not started, or on_vm_start/on_configure returned false)"
    )]
    PluginNotRunning(String),
    /// A request the filter holds for good: the client would wait for ever.
    #[error("the filter holds the request or its response: {0}")]
    Hung(String),
    /// No HTTP stream with this id.
    #[error("unknown HTTP stream {0}")]
    UnknownStream(u32),
    /// No TCP connection with this id.
    #[error("unknown TCP connection {0}")]
    UnknownConnection(u32),
    /// No HTTP callout with this token.
    #[error("no HTTP callout with token {0}")]
    UnknownCallout(u32),
    /// The HTTP callout was already answered, failed, timed out or cancelled.
    #[error("HTTP callout {0} is not pending")]
    CalloutNotPending(u32),
    /// No gRPC call with this token.
    #[error("no gRPC call or stream with token {0}")]
    UnknownGrpcCall(u32),
    /// The gRPC call was closed or cancelled.
    #[error("gRPC call or stream {0} is not open")]
    GrpcCallNotOpen(u32),
    /// No shared queue with this name was registered.
    #[error("no shared queue named `{0}`")]
    UnknownQueue(String),
    /// The process has no worker of this index (`--concurrency` is lower).
    #[error("the process has no worker {0}")]
    NoSuchWorker(u32),
    /// A failed VM could not be recreated.
    #[error("cannot reload the VM: {0}")]
    Reload(Box<HarnessError>),
}
