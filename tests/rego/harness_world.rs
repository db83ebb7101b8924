//! Cases through the compiled filter in palisade-harness.

use std::time::SystemTime;

use palisade_harness::{HostBuilder, PluginConfig};

use crate::case::{CaseFile, CaseRequest, Outcome};

fn pairs(map: &palisade_harness::HeaderMap) -> Vec<(String, String)> {
    map.pairs().to_vec()
}

fn observe(host: &mut palisade_harness::Host, request: &CaseRequest) -> Result<Outcome, String> {
    let e = |e: palisade_harness::HarnessError| e.to_string();
    // The harness's clock is virtual: bring it to the wall-clock time the tokens were made in.
    if let Ok(behind) = SystemTime::now().duration_since(host.now()) {
        host.advance_time(behind).map_err(e)?;
    }
    let stream = host.new_http_stream().map_err(e)?;
    let mut headers: Vec<(&str, &str)> = vec![
        (":method", request.method.as_str()),
        (":path", request.path.as_str()),
        (":authority", "cases.test"),
        (":scheme", "http"),
    ];
    let length = request.body.as_ref().map(|b| b.len().to_string());
    if let Some(length) = &length {
        headers.push(("content-length", length));
    }
    headers.extend(
        request
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let body = request.body.as_deref().unwrap_or_default();
    host.request_headers(stream, &headers, body.is_empty())
        .map_err(e)?;
    if !body.is_empty() && !host.stream(stream).map_err(e)?.ended() {
        host.request_body(stream, body.as_bytes(), true)
            .map_err(e)?;
    }
    let state = host.stream(stream).map_err(e)?;
    if let Some(reply) = &state.local_reply {
        return Ok(Outcome {
            allowed: false,
            status: u16::try_from(reply.status).unwrap_or(0),
            reply_headers: pairs(&reply.headers),
            body: String::from_utf8_lossy(&reply.body).into_owned(),
            ..Outcome::default()
        });
    }
    let upstream_headers = pairs(&state.request_headers);
    let upstream_path = state
        .request_headers
        .get(":path")
        .unwrap_or_default()
        .to_string();
    host.response_headers(stream, &[(":status", "200")], true)
        .map_err(e)?;
    let state = host.stream(stream).map_err(e)?;
    Ok(Outcome {
        allowed: true,
        status: 200,
        upstream_path,
        upstream_headers,
        response_headers: pairs(&state.response_headers),
        ..Outcome::default()
    })
}

pub fn run_file(name: &str, file: &CaseFile) -> Vec<String> {
    let config = file.plugin_configuration().to_string();
    let host = HostBuilder::from_file(crate::wasm())
        .plugin(PluginConfig::new("rego-authz").configuration(config))
        .start_time(SystemTime::now())
        // Envoy's test clients connect over loopback.
        .property("source.address", "127.0.0.1:40000")
        .property("destination.address", "127.0.0.1:10000")
        .build();
    let mut host = match host {
        Ok(host) => host,
        Err(err) => return vec![format!("{name}: building the host: {err}")],
    };
    match host.start() {
        Ok(outcome) if outcome.ok() => {}
        other => {
            let logs = host
                .log_messages(palisade_harness::LogLevel::Error)
                .join("\n");
            return vec![format!(
                "{name}: the plugin did not start: {other:?}\n{logs}"
            )];
        }
    }
    file.check(name, |request| observe(&mut host, request))
}
