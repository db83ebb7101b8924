//! Decision events through a compiled filter (the tenant-header example with an `events`
//! section): queue limits, batching, the retry rules, backoff on the virtual clock, metrics,
//! and configuration errors. Sent bodies are decoded with the `cloudevents-sdk` crate.
// Test helpers: a metric the filter did not define should fail the test loudly.
#![allow(clippy::panic)]

use std::time::Duration;

use cloudevents::AttributesReader as _;
use palisade_harness::{
    Host, HostBuilder, HttpCallout, HttpResponse, LogLevel, MetricValue, PluginConfig,
};
use serde_json::{json, Value};

use crate::support::wasm;

const SINK: &str = "event_sink";
const ROOT: &str = "tenant";

/// A started host running tenant-header (tenant `acme` allowed) with this `events` section.
fn host_with(events: Value) -> anyhow::Result<Host> {
    let mut host = builder(events).build()?;
    anyhow::ensure!(
        host.start()?.ok(),
        "configuration rejected: {:?}",
        host.logs()
    );
    Ok(host)
}

fn builder(events: Value) -> HostBuilder {
    let config = json!({"allowed_tenants": ["acme"], "events": events});
    HostBuilder::from_file(wasm("tenant-header"))
        .plugin(
            PluginConfig::new(ROOT)
                .name("edge-tenants")
                .configuration(config.to_string()),
        )
        .property("source.address", "10.1.2.3:5555")
}

/// One request for `path`, with `tenant` in `x-tenant-id` when given; the stream is finished.
fn request(host: &mut Host, path: &str, tenant: Option<&str>) -> anyhow::Result<()> {
    let s = host.new_http_stream()?;
    let mut headers = vec![
        (":method", "GET"),
        (":path", path),
        (":authority", "shop.example"),
        (":scheme", "https"),
        ("authorization", "Bearer secret"),
    ];
    if let Some(tenant) = tenant {
        headers.push(("x-tenant-id", tenant));
    }
    host.request_headers(s, &headers, true)?;
    host.finish_stream(s)?;
    Ok(())
}

/// `n` allowed requests for `/r<first>` ... `/r<first+n-1>`.
fn requests(host: &mut Host, range: std::ops::Range<usize>) -> anyhow::Result<()> {
    for i in range {
        request(host, &format!("/r{i}"), Some("acme"))?;
    }
    Ok(())
}

fn sink_calls(host: &Host) -> Vec<&HttpCallout> {
    host.http_callouts()
        .into_iter()
        .filter(|c| c.upstream == SINK)
        .collect()
}

fn last_call(host: &Host) -> anyhow::Result<HttpCallout> {
    sink_calls(host)
        .last()
        .map(|c| (*c).clone())
        .ok_or_else(|| anyhow::anyhow!("no callout to the sink"))
}

/// The events of a batched callout, decoded by cloudevents-sdk.
fn batch(callout: &HttpCallout) -> anyhow::Result<Vec<cloudevents::Event>> {
    Ok(serde_json::from_slice(&callout.body)?)
}

/// The request paths (subjects) of a batched callout's events.
fn subjects(callout: &HttpCallout) -> anyhow::Result<Vec<String>> {
    Ok(batch(callout)?
        .iter()
        .map(|e| e.subject().unwrap_or_default().to_string())
        .collect())
}

fn paths(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("/r{i}")).collect()
}

fn data(event: &cloudevents::Event) -> anyhow::Result<Value> {
    match event.data() {
        Some(cloudevents::Data::Json(value)) => Ok(value.clone()),
        other => anyhow::bail!("expected JSON data, got {other:?}"),
    }
}

fn counter(host: &Host, name: &str) -> u64 {
    match host.metric(&format!("palisade.tenant_header.events.{name}")) {
        Some(MetricValue::Counter(n)) => n,
        other => panic!("counter {name}: {other:?}"),
    }
}

