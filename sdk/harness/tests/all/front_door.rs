//! The front door: a client's request through the filter, the upstream and the callout clusters
//! as one stream; and what only a whole stream shows (Envoy's foreign functions, per-stream
//! properties by segments). The filter is the raw-ABI recorder, which logs every callback.

use palisade_harness::{
    ClientRequest, Cluster, Host, HostBuilder, HttpResponse, LogLevel, PluginConfig,
    UpstreamResponse,
};

use crate::support::wasm;

fn recorder() -> anyhow::Result<Host> {
    let mut host = HostBuilder::from_file(wasm("palisade-harness-recorder"))
        .plugin(PluginConfig::new("recorder"))
        .cluster(
            "auth_cluster",
            Cluster::answering(HttpResponse::new(200).body("ok")),
        )
        .cluster("refused", Cluster::Refuses)
        .cluster("dead", Cluster::NoEndpoints)
        .upstream(|request| {
            UpstreamResponse::new(200)
                .header("x-path", request.headers.get(":path").unwrap_or_default())
                .body("hello ")
                .body("world")
                .trailer("grpc-status", "0")
        })
        .log_level(LogLevel::Info)
        .build()?;
    assert!(host.start()?.ok());
    Ok(host)
}

fn logs(host: &Host) -> Vec<&str> {
    host.logs().iter().map(|l| l.message.as_str()).collect()
}

#[test]
fn a_request_runs_through_filter_upstream_and_back() -> anyhow::Result<()> {
    let mut host = recorder()?;
    let request = ClientRequest::post("/orders?x=1")
        .header("x-recorder", "callout")
        .header("cache-control", "no-cache")
        .header("cache-control", "max-age=0")
        .body("a")
        .body("b");
    let exchange = host.client_request(&request)?;
    let upstream = exchange
        .upstream
        .clone()
        .expect("the request reached the upstream");
    assert_eq!(upstream.headers.get(":path"), Some("/orders?x=1"));
    assert_eq!(
        upstream.headers.get("cache-control"),
        Some("no-cache,max-age=0")
    );
    assert_eq!(upstream.headers.get("transfer-encoding"), Some("chunked"));
    assert_eq!(
        upstream.headers.get("x-envoy-expected-rq-timeout-ms"),
        Some("15000")
    );
    assert_eq!(upstream.body, b"ab");
    assert_eq!(exchange.response.status, 200);
    assert_eq!(exchange.response.headers.get("x-path"), Some("/orders?x=1"));
    assert_eq!(exchange.response.body, b"hello world");
    assert_eq!(exchange.response.trailers.get("grpc-status"), Some("0"));
    let logs = logs(&host);
    let expected = [
        "cb request_headers ctx=stream headers=",
        "callout dispatched",
        "cb http_call_response ctx=root token=dispatched",
        "cb request_body ctx=stream size=1 end=0",
        "cb request_body ctx=stream size=1 end=0",
        "cb request_body ctx=stream size=0 end=1",
        "cb response_headers ctx=stream headers=",
        "cb response_body ctx=stream size=6 end=0",
        "cb response_body ctx=stream size=5 end=0",
        "cb response_trailers ctx=stream trailers=1",
        "cb log ctx=stream",
        "cb delete ctx=stream",
    ];
    let mut rest = logs.as_slice();
    for want in expected {
        let at = rest
            .iter()
            .position(|l| l.contains(want))
            .unwrap_or_else(|| panic!("no {want:?} in order in {logs:#?}"));
        rest = &rest[at + 1..];
    }
    // The same request again gives the same exchange, but for its stream.
    let again = host.client_request(&request)?;
    assert_eq!(again.response, exchange.response);
    assert_ne!(again.stream, exchange.stream);
    Ok(())
}

#[test]
fn a_local_reply_never_reaches_the_upstream() -> anyhow::Result<()> {
    let mut host = recorder()?;
    let exchange = host.client_request(
        &ClientRequest::get("/")
            .header("x-recorder", "reply")
            .header("x-status", "401"),
    )?;
    assert_eq!(exchange.upstream, None);
    assert_eq!(exchange.response.status, 401);
    assert_eq!(exchange.response.body, b"denied");
    assert_eq!(
        exchange.response.headers.get("x-recorder-reply"),
        Some("yes")
    );
    Ok(())
}

#[test]
fn a_refused_callout_gets_envoys_503_and_a_cluster_without_endpoints_fails_dispatch(
) -> anyhow::Result<()> {
    let mut host = recorder()?;
    let request = ClientRequest::get("/")
        .header("x-recorder", "callout")
        .header("x-cluster", "refused");
    host.client_request(&request)?;
    assert!(logs(&host).iter().any(|l| l.contains("status=\"503\"")));
    assert!(logs(&host)
        .iter()
        .any(|l| l.contains("reset reason: remote connection failure")));
    let dead = ClientRequest::get("/")
        .header("x-recorder", "callout")
        .header("x-cluster", "dead");
    host.client_request(&dead)?;
    assert!(logs(&host)
        .iter()
        .any(|l| l.contains("callout refused status=10")));
    Ok(())
}

#[test]
fn a_filter_that_holds_the_request_for_good_is_an_error() -> anyhow::Result<()> {
    let mut host = recorder()?;
    let error = host
        .client_request(&ClientRequest::get("/").header("x-recorder", "hold"))
        .unwrap_err();
    assert!(error.to_string().contains("nothing resumed it"), "{error}");
    Ok(())
}

#[test]
fn envoys_foreign_functions_change_the_stream() -> anyhow::Result<()> {
    let mut host = recorder()?;
    let exchange = host.client_request(&ClientRequest::get("/").header("x-recorder", "foreign"))?;
    let stream = host.stream(exchange.stream)?;
    assert_eq!(stream.route_cache_cleared, 1);
    assert_eq!(stream.filter_state("envoy.string"), Some(b"v".as_slice()));
    assert_eq!(stream.filter_state("palisade.unknown"), None);
    assert!(logs(&host).iter().any(|l| l.contains("round_trip=true")));
    Ok(())
}

#[test]
fn a_stream_property_path_may_hold_dots() -> anyhow::Result<()> {
    let mut host = recorder()?;
    let s = host.new_http_stream()?;
    host.set_stream_property_path(s, &["metadata", "a.b"], "dotted")?;
    host.request_headers(
        s,
        &[
            (":method", "GET"),
            (":path", "/"),
            (":authority", "a"),
            ("x-recorder", "property"),
            ("x-path", "metadata/a.b"),
        ],
        true,
    )?;
    assert!(logs(&host)
        .iter()
        .any(|l| l.contains("property metadata/a.b: status=0 value=\"dotted\"")));
    Ok(())
}
