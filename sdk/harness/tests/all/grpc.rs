//! gRPC calls and streams: dispatch, metadata, messages, close with status, cancel, timeout.

use std::time::Duration;

use palisade_harness::{Action, CalloutState, GrpcKind, LogLevel};

use crate::support::{get, probe_host};

#[test]
fn grpc_call_answered() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    assert_eq!(host.request_headers(s, &get("grpc"), true)?, Action::Pause);
    let call = host.grpc_calls()[0].clone();
    assert_eq!(call.kind, GrpcKind::Call);
    assert_eq!(call.upstream, "grpc_cluster");
    assert_eq!(call.service, "probe.Service");
    assert_eq!(call.method, "Call");
    assert_eq!(call.initial_metadata.get("x-md"), Some("1"));
    assert_eq!(call.messages, vec![b"request".to_vec()]);
    assert_eq!(call.timeout, Duration::from_millis(1000));
    host.grpc_message(call.token, b"response")?;
    assert_eq!(
        host.stream(s)?.request_headers.get("x-grpc"),
        Some("response")
    );
    assert!(!host.stream(s)?.request_paused);
    host.grpc_close(call.token, 0, "")?;
    assert_eq!(
        host.grpc_call(call.token).map(|c| c.state.clone()),
        Some(CalloutState::Answered)
    );
    Ok(())
}

#[test]
fn grpc_call_error_status() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("grpc"), true)?;
    let token = host.grpc_calls()[0].token;
    host.grpc_close(token, 14, "unavailable")?;
    assert_eq!(
        host.stream(s)?.local_reply.as_ref().map(|r| r.status),
        Some(502)
    );
    assert!(host
        .log_messages(LogLevel::Info)
        .iter()
        .any(|m| m.ends_with("status=14 body= message=unavailable")));
    Ok(())
}

#[test]
fn grpc_call_times_out() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("grpc"), true)?;
    let token = host.grpc_calls()[0].token;
    host.advance_time(Duration::from_secs(1))?;
    assert_eq!(
        host.grpc_call(token).map(|c| c.state.clone()),
        Some(CalloutState::TimedOut)
    );
    assert_eq!(
        host.stream(s)?.local_reply.as_ref().map(|r| r.status),
        Some(502)
    );
    Ok(())
}

#[test]
fn grpc_cancel() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    assert_eq!(
        host.request_headers(s, &get("grpc-cancel"), true)?,
        Action::Continue
    );
    let token = host.grpc_calls()[0].token;
    assert_eq!(
        host.grpc_call(token).map(|c| c.state.clone()),
        Some(CalloutState::Cancelled)
    );
    assert!(host.grpc_message(token, b"late").is_err());
    Ok(())
}

#[test]
fn grpc_stream_round_trip() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    assert_eq!(
        host.request_headers(s, &get("grpc-stream"), true)?,
        Action::Pause
    );
    let token = host.grpc_calls()[0].token;
    assert_eq!(
        host.grpc_call(token).map(|c| c.kind),
        Some(GrpcKind::Stream)
    );
    assert_eq!(
        host.grpc_call(token).map(|c| c.messages.clone()),
        Some(vec![b"first".to_vec()])
    );
    host.grpc_initial_metadata(token, &[("x-init", "i")])?;
    host.grpc_message(token, b"hello")?;
    // The plugin replied on the stream and half-closed it.
    let call = host.grpc_call(token).cloned().expect("call");
    assert_eq!(call.messages, vec![b"first".to_vec(), b"reply".to_vec()]);
    assert!(call.local_closed);
    host.grpc_trailing_metadata(token, &[("x-trail", "t")])?;
    host.grpc_close(token, 0, "done")?;
    let logs = host.log_messages(LogLevel::Info);
    assert!(logs.contains(&format!("grpc stream {token} initial 1: i").as_str()));
    assert!(logs.contains(&format!("grpc stream {token} message: hello").as_str()));
    assert!(logs.contains(&format!("grpc stream {token} trailing 1: t").as_str()));
    assert!(logs.contains(&format!("grpc stream {token} closed: 0 done").as_str()));
    assert!(!host.stream(s)?.request_paused);
    Ok(())
}