fn queued(host: &Host) -> i64 {
    match host.metric("palisade.tenant_header.events.queued") {
        Some(MetricValue::Gauge(n)) => n,
        other => panic!("gauge queued: {other:?}"),
    }
}

/// emitted, delivered, retried, dropped.queue_full, dropped.rejected.
fn counts(host: &Host) -> [u64; 5] {
    [
        "emitted",
        "delivered",
        "retried",
        "dropped.queue_full",
        "dropped.rejected",
    ]
    .map(|name| counter(host, name))
}

fn respond(host: &mut Host, status: u16) -> anyhow::Result<()> {
    let token = last_call(host)?.token;
    host.respond_http_callout(token, HttpResponse::new(status))?;
    Ok(())
}

const SECOND: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

#[test]
fn decision_events_reach_the_sink_in_one_batch() -> anyhow::Result<()> {
    let mut host = host_with(json!({
        "sink_cluster": SINK, "sink_path": "/ingest", "sink_authority": "events.local",
        "include_headers": ["x-tenant-id", "authorization"]
    }))?;
    assert_eq!(host.tick_period(ROOT)?, Some(SECOND));
    request(&mut host, "/orders?id=1", Some("acme"))?;
    request(&mut host, "/orders", None)?;
    request(&mut host, "/admin", Some("mallory"))?;
    assert!(
        sink_calls(&host).is_empty(),
        "requests never wait for the sink"
    );
    assert_eq!(queued(&host), 3);

    host.advance_time(SECOND)?;
    let call = last_call(&host)?;
    assert_eq!(call.headers.get(":method"), Some("POST"));
    assert_eq!(call.headers.get(":path"), Some("/ingest"));
    assert_eq!(call.headers.get(":authority"), Some("events.local"));
    assert_eq!(
        call.headers.get("content-type"),
        Some("application/cloudevents-batch+json; charset=UTF-8")
    );
    assert_eq!(call.timeout, Duration::from_secs(5));
    let events = batch(&call)?;
    assert_eq!(events.len(), 3);
    for event in &events {
        assert_eq!(event.ty(), "io.palisade.tenant_header.decision");
        assert_eq!(event.source().as_str(), "/palisade/edge-tenants");
        assert_eq!(event.datacontenttype(), Some("application/json"));
        assert!(event.time().is_some());
    }
    assert_ne!(events[0].id(), events[1].id());
    assert_eq!(events[0].subject(), Some("/orders"));
    let allowed = data(&events[0])?;
    assert_eq!(allowed["allowed"], true);
    assert_eq!(allowed["status"], 200);
    assert_eq!(
        allowed["request"],
        json!({"method": "GET", "path": "/orders?id=1", "host": "shop.example",
               "source_address": "10.1.2.3:5555"})
    );
    assert_eq!(
        allowed["headers"],
        json!({"x-tenant-id": "acme", "authorization": "[REDACTED]"})
    );
    assert_eq!(allowed["decision_id"].as_str().map(str::len), Some(36));
    assert!(allowed["eval_time_us"].is_u64());
    assert_eq!(
        (
            data(&events[1])?["allowed"].clone(),
            data(&events[1])?["status"].clone()
        ),
        (json!(false), json!(401))
    );
    assert_eq!(data(&events[2])?["status"], 403);

    respond(&mut host, 202)?;
    assert_eq!(counts(&host), [3, 3, 0, 0, 0]);
    assert_eq!(queued(&host), 0);
    host.advance_time(SECOND * 3)?;
    assert_eq!(sink_calls(&host).len(), 1, "an empty queue sends nothing");
    Ok(())
}

