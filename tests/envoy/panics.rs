//! A policy that panics: the SDK's panic hook logs it at critical level, and Envoy applies the
//! config's failure policy (FAIL_CLOSED in `envoy-configs/tenant-header.yaml`: a 503).

use palisade_cli::echo::EchoServer;

use crate::support::{self, get};

#[test]
fn a_panic_is_logged_at_critical_and_fails_closed() {
    let upstream = EchoServer::start().unwrap();
    // The tenant-header config, running the panicking test policy instead of the example.
    let config = support::config(
        "tenant-header.yaml",
        &upstream,
        &support::wasm("panic-on-header"),
    );
    let envoy = support::start(&config);

    let reply = get(&envoy, "/", &[]);
    assert_eq!(
        reply.status, 200,
        "a request that does not panic passes: {reply:?}"
    );

    let reply = get(&envoy, "/", &[("x-panic", "test")]);
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(
        upstream.received().len(),
        1,
        "the panicking request reached upstream"
    );

    let log = envoy.log();
    let line = log
        .lines()
        .find(|l| l.contains("palisade: panicked at"))
        .unwrap_or_else(|| panic!("no panic line in Envoy's log:\n{log}"));
    assert!(line.contains("[critical]"), "{line}");
    // The panic's message follows on the next line of the same log entry.
    assert!(log.contains("asked to panic: test"), "{log}");
}
