//! Integration tests: every host function and WASI import exercised against compiled test filters.

mod callouts;
mod events;
mod failure;
mod faults;
mod front_door;
mod grpc;
mod http;
mod lifecycle;
mod observe;
mod process;
mod properties;
mod raw_abi;
mod shared;
mod stop_iteration;
mod support;
mod tcp;
mod time;
mod wasi;
