//! Cases through real Envoy: the shipped rego-authz bootstrap with the case's plugin
//! configuration, and a real echo upstream.

use palisade_testkit::echo::{EchoServer, EchoedRequest};
use palisade_testkit::envoy::{self, Envoy};

use palisade_testkit::cases::{CaseRequest, Outcome, Suite};

fn observe(
    envoy: &Envoy,
    agent: &ureq::Agent,
    upstream: &EchoServer,
    request: &CaseRequest,
) -> Result<Outcome, String> {
    let listener = envoy.listener("ingress").map_err(|e| e.to_string())?;
    let url = format!("http://{listener}{}", request.path);
    let before = upstream.received().len();
    let mut builder = ureq::http::Request::builder()
        .method(request.method.as_str())
        .uri(&url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let body = request.body.clone().unwrap_or_default();
    let http_request = builder.body(body).map_err(|e| e.to_string())?;
    let mut response = agent.run(http_request).map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    // Allowed: the upstream received the request and the answer is its echo. (A body policy's
    // denial under Envoy's default Wasm config reaches the upstream too, as a request Envoy
    // started and then reset; it is recorded when the reset arrives, perhaps after this answer,
    // and is never answered.)
    let reached_upstream = upstream.received().len() > before;
    let echoed = serde_json::from_str::<EchoedRequest>(&text)
        .ok()
        .filter(|_| reached_upstream);
    let Some(echoed) = echoed else {
        return Ok(Outcome {
            allowed: false,
            status,
            reply_headers: headers,
            body: text,
            ..Outcome::default()
        });
    };
    Ok(Outcome {
        allowed: true,
        status,
        upstream_path: echoed.path.clone(),
        upstream_headers: echoed.headers,
        response_headers: headers,
        ..Outcome::default()
    })
}

pub fn run_file(suite: &Suite) -> Vec<String> {
    let upstream = EchoServer::start().unwrap();
    let path = palisade_testkit::workspace::envoy_config("rego-authz.yaml");
    let bootstrap = envoy::render_file(
        &path,
        &[
            ("UPSTREAM_PORT", &upstream.port().to_string()),
            ("WASM_PATH", &crate::wasm().to_string_lossy()),
        ],
    )
    .unwrap();
    let bootstrap =
        envoy::with_plugin_configuration(&bootstrap, "rego-authz", &suite.plugin_configuration())
            .unwrap();
    run_in(Envoy::start(&bootstrap), &upstream, suite)
}

/// The file's cases through an Envoy started for it (or why it did not start), each problem
/// named after the file.
pub fn run_in(
    started: Result<Envoy, envoy::EnvoyError>,
    upstream: &EchoServer,
    suite: &Suite,
) -> Vec<String> {
    let name = crate::name(suite);
    let envoy = match started {
        Ok(envoy) => envoy,
        Err(err) => return vec![format!("{name}: Envoy did not start: {err}")],
    };
    let agent = envoy::http_client();
    let tokens = crate::tokens::make_all(&suite.file.tokens);
    suite
        .file
        .run(&tokens, |request| {
            observe(&envoy, &agent, upstream, request)
        })
        .iter()
        .flat_map(|r| r.problems(&name))
        .collect()
}
