//! End-to-end tests in real Envoy: each module builds a filter to wasm (once per process),
//! starts Envoy on free loopback ports with the filter's config from `envoy-configs/`, and
//! checks what clients and a real echo upstream see.
#![allow(unreachable_pub)] // test modules share helpers with `pub`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod configs;
mod events;
mod istio;
mod mtls;
mod native;
mod sdk;
mod support;
mod tenant_header;