#[test]
fn events_are_off_without_an_events_section() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(wasm("tenant-header"))
        .plugin(PluginConfig::new(ROOT).configuration(r#"{"allowed_tenants": ["acme"]}"#))
        .build()?;
    assert!(host.start()?.ok());
    assert_eq!(host.tick_period(ROOT)?, None);
    requests(&mut host, 0..3)?;
    host.advance_time(SECOND * 5)?;
    assert!(host.http_callouts().is_empty());
    assert_eq!(host.metric("palisade.tenant_header.events.emitted"), None);
    Ok(())
}

#[test]
fn the_flush_interval_sets_the_tick() -> anyhow::Result<()> {
    let mut host = host_with(json!({"sink_cluster": SINK, "flush_interval_ms": 250}))?;
    assert_eq!(host.tick_period(ROOT)?, Some(Duration::from_millis(250)));
    requests(&mut host, 0..1)?;
    host.advance_time(249 * MS)?;
    assert!(sink_calls(&host).is_empty());
    host.advance_time(MS)?;
    assert_eq!(sink_calls(&host).len(), 1);
    Ok(())
}

#[test]
fn a_full_queue_drops_the_oldest_events() -> anyhow::Result<()> {
    let mut host = host_with(json!({
        "sink_cluster": SINK, "max_queue_events": 3, "max_batch_events": 3
    }))?;
    requests(&mut host, 0..5)?;
    assert_eq!(counts(&host), [5, 0, 0, 2, 0]);
    assert_eq!(queued(&host), 3);
    host.advance_time(SECOND)?;
    assert_eq!(subjects(&last_call(&host)?)?, paths(2..5));
    respond(&mut host, 200)?;
    assert_eq!(counts(&host), [5, 3, 0, 2, 0]);
    Ok(())
}

#[test]
fn the_byte_limit_bounds_the_queue() -> anyhow::Result<()> {
    let limit = 2000;
    let mut host = host_with(json!({"sink_cluster": SINK, "max_queue_bytes": limit}))?;
    requests(&mut host, 0..10)?;
    let kept = u64::try_from(queued(&host))?;
    assert!((1..10).contains(&kept), "{kept} events kept");
    assert_eq!(counter(&host, "dropped.queue_full"), 10 - kept);
    host.advance_time(SECOND)?;
    let call = last_call(&host)?;
    // The body is the kept events' encodings, comma-separated, in brackets.
    assert!(call.body.len() <= limit + 1 + usize::try_from(kept)?);
    let first_kept = 10 - usize::try_from(kept)?;
    assert_eq!(
        subjects(&call)?,
        paths(first_kept..10),
        "the newest are kept"
    );
    Ok(())
}

#[test]
fn batches_hold_max_batch_events_and_a_backlog_drains_at_once() -> anyhow::Result<()> {
    let mut host = host_with(json!({"sink_cluster": SINK, "max_batch_events": 4}))?;
    requests(&mut host, 0..10)?;
    host.advance_time(SECOND)?;
    assert_eq!(subjects(&last_call(&host)?)?, paths(0..4));
    respond(&mut host, 200)?;
    // A full batch was waiting: it goes at once, not at the next tick.
    assert_eq!(sink_calls(&host).len(), 2);
    assert_eq!(subjects(&last_call(&host)?)?, paths(4..8));
    respond(&mut host, 200)?;
    assert_eq!(
        sink_calls(&host).len(),
        2,
        "a partial batch waits for the tick"
    );
    host.advance_time(SECOND)?;
    assert_eq!(subjects(&last_call(&host)?)?, paths(8..10));
    respond(&mut host, 200)?;
    assert_eq!(counts(&host), [10, 10, 0, 0, 0]);
    Ok(())
}

/// How the sink answers in [`every_retry_rule`].
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    Failure,
    Timeout,
}

