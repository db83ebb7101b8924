//! Shared pieces: build each filter once per test process, start Envoy with a rendered
//! config, send requests.

use std::path::PathBuf;

use palisade_testkit::echo::EchoServer;
use palisade_testkit::envoy::{self, Envoy};

/// Builds `package` to wasm once per test process and returns the `.wasm` path.
pub fn wasm(package: &str) -> PathBuf {
    palisade_build::build_once(package).unwrap_or_else(|e| panic!("building {package}: {e}"))
}

/// A filter config from `envoy-configs/`, with the upstream port and wasm path filled in.
pub fn config(file: &str, upstream: &EchoServer, wasm: &std::path::Path) -> String {
    let path = palisade_testkit::workspace::envoy_config(file);
    envoy::render_file(
        &path,
        &[
            ("UPSTREAM_PORT", &upstream.port().to_string()),
            ("WASM_PATH", &wasm.to_string_lossy()),
        ],
    )
    .unwrap()
}

/// Starts Envoy; failing to start is a test failure with Envoy's log in the message.
pub fn start(config: &str) -> Envoy {
    Envoy::start(config).unwrap_or_else(|e| panic!("{e}"))
}

/// A response as the client saw it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// GETs `path` from Envoy's `ingress` listener with the given headers.
pub fn get(envoy: &Envoy, path: &str, headers: &[(&str, &str)]) -> Reply {
    let listener = envoy.listener("ingress").unwrap();
    let mut request = envoy::http_client().get(&format!("http://{listener}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.call().unwrap();
    Reply {
        status: response.status().as_u16(),
        headers: response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: response.body_mut().read_to_string().unwrap(),
    }
}
