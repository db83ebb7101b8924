//! HTTP streams: header maps, bodies with buffering, trailers, local replies, continue/close.

use palisade_harness::Action;

use crate::support::{get, probe_host};

#[test]
fn header_map_functions() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    let mut headers = get("mutate");
    headers.extend([
        ("x-remove", "gone"),
        ("x-replaced", "old"),
        ("X-MiXeD", "Case"),
    ]);
    assert_eq!(host.request_headers(s, &headers, false)?, Action::Continue);
    let h = &host.stream(s)?.request_headers;
    assert_eq!(h.get("x-added"), Some("1"));
    assert_eq!(h.get("x-replaced"), Some("new"));
    assert_eq!(h.get("x-remove"), None);
    assert_eq!(h.get("x-count"), Some("8"));
    assert_eq!(h.get("x-path-seen"), Some("/items?id=7"));
    // Names are stored lower-cased, and lookups ignore case (Envoy's LowerCaseString).
    assert_eq!(h.get("x-mixed-seen"), Some("Case"));
    assert!(h.pairs().iter().all(|(k, _)| k.to_lowercase() == *k));
    Ok(())
}

#[test]
fn set_header_map_pairs_replaces_the_map() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("replace-all"), true)?;
    let h = &host.stream(s)?.request_headers;
    assert_eq!(
        h.pairs(),
        &[
            (":path".to_string(), "/replaced".to_string()),
            ("x-only".to_string(), "1".to_string())
        ]
    );
    Ok(())
}

#[test]
fn local_reply_ends_the_stream() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    assert_eq!(host.request_headers(s, &get("deny"), false)?, Action::Pause);
    let reply = host.stream(s)?.local_reply.clone().expect("local reply");
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body, b"denied");
    assert_eq!(reply.headers.get("x-denied"), Some("yes"));
    assert_eq!(reply.headers.get("content-length"), Some("6"));
    assert_eq!(reply.headers.get("content-type"), Some("text/plain"));
    // Envoy sends the reply through the plugin's own response callback, which adds its headers.
    assert_eq!(reply.headers.get("x-response-probe"), Some("1"));
    assert_eq!(reply.headers.get("x-upstream-status"), Some("403"));
    assert!(host
        .log_messages(palisade_harness::LogLevel::Info)
        .contains(&"response_headers 4"));
    assert_eq!(reply.grpc_status, None);
    // The rest of the stream is not delivered to the plugin.
    let before = host.logs().len();
    assert_eq!(host.request_body(s, b"data", true)?, Action::Ended);
    assert_eq!(
        host.response_headers(s, &[(":status", "200")], true)?,
        Action::Ended
    );
    assert_eq!(host.logs().len(), before);
    assert!(host.stream(s)?.request_body.is_empty());
    Ok(())
}

#[test]
fn body_is_buffered_while_paused() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("buffer"), false)?;
    assert_eq!(host.request_body(s, b"hello ", false)?, Action::Pause);
    assert_eq!(host.stream(s)?.request_body_buffered, b"hello ");
    assert!(host.stream(s)?.request_paused);
    assert_eq!(host.request_body(s, b"world", true)?, Action::Continue);
    let stream = host.stream(s)?;
    // The plugin saw the whole buffered body and replaced it (prepend-replace, then append).
    assert_eq!(stream.request_body, b"HELLO WORLD!");
    assert!(stream.request_body_buffered.is_empty());
    assert!(!stream.request_paused);
    let logs = host.log_messages(palisade_harness::LogLevel::Info);
    assert!(logs.contains(&"request_body 6 false"));
    assert!(logs.contains(&"request_body 11 true"));
    Ok(())
}

#[test]
fn body_continues_chunk_by_chunk() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get(""), false)?;
    assert_eq!(host.request_body(s, b"ab", false)?, Action::Continue);
    assert_eq!(host.request_body(s, b"cd", true)?, Action::Continue);
    assert_eq!(host.stream(s)?.request_body, b"abcd");
    let logs = host.log_messages(palisade_harness::LogLevel::Info);
    assert!(logs.contains(&"request_body 2 true"));
    Ok(())
}

