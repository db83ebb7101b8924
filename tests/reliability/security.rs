//! Security of rego-authz: no builtin reaches the network, the host's environment or its
//! files; secrets in the policy, its data or JWKS never show in logs, metric names or events;
//! decision events redact credentials; and Envoy refuses a module whose sha256 is not the
//! pinned one.
//!
//! Redaction of `authorization`, `cookie`, `proxy-authorization` and `set-cookie` is also
//! covered by `sdk/palisade/src/events/decision.rs` (unit tests: redacted by default, shown with
//! `allow_sensitive_headers`) and `sdk/harness/tests/all/events.rs` (tenant-header's events);
//! here it is checked through rego-authz, next to the secrets.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use palisade_harness::{FailurePolicy, Host, HttpResponse, LogLevel};
use palisade_testkit::echo::EchoServer;
use palisade_testkit::envoy::{self, Envoy};
use serde_json::{json, Value};

use crate::support::{builder, configure, finish, rego, send, ROOT};

/// Builtins that would reach the network, the proxy's environment or files.
const HOST_BUILTINS: &[(&str, &str)] = &[
    (
        "http.send",
        "http.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1:1/\"})",
    ),
    ("opa.runtime", "opa.runtime().env.HOME"),
    ("net.lookup_ip_addr", "net.lookup_ip_addr(\"localhost\")"),
    (
        "rego.parse_module",
        "rego.parse_module(\"x.rego\", \"package x\")",
    ),
    ("trace", "trace(\"x\")"),
];

#[test]
fn builtins_reaching_the_host_are_refused_at_configure() -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for (name, call) in HOST_BUILTINS {
        let rules = format!("default allow := false\nallow if {{ x := {call}; x }}");
        match configure(&json!({"policy": rego(&rules)}))? {
            Err(errors) if errors.iter().any(|e| e.contains(name)) => {
                eprintln!("{name}: refused: {}", errors.join("; "));
            }
            Err(errors) => problems.push(format!("{name}: refused without naming it: {errors:?}")),
            Ok(mut host) => {
                let status = send(&mut host, "GET", "/", &[])?;
                eprintln!("{name}: accepted; a request gets {status}");
                // `trace` only logs (it reaches nothing); anything else must be refused.
                if *name != "trace" {
                    problems.push(format!("{name}: accepted (request -> {status})"));
                }
            }
        }
    }
    // The proxy's environment is not the VM's: WASI gives the filter only what the VM config
    // passes (none here), so even a builtin that read it would see nothing.
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

const HS_SECRET: &str = "hs256-Zq9-SECRET-a7f3c1";
const POLICY_SECRET: &str = "policy-K8s-SECRET-5b2e90";
const JWK_SECRET: &str = "jwk-private-d-SECRET-77ab";
const PEM_SECRET: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ-SECRET";
const SECRETS: [&str; 4] = [HS_SECRET, POLICY_SECRET, JWK_SECRET, PEM_SECRET];

fn data() -> Value {
    json!({
        "secret": HS_SECRET,
        "jwks": {"keys": [{"kty": "RSA", "kid": "k1", "n": "sXch", "e": "AQAB", "d": JWK_SECRET}]},
        "pem": format!("-----BEGIN PRIVATE KEY-----\n{PEM_SECRET}\n-----END PRIVATE KEY-----\n"),
    })
}

fn jwt_policy() -> String {
    rego(&format!(
        r#"default allow := false
token := t if {{
  [_, t] := split(input.attributes.request.http.headers.authorization, " ")
}}
allow if {{
  io.jwt.verify_hs256(token, data.secret)
  [valid, _, payload] := io.jwt.decode_verify(token, {{"secret": data.secret}})
  valid
  payload.sub == "alice"
}}
allow if {{
  io.jwt.verify_rs256(token, json.marshal(data.jwks))
}}
allow if {{
  [valid, _, _] := io.jwt.decode_verify(token, {{"secret": "{POLICY_SECRET}"}})
  valid
}}
allow if {{
  input.attributes.request.http.headers["x-fail"] == "number"
  to_number(data.secret) > 0
}}
conflicting := data.secret if input.attributes.request.http.headers["x-fail"] == "conflict"
conflicting := "{POLICY_SECRET}" if input.attributes.request.http.headers["x-fail"] == "conflict"
allow if conflicting == "x"
"#
    ))
}

