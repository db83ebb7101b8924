//! Raw ABI checks: bad guest pointers, unknown codes, serialized maps, buffer status, foreign callbacks.

use crate::support::{raw_host, reports};

#[test]
fn bad_pointers_return_invalid_memory_access() -> anyhow::Result<()> {
    let mut host = raw_host("bad-pointers")?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &[(":path", "/")], true)?;
    let r = reports(&host);
    let names = [
        "proxy_log",
        "proxy_log_len",
        "proxy_get_log_level",
        "proxy_get_current_time_nanoseconds",
        "proxy_get_buffer_bytes",
        "proxy_set_buffer_bytes",
        "proxy_get_buffer_status",
        "proxy_get_header_map_size",
        "proxy_get_header_map_pairs",
        "proxy_set_header_map_pairs",
        "proxy_get_header_map_value",
        "proxy_get_header_map_value_ret",
        "proxy_add_header_map_value",
        "proxy_replace_header_map_value",
        "proxy_remove_header_map_value",
        "proxy_send_local_response",
        "proxy_http_call",
        "proxy_grpc_call",
        "proxy_grpc_stream",
        "proxy_grpc_send",
        "proxy_set_shared_data",
        "proxy_get_shared_data",
        "proxy_get_shared_data_cas",
        "proxy_register_shared_queue",
        "proxy_register_shared_queue_ret",
        "proxy_resolve_shared_queue",
        "proxy_enqueue_shared_queue",
        "proxy_dequeue_shared_queue",
        "proxy_define_metric",
        "proxy_define_metric_ret",
        "proxy_get_metric",
        "proxy_get_property",
        "proxy_set_property",
        "proxy_call_foreign_function",
        "proxy_get_status",
    ];
    for name in names {
        assert_eq!(r.get(name).map(String::as_str), Some("6"), "{name}");
    }
    // Nothing of the failed calls took effect, and the host is fine.
    assert!(host.stream(s)?.local_reply.is_none());
    assert!(host.http_callouts().is_empty());
    assert!(!host.vm_failed());
    // The one item enqueued with a valid pointer is still there: the failed dequeue did not drop it.
    assert_eq!(host.queue_items("abc").map(|q| q.len()), Some(1));
    Ok(())
}

#[test]
fn unknown_codes_and_refused_operations() -> anyhow::Result<()> {
    let mut host = raw_host("codes")?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &[(":path", "/")], true)?;
    let r = reports(&host);
    let want = [
        ("log_level_9", "2"),
        ("buffer_99", "2"),
        ("buffer_set_vm_config", "2"),
        ("buffer_upstream_in_http", "1"),
        ("map_99", "2"),
        ("map_set_call_response", "2"),
        ("metric_type_9", "2"),
        ("record_unknown_metric", "1"),
        ("increment_unknown_metric", "1"),
        ("continue_9", "2"),
        ("close_9", "2"),
        ("effective_unknown", "2"),
        ("done_not_pending", "1"),
        ("grpc_cancel_unknown", "1"),
        ("grpc_close_unknown", "1"),
        ("grpc_send_unknown", "1"),
        ("dequeue_unknown", "1"),
        ("enqueue_unknown", "1"),
        ("resolve_unknown", "1"),
        ("dequeue_empty", "7"),
        ("property_unknown", "1"),
        ("tick_period", "0"),
        ("set_map_malformed", "2"),
        ("buffer_inject_middle", "2"),
        ("buffer_get_past_end", "2"),
    ];
    for (name, code) in want {
        assert_eq!(r.get(name).map(String::as_str), Some(code), "{name}");
    }
    Ok(())
}

#[test]
fn serialized_maps() -> anyhow::Result<()> {
    let mut host = raw_host("maps")?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &[(":path", "/a"), ("x-b", "2")], true)?;
    let r = reports(&host);
    let expected = palisade_harness::serialize_pairs(&[
        (":path".into(), "/a".into()),
        ("x-b".into(), "2".into()),
    ]);
    assert_eq!(r["map_size"], expected.len().to_string());
    assert_eq!(r["map_pairs_len"], expected.len().to_string());
    assert_eq!(r["map_pairs_count"], "2");
    assert_eq!(r["set_empty_map"], "0");
    assert_eq!(r["map_size_after_empty"], "4");
    assert_eq!(r["map_value"], "0");
    assert_eq!(r["map_value_text"], "1");
    assert_eq!(r["map_value_missing"], "1");
    assert_eq!(host.stream(s)?.request_headers.pairs().len(), 1);
    Ok(())
}

#[test]
fn buffer_status_and_foreign_callback() -> anyhow::Result<()> {
    let mut host = raw_host("buffer-status")?;
    let r = reports(&host);
    assert_eq!(r["buffer_status"], "0:13:0");
    assert_eq!(r["buffer_status_body_in_root"], "1");
    host.call_plugin_foreign_function("raw", 7, b"args")?;
    assert_eq!(reports(&host)["foreign_callback"], "7:0:args");
    Ok(())
}
