//! proxy_get_property / proxy_set_property with Envoy's encodings.

use std::time::Duration;

use palisade_harness::{HostBuilder, PluginConfig, PropertyValue};

use crate::support::{get, probe};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn properties_encoded_as_envoy_does() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .vm_id("vm1")
        .plugin(PluginConfig::new("http").name("probe-plugin"))
        .property("source.address", "10.0.0.1:5000")
        .property("source.port", PropertyValue::Int(5000))
        .property("connection.mtls", true)
        .property(
            "node.metadata",
            PropertyValue::Map(vec![("region".into(), "eu".into())]),
        )
        .property(
            "upstream.duration",
            PropertyValue::Duration(Duration::from_millis(2)),
        )
        .build()?;
    assert!(host.start()?.ok());
    let s = host.new_http_stream()?;
    host.set_stream_property(s, "destination.port", PropertyValue::UInt(8443))?;
    let props = [
        "plugin_name",
        "plugin_root_id",
        "plugin_vm_id",
        "source.address",
        "source.port",
        "connection.mtls",
        "node.metadata",
        "node.metadata.region",
        "upstream.duration",
        "destination.port",
        "request.path",
        "request.url_path",
        "request.query",
        "request.host",
        "request.method",
        "request.scheme",
        "request.protocol",
        "request.time",
        "request.headers.x-probe",
        "request.nothing",
        "response.code",
    ];
    let joined = props.join(",");
    let mut headers = get("props");
    headers.push(("x-props", &joined));
    host.request_headers(s, &headers, true)?;
    let h = host.stream(s)?.request_headers.clone();
    let prop = |name: &str| h.get(&format!("x-prop-{name}")).map(str::to_string);
    assert_eq!(prop("plugin_name"), Some(hex(b"probe-plugin")));
    assert_eq!(prop("plugin_root_id"), Some(hex(b"http")));
    assert_eq!(prop("plugin_vm_id"), Some(hex(b"vm1")));
    assert_eq!(prop("source.address"), Some(hex(b"10.0.0.1:5000")));
    assert_eq!(prop("source.port"), Some(hex(&5000i64.to_le_bytes())));
    assert_eq!(prop("connection.mtls"), Some("01".into()));
    assert_eq!(
        prop("node.metadata"),
        Some(hex(&palisade_harness::serialize_pairs(&[(
            "region".into(),
            "eu".into()
        )])))
    );
    assert_eq!(prop("node.metadata.region"), Some(hex(b"eu")));
    assert_eq!(
        prop("upstream.duration"),
        Some(hex(&2_000_000i64.to_le_bytes()))
    );
    assert_eq!(prop("destination.port"), Some(hex(&8443u64.to_le_bytes())));
    assert_eq!(prop("request.path"), Some(hex(b"/items?id=7")));
    assert_eq!(prop("request.url_path"), Some(hex(b"/items")));
    assert_eq!(prop("request.query"), Some(hex(b"id=7")));
    assert_eq!(prop("request.host"), Some(hex(b"example.com")));
    assert_eq!(prop("request.method"), Some(hex(b"GET")));
    assert_eq!(prop("request.scheme"), Some(hex(b"https")));
    assert_eq!(prop("request.protocol"), Some(hex(b"HTTP/1.1")));
    assert_eq!(
        prop("request.time"),
        Some(hex(&1_704_067_200_000_000_000i64.to_le_bytes()))
    );
    assert_eq!(prop("request.headers.x-probe"), Some(hex(b"props")));
    assert_eq!(prop("request.nothing"), Some("none".into()));
    assert_eq!(prop("response.code"), Some("none".into()));
    Ok(())
}

#[test]
fn set_property_is_stored_under_the_wasm_prefix() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("http"))
        .build()?;
    assert!(host.start()?.ok());
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("props"), true)?;
    let stream = host.stream(s)?;
    assert_eq!(
        stream.request_headers.get("x-prop-readback"),
        Some("my_value")
    );
    assert_eq!(stream.filter_state("wasm.my_key"), Some(&b"my_value"[..]));
    Ok(())
}

#[test]
fn request_size_is_the_content_length_when_there_is_one() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("http"))
        .build()?;
    assert!(host.start()?.ok());
    let size = |host: &palisade_harness::Host, s| -> anyhow::Result<Option<String>> {
        Ok(host
            .stream(s)?
            .request_headers
            .get("x-prop-request.size")
            .map(str::to_string))
    };
    let s = host.new_http_stream()?;
    let mut headers = get("props");
    headers.extend([("x-props", "request.size"), ("content-length", "5")]);
    host.request_headers(s, &headers, false)?;
    // As in Envoy: known from the header before any body arrives.
    assert_eq!(size(&host, s)?, Some(hex(&5i64.to_le_bytes())));
    let s = host.new_http_stream()?;
    let mut headers = get("props");
    headers.push(("x-props", "request.size"));
    host.request_headers(s, &headers, false)?;
    assert_eq!(size(&host, s)?, Some(hex(&0i64.to_le_bytes())));
    Ok(())
}
