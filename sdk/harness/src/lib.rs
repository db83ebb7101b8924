//! A proxy-wasm host for tests: runs a compiled filter (`wasm32-wasip1`) on wasmtime the way Envoy runs it,
//! so a filter can be tested without Envoy.
//!
//! The host implements every host function of proxy-wasm ABI v0.2.1 and the WASI calls Envoy gives a
//! module, with Envoy's behaviour where the spec is silent (property encodings, header-map rules, local
//! replies, body buffering, failure policies). Tests drive callbacks and then look at state: the current
//! headers and body, the local reply, callouts (and answer them), metrics, logs, shared data, queues.
//! Time is virtual (but WASI's monotonic clock, which also runs with real time, as a guest timing
//! its own work sees in Envoy). Each `Host` owns its state, so tests run in parallel; only compiled modules are cached
//! process-wide. A `Host` is one instance of the module, a worker's; [`Process`] is what Envoy runs at
//! `--concurrency N`: N + 2 instances (two on the main thread) sharing shared data, queues and metrics.
//!
//! A whole request through the front door ([`Host::client_request`]), with the cluster the
//! filter's callout goes to and the upstream played by the harness:
//!
//! ```no_run
//! use palisade_harness::{
//!     ClientRequest, Cluster, HostBuilder, HttpResponse, PluginConfig, UpstreamResponse,
//! };
//!
//! let mut host = HostBuilder::from_file("auth_filter.wasm")
//!     .plugin(PluginConfig::new("auth").configuration("cluster=auth_service"))
//!     .cluster("auth_service", Cluster::answering(HttpResponse::new(200).body("user=alice")))
//!     .upstream(|_| UpstreamResponse::new(200).body("hello"))
//!     .build()?;
//! assert!(host.start()?.ok());
//! let exchange = host.client_request(&ClientRequest::get("/orders").header("x-user", "alice"))?;
//! assert_eq!(host.http_callouts()[0].upstream, "auth_service");
//! assert!(exchange.upstream.is_some(), "the filter let the request through");
//! assert_eq!(exchange.response.body, b"hello");
//! # Ok::<(), palisade_harness::HarnessError>(())
//! ```
//!
//! Or callback by callback:
//!
//! ```no_run
//! use palisade_harness::{Action, HostBuilder, HttpResponse, PluginConfig};
//!
//! let mut host = HostBuilder::from_file("filter.wasm")
//!     .plugin(PluginConfig::new("authz").configuration("{}"))
//!     .build()?;
//! assert!(host.start()?.ok());
//! let s = host.new_http_stream()?;
//! let action = host.request_headers(s, &[(":method", "GET"), (":path", "/x"), (":authority", "a")], true)?;
//! if action == Action::Pause {
//!     let token = host.pending_http_callouts()[0].token;
//!     host.respond_http_callout(token, HttpResponse::new(200).body("ok"))?;
//! }
//! println!("{:?}", host.stream(s)?.local_reply);
//! # Ok::<(), palisade_harness::HarnessError>(())
//! ```
#![forbid(unsafe_code)]

mod abi;
mod cache;
mod callout;
mod client;
mod clock;
mod config;
mod envoy_functions;
mod error;
mod faults;
mod gate;
mod headers;
mod host;
mod local_reply;
mod memory;
mod metrics;
mod properties;
mod shared;
mod state;
mod stream;
mod types;
mod upstream;
mod vm;
mod wasi;

pub use cache::AbiVersion;
pub use callout::{CalloutState, GrpcCall, GrpcKind, HttpCallout, HttpResponse};
pub use client::{ClientRequest, DROPPED, JOINED};
pub use config::{FailurePolicy, ForeignFunction, PluginConfig};
pub use envoy_functions::FILTER_STATE_OBJECTS;
pub use error::HarnessError;
pub use faults::{Fault, HostCall};
pub use headers::{deserialize_pairs, serialize_pairs, HeaderMap, MapFormatError};
pub use host::{Host, HostBuilder, Process, StartOutcome, Thread};
pub use memory::MemoryError;
pub use metrics::MetricValue;
pub use properties::PropertyValue;
pub use state::LogEntry;
pub use stream::{Action, ConnectionId, HttpStream, LocalReply, StreamId, TcpConnection};
pub use types::{LogLevel, MetricType, PeerType, Status};
pub use upstream::{
    ClientResponse, Cluster, Exchange, ReceivedRequest, Upstream, UpstreamResponse,
};