#[test]
fn every_retry_rule() -> anyhow::Result<()> {
    let cases = [
        (Answer::Status(200), "delivered"),
        (Answer::Status(204), "delivered"),
        (Answer::Status(400), "rejected"),
        (Answer::Status(403), "rejected"),
        (Answer::Status(413), "rejected"),
        (Answer::Status(404), "retried"),
        (Answer::Status(409), "retried"),
        (Answer::Status(429), "retried"),
        (Answer::Status(500), "retried"),
        (Answer::Status(503), "retried"),
        (Answer::Failure, "retried"),
        (Answer::Timeout, "retried"),
    ];
    for (answer, want) in cases {
        let mut host = host_with(json!({"sink_cluster": SINK, "timeout_ms": 300}))?;
        requests(&mut host, 0..2)?;
        host.advance_time(SECOND)?;
        let first = last_call(&host)?;
        match answer {
            Answer::Status(status) => respond(&mut host, status)?,
            Answer::Failure => host.fail_http_callout(first.token)?,
            Answer::Timeout => host.advance_time(300 * MS)?,
        }
        let answered_at = host.elapsed();
        match want {
            "delivered" => assert_eq!(counts(&host), [2, 2, 0, 0, 0], "{answer:?}"),
            "rejected" => assert_eq!(counts(&host), [2, 0, 0, 0, 2], "{answer:?}"),
            _ => {
                assert_eq!(counts(&host), [2, 0, 2, 0, 0], "{answer:?}");
                assert_eq!(queued(&host), 2, "{answer:?}: kept for the retry");
                host.advance_time(100 * MS)?;
                let retry = last_call(&host)?;
                assert_ne!(retry.token, first.token, "{answer:?}");
                assert_eq!(retry.dispatched_at - answered_at, 100 * MS, "{answer:?}");
                assert_eq!(retry.body, first.body, "{answer:?}: the same events");
                respond(&mut host, 200)?;
                assert_eq!(counts(&host), [2, 2, 2, 0, 0], "{answer:?}");
            }
        }
        assert_eq!(queued(&host), 0, "{answer:?}");
        host.advance_time(SECOND * 2)?;
        let expected_calls = if want == "retried" { 2 } else { 1 };
        assert_eq!(sink_calls(&host).len(), expected_calls, "{answer:?}");
    }
    Ok(())
}

#[test]
fn backoff_doubles_on_the_virtual_clock_up_to_the_cap() -> anyhow::Result<()> {
    let mut host = host_with(json!({"sink_cluster": SINK}))?;
    requests(&mut host, 0..1)?;
    host.advance_time(SECOND)?;
    let mut waits = Vec::new();
    for _ in 0..11 {
        respond(&mut host, 503)?;
        let answered_at = host.elapsed();
        let calls = sink_calls(&host).len();
        // Let the clock run until the next attempt goes out.
        while sink_calls(&host).len() == calls {
            host.advance_time(MS * 50)?;
        }
        waits.push((last_call(&host)?.dispatched_at - answered_at).as_millis());
    }
    assert_eq!(
        waits,
        [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]
    );
    respond(&mut host, 200)?;
    assert_eq!(counts(&host), [1, 1, 11, 0, 0]);
    assert_eq!(
        host.tick_period(ROOT)?,
        Some(SECOND),
        "back to the flush interval"
    );
    // The next failure starts from the first step again.
    requests(&mut host, 1..2)?;
    host.advance_time(SECOND)?;
    respond(&mut host, 500)?;
    assert_eq!(host.tick_period(ROOT)?, Some(100 * MS));
    Ok(())
}

#[test]
fn retry_after_lengthens_the_wait() -> anyhow::Result<()> {
    let mut host = host_with(json!({"sink_cluster": SINK}))?;
    requests(&mut host, 0..1)?;
    host.advance_time(SECOND)?;
    let token = last_call(&host)?.token;
    host.respond_http_callout(token, HttpResponse::new(429).header("retry-after", "2"))?;
    let answered_at = host.elapsed();
    host.advance_time(SECOND * 3)?;
    assert_eq!(last_call(&host)?.dispatched_at - answered_at, SECOND * 2);
    Ok(())
}

