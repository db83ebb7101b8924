//! Cases through real Envoy with rego-authz built natively (an Envoy dynamic module,
//! `envoy-configs/rego-authz-native.yaml`), the case's plugin configuration and a real echo
//! upstream: the third world, which must give the answers the harness and the Wasm filter give.

use palisade_testkit::cases::Suite;
use palisade_testkit::echo::EchoServer;
use palisade_testkit::envoy::{self, Envoy};

/// `librego_authz.so`, built once per test process.
pub fn module() -> std::path::PathBuf {
    palisade_build::build_native_once("rego-authz")
        .unwrap_or_else(|e| panic!("building rego-authz natively: {e}"))
}

pub fn run_file(suite: &Suite) -> Vec<String> {
    let upstream = EchoServer::start().unwrap();
    let path = palisade_testkit::workspace::envoy_config("rego-authz-native.yaml");
    let bootstrap =
        envoy::render_file(&path, &[("UPSTREAM_PORT", &upstream.port().to_string())]).unwrap();
    let bootstrap =
        envoy::with_module_configuration(&bootstrap, "rego-authz", &suite.plugin_configuration())
            .unwrap();
    let module = module();
    let started = Envoy::start_with_modules(&bootstrap, module.parent().unwrap());
    crate::envoy_world::run_in(started, &upstream, suite)
}