#[test]
fn local_reply_from_body() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("deny-body"), false)?;
    host.request_body(s, b"x", false)?;
    assert_eq!(host.request_body(s, b"y", true)?, Action::Pause);
    assert_eq!(
        host.stream(s)?.local_reply.as_ref().map(|r| r.status),
        Some(413)
    );
    Ok(())
}

#[test]
fn response_side_and_trailers() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("buffer-response"), false)?;
    assert_eq!(host.request_trailers(s, &[("x-t", "1")])?, Action::Continue);
    assert_eq!(
        host.stream(s)?.request_trailers.get("x-trailer-added"),
        Some("1")
    );
    assert_eq!(
        host.response_headers(
            s,
            &[(":status", "201"), ("Content-Type", "text/plain")],
            false
        )?,
        Action::Continue
    );
    let stream = host.stream(s)?;
    assert_eq!(stream.response_headers.get("x-response-probe"), Some("1"));
    assert_eq!(
        stream.response_headers.get("x-upstream-status"),
        Some("201")
    );
    assert_eq!(
        stream.response_headers.get("content-type"),
        Some("text/plain")
    );
    assert_eq!(host.response_body(s, b"ok", false)?, Action::Pause);
    assert_eq!(host.response_body(s, b"!", true)?, Action::Continue);
    assert_eq!(host.stream(s)?.response_body, b"ok! [checked]");
    assert_eq!(
        host.response_trailers(s, &[("grpc-status", "0")])?,
        Action::Continue
    );
    assert_eq!(
        host.stream(s)?.response_trailers.get("x-response-trailer"),
        Some("seen")
    );
    Ok(())
}

#[test]
fn local_reply_from_response_headers() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("deny-response"), true)?;
    assert_eq!(
        host.response_headers(s, &[(":status", "200")], false)?,
        Action::Pause
    );
    assert_eq!(
        host.stream(s)?.local_reply.as_ref().map(|r| r.status),
        Some(451)
    );
    assert_eq!(host.response_body(s, b"x", true)?, Action::Ended);
    Ok(())
}

#[test]
fn pause_and_close_stream() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    assert_eq!(
        host.request_headers(s, &get("pause"), false)?,
        Action::Pause
    );
    assert!(host.stream(s)?.request_paused);
    let r = host.new_http_stream()?;
    host.request_headers(r, &get("reset"), true)?;
    assert!(host.stream(r)?.reset);
    assert_eq!(
        host.response_headers(r, &[(":status", "200")], true)?,
        Action::Ended
    );
    Ok(())
}

#[test]
fn streams_are_concurrent_and_finish_with_on_log() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let a = host.new_http_stream()?;
    let b = host.new_http_stream()?;
    host.request_headers(a, &get("pause"), false)?;
    host.request_headers(b, &get(""), true)?;
    assert!(host.stream(a)?.request_paused);
    assert!(!host.stream(b)?.request_paused);
    host.finish_stream(b)?;
    assert!(host.stream(b)?.deleted);
    let logs = host.log_messages(palisade_harness::LogLevel::Info);
    // As in Envoy: the access log (on_log) comes before on_done.
    let position = |m: String| logs.iter().position(|l| *l == m);
    let on_log = position(format!("on_log {}", b.0)).expect("on_log");
    let on_done = position(format!("on_done {}", b.0)).expect("on_done");
    assert!(on_log < on_done, "{logs:?}");
    assert!(!host.stream(a)?.deleted);
    Ok(())
}

#[test]
fn proxy_done_after_on_done_false() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("done-later"), true)?;
    host.finish_stream(s)?;
    assert!(!host.stream(s)?.deleted, "on_done returned false");
    // The root context's tick switches to the stream (proxy_set_effective_context) and calls proxy_done.
    host.tick("http")?;
    assert!(host.stream(s)?.deleted);
    let logs = host.log_messages(palisade_harness::LogLevel::Info);
    assert!(logs.contains(&format!("done {}: Ok(()) Ok(())", s.0).as_str()));
    assert!(logs.contains(&format!("on_log {}", s.0).as_str()));
    Ok(())
}
