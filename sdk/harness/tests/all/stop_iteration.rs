//! A paused `proxy_on_request_headers` with and without Envoy's `allow_on_headers_stop_iteration`, and
//! the request headers once they went on (measured against Envoy 1.40 with the probe filter).

use std::time::Duration;

use palisade_harness::{Action, HostBuilder, LogLevel, PluginConfig};

use crate::support::{get, probe};

fn host(allow_stop_iteration: bool, configuration: &str) -> anyhow::Result<palisade_harness::Host> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(
            PluginConfig::new("http")
                .configuration(configuration)
                .allow_on_headers_stop_iteration(allow_stop_iteration),
        )
        .build()?;
    assert!(host.start()?.ok());
    Ok(host)
}

fn body_callbacks(host: &palisade_harness::Host) -> Vec<String> {
    host.log_messages(LogLevel::Info)
        .into_iter()
        .filter(|m| m.starts_with("request_body") || m.starts_with("request headers"))
        .map(str::to_string)
        .collect()
}

#[test]
fn by_default_a_paused_header_callback_holds_the_body_from_the_plugin() -> anyhow::Result<()> {
    let mut host = host(false, "")?;
    let s = host.new_http_stream()?;
    assert_eq!(
        host.request_headers(s, &get("pause"), false)?,
        Action::Pause
    );
    assert!(host.stream(s)?.request_stopped_all);
    assert_eq!(host.request_body(s, b"abc", false)?, Action::Pause);
    assert_eq!(host.request_body(s, b"de", false)?, Action::Pause);
    assert_eq!(host.request_trailers(s, &[("x-t", "1")])?, Action::Pause);
    // Nothing reaches the plugin and nothing goes upstream: the request hangs, as in Envoy.
    assert!(body_callbacks(&host).is_empty());
    let stream = host.stream(s)?;
    assert!(stream.request_paused && !stream.request_headers_sent);
    assert!(stream.request_body.is_empty());
    assert_eq!(stream.request_body_buffered, b"abcde");
    Ok(())
}

#[test]
fn resumed_after_stopping_all_the_plugin_gets_the_held_body_at_once() -> anyhow::Result<()> {
    let mut host = host(false, "tick=100")?;
    let s = host.new_http_stream()?;
    assert_eq!(
        host.request_headers(s, &get("resume-later,headers-in-body"), false)?,
        Action::Pause
    );
    host.request_body(s, b"hello ", false)?;
    host.request_body(s, b"world", true)?;
    assert!(body_callbacks(&host).is_empty());
    host.advance_time(Duration::from_millis(400))?;
    // One callback with the whole body and the end of the stream; the headers already went on.
    assert_eq!(
        body_callbacks(&host),
        vec![
            "request_body 11 true".to_string(),
            "request headers in body: pairs 0 (0 bytes), get 2, replace 2, add 2, remove 2, size 2"
                .to_string(),
        ]
    );
    let stream = host.stream(s)?;
    assert!(!stream.request_paused && !stream.request_stopped_all);
    assert_eq!(stream.request_body, b"hello world");
    Ok(())
}

#[test]
fn with_allow_on_headers_stop_iteration_the_body_reaches_the_paused_plugin() -> anyhow::Result<()> {
    let mut host = host(true, "")?;
    let s = host.new_http_stream()?;
    assert_eq!(
        host.request_headers(s, &get("pause,headers-in-body,pause-body"), false)?,
        Action::Pause
    );
    assert!(!host.stream(s)?.request_stopped_all);
    assert_eq!(host.request_body(s, b"abc", false)?, Action::Pause);
    assert_eq!(host.request_body(s, b"de", true)?, Action::Continue);
    let callbacks = body_callbacks(&host);
    assert_eq!(callbacks[0], "request_body 3 false");
    // The headers are still held: the plugin reads and changes them.
    assert!(
        callbacks[1].starts_with("request headers in body: pairs 0 (")
            && callbacks[1].contains("get 0, replace 0, add 0, remove 0, size 0"),
        "{callbacks:?}"
    );
    assert_eq!(callbacks[2], "request_body 5 true");
    let stream = host.stream(s)?;
    assert_eq!(stream.request_body, b"abcde");
    assert_eq!(
        stream.request_headers.get("x-set-in-body"),
        None,
        "removed again"
    );
    Ok(())
}

#[test]
fn request_headers_that_went_on_are_gone_for_the_plugin() -> anyhow::Result<()> {
    let mut host = host(false, "")?;
    let s = host.new_http_stream()?;
    assert_eq!(
        host.request_headers(s, &get("headers-in-body"), false)?,
        Action::Continue
    );
    assert!(host.stream(s)?.request_headers_sent);
    host.request_body(s, b"x", true)?;
    assert_eq!(
        body_callbacks(&host)[1],
        "request headers in body: pairs 0 (0 bytes), get 2, replace 2, add 2, remove 2, size 2"
    );
    Ok(())
}