#[test]
fn no_event_is_lost_while_the_sink_recovers() -> anyhow::Result<()> {
    let mut host = host_with(json!({"sink_cluster": SINK, "max_batch_events": 20}))?;
    // The sink is down for about a minute while requests keep coming.
    let mut sent = 0;
    while host.elapsed() < Duration::from_secs(60) {
        requests(&mut host, sent..sent + 3)?;
        sent += 3;
        host.advance_time(700 * MS)?;
        let pending: Vec<u32> = host
            .pending_http_callouts()
            .iter()
            .filter(|c| c.upstream == SINK)
            .map(|c| c.token)
            .collect();
        for (i, token) in pending.into_iter().enumerate() {
            if i % 2 == 0 {
                host.respond_http_callout(token, HttpResponse::new(503))?;
            } else {
                host.fail_http_callout(token)?;
            }
        }
    }
    assert_eq!(counter(&host, "delivered"), 0);
    assert_eq!(queued(&host), i64::try_from(sent)?);
    // The sink comes back: answer everything with 200 until the queue is empty.
    let mut delivered = Vec::new();
    while queued(&host) > 0 {
        host.advance_time(SECOND)?;
        while let Some(call) = host
            .pending_http_callouts()
            .into_iter()
            .find(|c| c.upstream == SINK)
            .cloned()
        {
            delivered.extend(subjects(&call)?);
            host.respond_http_callout(call.token, HttpResponse::new(200))?;
        }
    }
    assert_eq!(delivered, paths(0..sent), "every event, once, in order");
    let [emitted, delivered, retried, full, rejected] = counts(&host);
    assert_eq!(
        (emitted, delivered, full, rejected),
        (sent as u64, sent as u64, 0, 0)
    );
    assert!(retried > 0);
    Ok(())
}

#[test]
fn a_sink_without_healthy_endpoints_is_retried() -> anyhow::Result<()> {
    let mut host = builder(json!({"sink_cluster": SINK}))
        .unhealthy_upstreams(&[SINK])
        .build()?;
    assert!(host.start()?.ok());
    requests(&mut host, 0..2)?;
    host.advance_time(SECOND)?;
    assert!(
        host.http_callouts().is_empty(),
        "the dispatch itself failed"
    );
    assert_eq!(counts(&host), [2, 0, 2, 0, 0]);
    assert_eq!(host.tick_period(ROOT)?, Some(100 * MS));
    assert_eq!(queued(&host), 2);
    Ok(())
}

