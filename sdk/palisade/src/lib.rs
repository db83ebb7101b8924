//! Palisade: write Envoy/Istio policy filters in a few lines of Rust.
//!
//! A policy implements [`Policy`]: it is built once per VM from a typed plugin configuration
//! and then decides each request from a read-only [`Request`] view, returning a [`Decision`]
//! (allow, allow with header changes, or deny with a local reply). [`export_policy!`] turns it
//! into a proxy-wasm module for `wasm32-wasip1` that Envoy and Istio load; [`Policy`] has a
//! complete example.
//!
//! Every filter can report its decisions as CloudEvents to a sink (Knative Eventing, a broker,
//! any HTTP receiver): add an `events` section to its plugin configuration (see
//! [`events::EventsConfig`]); the events are queued without slowing the request and delivered
//! in batches from the root context (see [`events::emitter`]).
//!
//! Layers: `proxy` is the only module that touches the proxy-wasm ABI (and exists only on
//! wasm32); everything else runs on the small [`Host`] and [`CalloutHost`] traits, so it is
//! unit-tested natively.

pub mod config;
pub mod decision;
pub mod events;
pub mod filter;
pub mod host;
pub mod ids;
pub mod metrics;
pub mod policy;
pub mod proto_struct;
#[cfg(feature = "rego")]
pub mod rego;
pub mod request;
pub mod time;
pub mod wire;

#[cfg(target_arch = "wasm32")]
pub mod proxy;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use config::{parse_config, parse_plugin_config, ConfigError, SdkSettings};
pub use decision::Decision;
pub use host::{CalloutHost, Host, HostError};
pub use policy::{FailureMode, Policy, PolicyError};
pub use request::{Request, SocketAddress};

/// Exports a [`Policy`] as this crate's proxy-wasm module (root and HTTP contexts).
///
/// Use once, in a `cdylib` crate built for `wasm32-wasip1`. On other targets it expands to
/// nothing, so the crate still builds and its logic can be unit-tested natively.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)] // the module entry point `_initialize` is `#[no_mangle]`
        mod __palisade_entry {
            #[allow(unused_imports)]
            use super::*;
            /// The module's start (the WASI reactor's `_initialize`).
            #[no_mangle]
            pub extern "C" fn _initialize() {
                $crate::proxy::initialize::<$policy>();
            }
        }
    };
}
