//! proxy_http_call and proxy_on_http_call_response: answered, failed, timed out, refused.

use std::time::Duration;

use palisade_harness::{
    Action, CalloutState, HarnessError, HostBuilder, HttpResponse, PluginConfig,
};

use crate::support::{get, probe, probe_host};

#[test]
fn callout_answered_resumes_the_request() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    assert_eq!(
        host.request_headers(s, &get("callout"), false)?,
        Action::Pause
    );
    // Body arriving while the headers are paused is held from the plugin too (Envoy's default turns
    // the pause into StopAllIteration).
    assert_eq!(host.request_body(s, b"payload", true)?, Action::Pause);
    assert!(!host
        .logs()
        .iter()
        .any(|l| l.message.starts_with("request_body")));
    let callouts = host.pending_http_callouts();
    assert_eq!(callouts.len(), 1);
    let c = callouts[0];
    assert_eq!(c.upstream, "auth_cluster");
    assert_eq!(c.headers.get(":path"), Some("/check"));
    assert_eq!(c.headers.get("x-from"), Some("probe"));
    assert_eq!(c.body, b"callout-body");
    assert_eq!(c.trailers.get("x-trailer"), Some("t"));
    assert_eq!(c.timeout, Duration::from_millis(500));
    assert_eq!(c.context_id, s.0);
    let token = c.token;
    host.respond_http_callout(
        token,
        HttpResponse::new(200).body("user-1").trailer("x-t", "tv"),
    )?;
    let stream = host.stream(s)?;
    assert_eq!(stream.request_headers.get("x-auth"), Some("user-1"));
    assert_eq!(stream.request_headers.get("x-auth-trailer"), Some("tv"));
    assert!(!stream.request_paused);
    assert_eq!(stream.request_resumed, 1);
    assert_eq!(stream.request_body, b"payload");
    // Resumed, the plugin gets the held body in one callback.
    assert!(host
        .logs()
        .iter()
        .any(|l| l.message == "request_body 7 true"));
    assert_eq!(
        host.http_callout(token).map(|c| c.state.clone()),
        Some(CalloutState::Answered)
    );
    assert!(matches!(
        host.respond_http_callout(token, HttpResponse::new(200)),
        Err(HarnessError::CalloutNotPending(_))
    ));
    Ok(())
}

#[test]
fn every_pending_callout_answered_at_once() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let first = host.new_http_stream()?;
    host.request_headers(first, &get("callout"), true)?;
    let second = host.new_http_stream()?;
    host.request_headers(second, &get("callout"), true)?;
    let answered = host.respond_pending_http_callouts(&HttpResponse::new(200).body("user-1"))?;
    let streams: Vec<u32> = answered.iter().map(|c| c.context_id).collect();
    assert_eq!(streams, [first.0, second.0], "in dispatch order");
    assert!(answered.iter().all(|c| c.body == b"callout-body"));
    assert!(host.pending_http_callouts().is_empty());
    for s in [first, second] {
        assert_eq!(
            host.stream(s)?.request_headers.get("x-auth"),
            Some("user-1")
        );
    }
    assert!(host
        .respond_pending_http_callouts(&HttpResponse::new(200))?
        .is_empty());
    Ok(())
}

#[test]
fn callout_denied() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("callout"), true)?;
    let token = host.pending_http_callouts()[0].token;
    host.respond_http_callout(token, HttpResponse::new(401))?;
    let reply = host.stream(s)?.local_reply.clone().expect("reply");
    assert_eq!(reply.status, 403);
    assert_eq!(reply.headers.get("x-callout-status"), Some("401"));
    Ok(())
}

#[test]
fn callout_failure_delivers_zero_headers() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("callout"), true)?;
    let token = host.pending_http_callouts()[0].token;
    host.fail_http_callout(token)?;
    assert_eq!(
        host.stream(s)?.local_reply.as_ref().map(|r| r.status),
        Some(503)
    );
    assert!(host
        .log_messages(palisade_harness::LogLevel::Info)
        .contains(&format!("callout {token}: headers=0 body=0 trailers=0").as_str()));
    Ok(())
}