#[test]
fn binary_mode_sends_one_event_per_request() -> anyhow::Result<()> {
    let mut host = host_with(json!({"sink_cluster": SINK, "mode": "binary"}))?;
    request(&mut host, "/a b?q=\"x\"", Some("acme"))?;
    request(&mut host, "/two", Some("acme"))?;
    host.advance_time(SECOND)?;
    let calls = sink_calls(&host);
    assert_eq!(calls.len(), 1, "one request in flight at a time");
    let call = calls[0];
    assert_eq!(call.headers.get("ce-specversion"), Some("1.0"));
    assert_eq!(
        call.headers.get("ce-type"),
        Some("io.palisade.tenant_header.decision")
    );
    assert_eq!(
        call.headers.get("ce-source"),
        Some("/palisade/edge-tenants")
    );
    assert_eq!(call.headers.get("ce-subject"), Some("/a%20b"));
    assert!(call.headers.get("ce-id").is_some());
    assert!(call.headers.get("ce-time").is_some());
    assert_eq!(call.headers.get("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&call.body)?;
    assert_eq!(body["request"]["path"], "/a b?q=\"x\"");
    respond(&mut host, 200)?;
    let second = last_call(&host)?;
    assert_eq!(
        second.headers.get("ce-subject"),
        Some("/two"),
        "sent at once"
    );
    respond(&mut host, 200)?;
    assert_eq!(counts(&host), [2, 2, 0, 0, 0]);
    Ok(())
}

#[test]
fn structured_mode_sends_one_json_event_per_request() -> anyhow::Result<()> {
    let mut host = host_with(json!({"sink_cluster": SINK, "mode": "structured"}))?;
    requests(&mut host, 0..2)?;
    host.advance_time(SECOND)?;
    let call = last_call(&host)?;
    assert_eq!(
        call.headers.get("content-type"),
        Some("application/cloudevents+json; charset=UTF-8")
    );
    let event: cloudevents::Event = serde_json::from_slice(&call.body)?;
    assert_eq!(event.subject(), Some("/r0"));
    assert_eq!(data(&event)?["request"]["path"], "/r0");
    respond(&mut host, 200)?;
    let event: cloudevents::Event = serde_json::from_slice(&last_call(&host)?.body)?;
    assert_eq!(event.subject(), Some("/r1"));
    Ok(())
}

#[test]
fn metrics_account_for_every_event() -> anyhow::Result<()> {
    let mut host = host_with(json!({
        "sink_cluster": SINK, "max_queue_events": 5, "max_batch_events": 2
    }))?;
    requests(&mut host, 0..4)?;
    host.advance_time(SECOND)?;
    respond(&mut host, 400)?; // two rejected
    respond(&mut host, 503)?; // the next two wait for a retry
    requests(&mut host, 4..8)?; // one over the limit: the oldest goes
    let [emitted, delivered, retried, full, rejected] = counts(&host);
    assert_eq!(
        (emitted, delivered, retried, full, rejected),
        (8, 0, 2, 1, 2)
    );
    assert_eq!(
        emitted,
        delivered + full + rejected + u64::try_from(queued(&host))?
    );
    assert_eq!(counter(&host, "dropped.encode"), 0);
    assert_eq!(counter(&host, "dropped.reconfigured"), 0);
    Ok(())
}

#[test]
fn config_errors_name_the_events_field() -> anyhow::Result<()> {
    let cases = [
        (json!({}), "events.sink_cluster"),
        (json!({"sink_cluster": ""}), "events.sink_cluster"),
        (json!({"sink_cluster": SINK, "mode": "fast"}), "events.mode"),
        (
            json!({"sink_cluster": SINK, "flush_interval": 5}),
            "events.flush_interval",
        ),
        (
            json!({"sink_cluster": SINK, "flush_interval_ms": 0}),
            "events.flush_interval_ms",
        ),
        (
            json!({"sink_cluster": SINK, "max_queue_bytes": "4MiB"}),
            "events.max_queue_bytes",
        ),
        (
            json!({"sink_cluster": SINK, "sink_path": "ingest"}),
            "events.sink_path",
        ),
        (
            json!({"sink_cluster": SINK, "source": "a b"}),
            "events.source",
        ),
        (
            json!({"sink_cluster": SINK, "max_batch_events": 10, "max_queue_events": 5}),
            "events.max_batch_events",
        ),
        (
            json!({"sink_cluster": SINK, "include_headers": ["bad header"]}),
            "events.include_headers",
        ),
        (json!("event_sink"), "events"),
    ];
    for (events, field) in cases {
        let mut host = builder(events.clone()).build()?;
        let outcome = host.start()?;
        assert!(!outcome.ok(), "{events} was accepted");
        let logs = host.log_messages(LogLevel::Error);
        let want = format!("field `{field}`");
        assert!(
            logs.iter().any(|line| line.contains(&want)),
            "{events}: {logs:?}"
        );
    }
    // The policy's own fields are still checked, with `events` present.
    let mut host = HostBuilder::from_file(wasm("tenant-header"))
        .plugin(PluginConfig::new(ROOT).configuration(
            json!({"tenant_headr": "x", "events": {"sink_cluster": SINK}}).to_string(),
        ))
        .build()?;
    assert!(!host.start()?.ok());
    assert!(host
        .log_messages(LogLevel::Error)
        .iter()
        .any(|line| line.contains("field `tenant_headr`")));
    Ok(())
}

#[test]
fn reconfiguring_with_the_same_events_keeps_the_queue() -> anyhow::Result<()> {
    let mut host = host_with(json!({"sink_cluster": SINK}))?;
    requests(&mut host, 0..3)?;
    assert!(host.configure()?);
    assert_eq!(queued(&host), 3);
    host.advance_time(SECOND)?;
    assert_eq!(subjects(&last_call(&host)?)?, paths(0..3));
    Ok(())
}
