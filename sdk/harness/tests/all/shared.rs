//! Shared data with CAS, shared queues with on_queue_ready.

use palisade_harness::{HarnessError, LogLevel};

use crate::support::{get, probe_host};

#[test]
fn shared_data_with_cas() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    host.set_shared_data("probe_key", b"v");
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("shared"), true)?;
    let h = &host.stream(s)?.request_headers;
    assert_eq!(h.get("x-shared-set"), Some("Ok(())"));
    assert_eq!(h.get("x-shared-stale"), Some("Err(CasMismatch)"));
    assert_eq!(h.get("x-shared-value"), Some("vx"));
    assert_eq!(
        host.shared_data("probe_key").map(|(v, _)| v.to_vec()),
        Some(b"vx".to_vec())
    );
    assert_eq!(host.shared_data_keys(), vec!["probe_key"]);
    Ok(())
}

#[test]
fn queues_register_resolve_enqueue_dequeue() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    // The plugin registered "probe_queue" in on_configure; the test enqueues, the plugin is notified.
    host.enqueue("probe_queue", b"from-test")?;
    let logs = host.log_messages(LogLevel::Info);
    assert!(logs.iter().any(|m| m.ends_with("item: from-test")));
    assert_eq!(host.queue_items("probe_queue"), Some(vec![]));
    // A stream resolves the queue and enqueues; the root context's on_queue_ready drains it.
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("enqueue"), true)?;
    let h = &host.stream(s)?.request_headers;
    assert_eq!(h.get("x-enqueue"), Some("Ok(())"));
    assert_eq!(h.get("x-resolve-missing"), Some("Ok(None)"));
    assert!(host
        .log_messages(LogLevel::Info)
        .iter()
        .any(|m| m.ends_with("item: from-stream")));
    assert!(matches!(
        host.enqueue("nope", b"x"),
        Err(HarnessError::UnknownQueue(_))
    ));
    assert_eq!(host.dequeue("probe_queue")?, None);
    Ok(())
}
