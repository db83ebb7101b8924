//! Reliability and security of the shipped filters: host-call faults, the fail-closed matrix,
//! resource bounds (runaway policies, large bodies, soaks) and security checks. Each row of
//! docs/RELIABILITY.md names the test here that backs it.
#![allow(unreachable_pub)] // test modules share helpers with `pub`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout // the tests print their tables (fault matrix, figures)
)]

mod bounds;
mod fail_closed;
mod faults;
mod security;
mod soak;
mod support;