/// A request's name, headers and the status it should get.
type Case = (&'static str, Vec<(&'static str, String)>, u32);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs256(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Sends `GET /orders/1` with these headers; returns the status.
fn get_order(host: &mut Host, headers: &[(&str, &str)]) -> anyhow::Result<u32> {
    send(host, "GET", "/orders/1", headers)
}

/// Fires the flush timer, answers the sink `200`, and returns every event sent.
fn events(host: &mut Host) -> anyhow::Result<Vec<Value>> {
    host.tick(ROOT)?;
    let mut events = Vec::new();
    for call in host.respond_pending_http_callouts(&HttpResponse::new(200))? {
        let batch: Vec<Value> = serde_json::from_slice(&call.body)?;
        events.extend(batch);
    }
    Ok(events)
}

/// Everything the filter let out: log lines, metric names, events, local replies.
fn leaks(host: &Host, events: &[Value], replies: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    let logs = host.logs().iter().map(|l| l.message.clone());
    let metrics = host.metrics().into_iter().map(|(name, _)| name.to_string());
    let events = events.iter().map(Value::to_string);
    for text in logs
        .chain(metrics)
        .chain(events)
        .chain(replies.iter().cloned())
    {
        for secret in SECRETS {
            if text.contains(secret) {
                found.push(format!("{secret} in {text}"));
            }
        }
    }
    found
}

#[test]
fn secrets_never_reach_logs_metrics_or_events() -> anyhow::Result<()> {
    let configuration = json!({
        "policy": jwt_policy(),
        "data": data(),
        "events": {
            "sink_cluster": "sink",
            "include_headers": ["authorization", "cookie", "x-fail"],
        },
    });
    let mut host = builder("rego-authz", &configuration, FailurePolicy::FailClosed)
        .log_level(LogLevel::Trace)
        .start_time(SystemTime::now())
        .build()?;
    anyhow::ensure!(host.start()?.ok(), "rejected: {:?}", host.logs());

    let valid = hs256(HS_SECRET, json!({"sub": "alice", "exp": now() + 3600}));
    let wrong_key = hs256("another-key", json!({"sub": "alice", "exp": now() + 3600}));
    let expired = hs256(HS_SECRET, json!({"sub": "alice", "exp": now() - 3600}));
    let by_policy_secret = hs256(POLICY_SECRET, json!({"sub": "bob", "exp": now() + 3600}));
    let bearer = |t: &str| format!("Bearer {t}");
    let cases: Vec<Case> = vec![
        ("valid", vec![("authorization", bearer(&valid))], 200),
        (
            "policy secret",
            vec![("authorization", bearer(&by_policy_secret))],
            200,
        ),
        (
            "bad signature",
            vec![("authorization", bearer(&wrong_key))],
            403,
        ),
        ("expired", vec![("authorization", bearer(&expired))], 403),
        (
            "garbage token",
            vec![("authorization", "Bearer a.b.c".into())],
            403,
        ),
        (
            "not a JWT",
            vec![("authorization", "Bearer !!!".into())],
            403,
        ),
        (
            "no token",
            vec![("cookie", format!("session={valid}"))],
            403,
        ),
        (
            "runtime error",
            vec![
                ("authorization", bearer(&wrong_key)),
                ("x-fail", "number".into()),
            ],
            403,
        ),
        (
            "conflict",
            vec![
                ("authorization", bearer(&wrong_key)),
                ("x-fail", "conflict".into()),
            ],
            403,
        ),
    ];
    let mut replies = Vec::new();
    for (name, headers, expected) in &cases {
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let stream = host.new_http_stream_for(ROOT)?;
        let mut all = vec![
            (":method", "GET"),
            (":path", "/orders/1"),
            (":authority", "secrets.test"),
            (":scheme", "http"),
        ];
        all.extend_from_slice(&pairs);
        host.request_headers(stream, &all, true)?;
        let status = finish(&mut host, stream)?;
        if let Some(reply) = &host.stream(stream)?.local_reply {
            replies.push(String::from_utf8_lossy(&reply.body).into_owned());
        }
        assert_eq!(status, *expected, "{name}");
    }
    let events = events(&mut host)?;
    assert_eq!(events.len(), cases.len());
    for event in &events {
        let headers = &event["data"]["headers"];
        for name in ["authorization", "cookie"] {
            if let Some(value) = headers.get(name) {
                assert_eq!(value, "[REDACTED]", "{event}");
            }
        }
    }
    assert!(
        events.iter().any(|e| e["data"].get("error").is_some()),
        "an event records the policy's error"
    );
    let found = leaks(&host, &events, &replies);
    assert!(found.is_empty(), "{}", found.join("\n"));

    // Configuration errors next to the secrets.
    let bad_configurations = [
        json!({"policy": jwt_policy(), "data": data(), "max_eval_ms": 0}),
        json!({"policy": jwt_policy(), "data": data(), "unknown": HS_SECRET}),
        json!({"policy": jwt_policy(), "data": data(), "events": {"sink_cluster": "s", "mode": "fast"}}),
        json!({"policy": jwt_policy(), "data": data(), "path": "envoy/nothing"}),
        json!({"policy": format!("package envoy.authz\nimport rego.v1\nsecret := \"{POLICY_SECRET}\" +\n"), "data": data()}),
        json!({"policy": format!("package envoy.authz\nimport rego.v1\nallow if {{ x := \"{POLICY_SECRET}\"; x[0] ")}),
        json!({"policy": jwt_policy(), "data": [HS_SECRET]}),
    ];
    let mut problems = Vec::new();
    for configuration in bad_configurations {
        let mut host = builder("rego-authz", &configuration, FailurePolicy::FailClosed)
            .log_level(LogLevel::Trace)
            .build()?;
        let accepted = host.start()?.ok();
        let errors = host.log_messages_from(LogLevel::Error);
        eprintln!("bad configuration: accepted {accepted}; {errors:?}");
        if accepted {
            problems.push(format!("accepted: {configuration}"));
        }
        problems.extend(leaks(&host, &[], &[]));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

#[test]
fn sensitive_headers_are_shown_only_when_allowed() -> anyhow::Result<()> {
    for allow in [false, true] {
        let configuration = json!({
            "policy": rego("default allow := true"),
            "events": {
                "sink_cluster": "sink",
                "include_headers": ["authorization", "cookie", "x-user"],
                "allow_sensitive_headers": allow,
            },
        });
        let mut host = builder("rego-authz", &configuration, FailurePolicy::FailClosed).build()?;
        anyhow::ensure!(host.start()?.ok(), "rejected: {:?}", host.logs());
        get_order(
            &mut host,
            &[
                ("authorization", "Bearer t0ken"),
                ("cookie", "s=1"),
                ("x-user", "ann"),
            ],
        )?;
        let events = events(&mut host)?;
        let headers = &events[0]["data"]["headers"];
        let expected = match allow {
            false => {
                json!({"authorization": "[REDACTED]", "cookie": "[REDACTED]", "x-user": "ann"})
            }
            true => json!({"authorization": "Bearer t0ken", "cookie": "s=1", "x-user": "ann"}),
        };
        assert_eq!(headers, &expected, "allow_sensitive_headers {allow}");
    }
    Ok(())
}

/// A loopback HTTP server answering every request with `body`; stops with the test process.
fn serve(body: Vec<u8>) -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/wasm\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    Ok(port)
}

/// The rego-authz bootstrap with the RBAC-free allow-all policy, its module fetched from
/// `http://127.0.0.1:<wasm_port>/rego_authz.wasm` with `sha256` pinned.
fn remote_bootstrap(upstream: u16, wasm_port: u16, sha256: &str) -> anyhow::Result<String> {
    let rendered = envoy::render_file(
        &palisade_testkit::workspace::envoy_config("rego-authz.yaml"),
        &[
            ("UPSTREAM_PORT", &upstream.to_string()),
            ("WASM_PATH", "/nonexistent/rego_authz.wasm"),
        ],
    )?;
    let configuration = json!({"policy": rego("default allow := true")});
    let rendered = envoy::with_plugin_configuration(&rendered, "rego-authz", &configuration)?;
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&rendered)?;
    let remote: serde_yaml::Value = serde_yaml::from_str(&format!(
        "remote:\n  http_uri:\n    uri: http://127.0.0.1:{wasm_port}/rego_authz.wasm\n    cluster: wasm_server\n    timeout: 10s\n  sha256: {sha256}\n  retry_policy:\n    num_retries: 0\n"
    ))?;
    let mut replaced = 0;
    replace_code(&mut doc, &remote, &mut replaced);
    anyhow::ensure!(replaced == 1, "no vm_config.code in the bootstrap");
    let cluster: serde_yaml::Value = serde_yaml::from_str(&format!(
        "name: wasm_server\ntype: STATIC\nconnect_timeout: 1s\nload_assignment:\n  cluster_name: wasm_server\n  endpoints:\n  - lb_endpoints:\n    - endpoint:\n        address:\n          socket_address: {{ address: 127.0.0.1, port_value: {wasm_port} }}\n"
    ))?;
    doc["static_resources"]["clusters"]
        .as_sequence_mut()
        .ok_or_else(|| anyhow::anyhow!("no clusters"))?
        .push(cluster);
    Ok(serde_yaml::to_string(&doc)?)
}

fn replace_code(value: &mut serde_yaml::Value, remote: &serde_yaml::Value, replaced: &mut usize) {
    match value {
        serde_yaml::Value::Mapping(map) => {
            if let Some(code) = map.get_mut("code") {
                if code.get("local").is_some() {
                    *code = remote.clone();
                    *replaced += 1;
                    return;
                }
            }
            for (_, child) in map.iter_mut() {
                replace_code(child, remote, replaced);
            }
        }
        serde_yaml::Value::Sequence(items) => {
            for item in items {
                replace_code(item, remote, replaced);
            }
        }
        _ => {}
    }
}

/// What a client gets from Envoy: `Some(status, reached upstream)`, or `None` when nothing
/// listens or the connection fails.
fn try_request(envoy: &Envoy, upstream: &EchoServer) -> Option<(u16, bool)> {
    let listener = envoy.listener("ingress").ok()?;
    let before = upstream.received().len();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let response = agent
        .get(format!("http://{listener}/public/x"))
        .call()
        .ok()?;
    Some((
        response.status().as_u16(),
        upstream.received().len() > before,
    ))
}

#[test]
fn envoy_refuses_a_module_whose_sha256_does_not_match() -> anyhow::Result<()> {
    let built = palisade_build::build("rego-authz")?;
    let bytes = std::fs::read(&built.path)?;
    let wasm_port = serve(bytes)?;
    let upstream = EchoServer::start()?;

    // The right digest: the module is fetched, checked and serves requests.
    let good = remote_bootstrap(upstream.port(), wasm_port, &built.sha256)?;
    let envoy = Envoy::start(&good)?;
    let outcome = try_request(&envoy, &upstream);
    eprintln!("right sha256: {outcome:?}");
    assert_eq!(outcome, Some((200, true)), "log:\n{}", envoy.log());
    assert!(!envoy.log().contains("failed to load"), "{}", envoy.log());
    drop(envoy);

    // One digit off: Envoy refuses the module; nothing reaches the upstream through it.
    let mut wrong = built.sha256.clone().into_bytes();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong)?;
    let bad = remote_bootstrap(upstream.port(), wasm_port, &wrong)?;
    match Envoy::start(&bad) {
        Err(err) => {
            let text = err.to_string();
            eprintln!(
                "wrong sha256: Envoy did not start: {}",
                text.lines().next().unwrap_or_default()
            );
            assert!(
                text.to_lowercase().contains("sha256") || text.contains("mismatch"),
                "{text}"
            );
        }
        Ok(envoy) => {
            let outcome = try_request(&envoy, &upstream);
            let log = envoy.log();
            // Envoy (1.3x) treats a digest mismatch as a failed fetch: it retries, gives up and
            // logs that the plugin failed to load; the fail-closed plugin then answers 503.
            let said: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("failed to load") || l.to_lowercase().contains("sha256"))
                .collect();
            eprintln!("wrong sha256: Envoy started; request -> {outcome:?}; log: {said:?}");
            assert!(
                !matches!(outcome, Some((_, true))),
                "a request reached the upstream through an unverified module"
            );
            assert!(
                log.contains("Plugin rego-authz failed to load"),
                "Envoy did not refuse the module:\n{log}"
            );
        }
    }
    Ok(())
}
