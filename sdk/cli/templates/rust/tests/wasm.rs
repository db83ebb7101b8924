//! The compiled filter, run the way Envoy runs it: built for wasm32-wasip1 as `palisade build`
//! builds it (once per test process) and loaded by palisade-harness, a proxy-wasm host on
//! wasmtime.

use std::path::PathBuf;
use std::sync::OnceLock;

use palisade_harness::{HostBuilder, PluginConfig};

const CONFIG: &str = r#"{"keys": {"k-123": "alice"}}"#;

/// Builds the module as `palisade build` does (release, wasm32-wasip1, the same flags, so the
/// command then finds it built) and returns its path.
fn module() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
            palisade_build::build_manifest(&manifest)
                .expect("building the module")
                .path
        })
        .clone()
}

#[test]
fn the_compiled_filter_lets_a_known_key_through_and_answers_others_401() {
    let mut host = HostBuilder::from_file(module())
        .plugin(PluginConfig::new("{{NAME}}").configuration(CONFIG))
        .build()
        .unwrap();
    assert!(host.start().unwrap().ok(), "the filter refused its configuration");

    let known = host.new_http_stream().unwrap();
    let headers = [(":method", "GET"), (":path", "/"), (":authority", "example.test")];
    let with_key: Vec<(&str, &str)> = headers.into_iter().chain([("x-api-key", "k-123")]).collect();
    host.request_headers(known, &with_key, true).unwrap();
    let stream = host.stream(known).unwrap();
    assert!(stream.local_reply.is_none(), "{:?}", stream.local_reply);
    assert_eq!(stream.request_headers.get("x-client"), Some("alice"));

    let unknown = host.new_http_stream().unwrap();
    host.request_headers(unknown, &headers, true).unwrap();
    let reply = host.stream(unknown).unwrap().local_reply.clone().expect("a local reply");
    assert_eq!(reply.status, 401);
}