#[test]
fn callout_times_out_on_the_virtual_clock() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("callout"), true)?;
    let token = host.pending_http_callouts()[0].token;
    host.advance_time(Duration::from_millis(499))?;
    assert!(host.stream(s)?.local_reply.is_none());
    host.advance_time(Duration::from_millis(1))?;
    assert_eq!(
        host.http_callout(token).map(|c| c.state.clone()),
        Some(CalloutState::TimedOut)
    );
    // As in Envoy, the timeout arrives as the router's 504, which the probe turns into a 403.
    let reply = host.stream(s)?.local_reply.clone().expect("reply");
    assert_eq!(reply.status, 403);
    assert_eq!(reply.headers.get("x-callout-status"), Some("504"));
    assert!(host
        .log_messages(palisade_harness::LogLevel::Info)
        .contains(&format!("callout {token}: headers=3 body=24 trailers=0").as_str()));
    Ok(())
}

#[test]
fn callout_to_an_upstream_without_healthy_endpoints_fails_at_dispatch() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("http"))
        .unhealthy_upstreams(&["auth_cluster"])
        .build()?;
    assert!(host.start()?.ok());
    let s = host.new_http_stream()?;
    assert_eq!(
        host.request_headers(s, &get("callout"), true)?,
        Action::Continue
    );
    assert_eq!(
        host.stream(s)?.request_headers.get("x-callout-error"),
        Some("InternalFailure")
    );
    assert!(host.http_callouts().is_empty());
    Ok(())
}

#[test]
fn callout_without_required_headers_or_to_unknown_upstream_is_refused() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    assert_eq!(
        host.request_headers(s, &get("callout-bad"), true)?,
        Action::Continue
    );
    assert_eq!(
        host.stream(s)?.request_headers.get("x-callout-error"),
        Some("BadArgument")
    );
    let mut host = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("http"))
        .upstreams(&["other"])
        .build()?;
    assert!(host.start()?.ok());
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("callout"), true)?;
    assert_eq!(
        host.stream(s)?.request_headers.get("x-callout-error"),
        Some("BadArgument")
    );
    assert!(host.http_callouts().is_empty());
    Ok(())
}

#[test]
fn a_callout_outlives_its_stream_and_answers_to_the_root_context() -> anyhow::Result<()> {
    // As in Envoy: the callout belongs to the root context; the client went away (the stream
    // logged, finished and was deleted), and the response still arrives, with the root's id.
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("callout"), true)?;
    let callout = host.pending_http_callouts()[0].clone();
    assert_eq!((callout.context_id, callout.root_context_id), (s.0, 1));
    host.finish_stream(s)?;
    assert_eq!(
        host.http_callout(callout.token).map(|c| c.state.clone()),
        Some(CalloutState::Pending)
    );
    host.respond_http_callout(callout.token, HttpResponse::new(200))?;
    assert_eq!(
        host.http_callout(callout.token).map(|c| c.state.clone()),
        Some(CalloutState::Answered)
    );
    assert!(!host.vm_failed());
    Ok(())
}

#[test]
fn callout_answer_without_trailers() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("callout"), true)?;
    let token = host.pending_http_callouts()[0].token;
    // An HTTP/1 answer has no trailers; the probe looks at them only when the count says so.
    host.respond_http_callout(token, HttpResponse::new(200).body("user-2"))?;
    let stream = host.stream(s)?;
    assert_eq!(stream.request_headers.get("x-auth"), Some("user-2"));
    assert_eq!(stream.request_headers.get("x-auth-trailer"), Some(""));
    assert!(!host.vm_failed());
    assert!(host
        .log_messages(palisade_harness::LogLevel::Info)
        .contains(&format!("callout {token}: headers=1 body=6 trailers=0").as_str()));
    Ok(())
}
