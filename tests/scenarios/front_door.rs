//! The harness's front door with a filter nobody here wrote: `as-callout`, built by npm from its
//! own AssemblyScript project, driven through one request with its callout cluster and upstream
//! played by the harness (the test `sdk/harness/README.md` shows).

use palisade_harness::{
    ClientRequest, Cluster, HostBuilder, HttpResponse, LogLevel, PluginConfig, UpstreamResponse,
};

#[test]
fn a_third_party_filter_through_the_front_door() -> anyhow::Result<()> {
    let wasm = crate::assemblyscript::build_once("as-callout").map_err(anyhow::Error::msg)?;
    let configuration = "cluster=auth_service\npath=/check\nauthority=auth\ntimeout_ms=500\n\
                         forward_headers=x-user\n";
    let mut host = HostBuilder::from_file(wasm)
        .plugin(PluginConfig::new("as_callout").configuration(configuration))
        .cluster(
            "auth_service",
            Cluster::answering(HttpResponse::new(200).body("user=alice")),
        )
        .upstream(|request| {
            let auth = request.headers.get("x-as-auth").unwrap_or("?");
            UpstreamResponse::new(200).body(format!("hello {auth}"))
        })
        .log_level(LogLevel::Info)
        .build()?;
    assert!(host.start()?.ok());

    let exchange = host.client_request(&ClientRequest::get("/orders").header("x-user", "alice"))?;

    // The filter asked its cluster, then let the request through with the answer.
    let callout = host.http_callouts()[0].clone();
    assert_eq!(callout.upstream, "auth_service");
    assert_eq!(callout.headers.get(":path"), Some("/check"));
    assert_eq!(callout.headers.get("x-user"), Some("alice"));
    let upstream = exchange
        .upstream
        .expect("the filter let the request through");
    assert_eq!(upstream.headers.get("x-as-auth-status"), Some("200"));
    assert_eq!(upstream.headers.get("x-as-auth"), Some("user=alice"));
    assert_eq!(exchange.response.status, 200);
    assert_eq!(exchange.response.body, b"hello user=alice");
    assert!(host.logs().iter().any(|l| l
        .message
        .contains("as-callout: configured, asking auth_service")));

    // A cluster that says no: the filter answers 403 and the upstream sees nothing.
    let mut denying = HostBuilder::from_file(
        crate::assemblyscript::build_once("as-callout").map_err(anyhow::Error::msg)?,
    )
    .plugin(PluginConfig::new("as_callout").configuration(configuration))
    .cluster("auth_service", Cluster::answering(HttpResponse::new(401)))
    .build()?;
    assert!(denying.start()?.ok());
    let denied = denying.client_request(&ClientRequest::get("/orders"))?;
    assert_eq!(denied.upstream, None);
    assert_eq!(denied.response.status, 403);
    Ok(())
}
