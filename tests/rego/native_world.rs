//! Cases through real Envoy with rego-authz built natively (an Envoy dynamic module,
//! `envoy-configs/rego-authz-native.yaml`), the case's plugin configuration and a real echo
//! upstream: the third world, which must give the answers the harness and the Wasm filter give.
//! A case file whose policy reads the request body (`with_body`) is one the native backend does
//! not run yet: Envoy must refuse its configuration, saying so.

use palisade_testkit::cases::Suite;
use palisade_testkit::echo::EchoServer;
use palisade_testkit::envoy::{self, Envoy};

/// `librego_authz.so`, built once per test process.
pub fn module() -> std::path::PathBuf {
    palisade_build::build_native_once("rego-authz")
        .unwrap_or_else(|e| panic!("building rego-authz natively: {e}"))
}

/// Whether the native backend runs this file's policy (it does not read bodies yet).
fn runs_natively(suite: &Suite) -> bool {
    suite.plugin_configuration().get("with_body") != Some(&serde_json::Value::Bool(true))
}

pub fn run_file(suite: &Suite) -> Vec<String> {
    let name = crate::name(suite);
    let upstream = EchoServer::start().unwrap();
    let path = palisade_testkit::workspace::envoy_config("rego-authz-native.yaml");
    let bootstrap =
        envoy::render_file(&path, &[("UPSTREAM_PORT", &upstream.port().to_string())]).unwrap();
    let bootstrap =
        envoy::with_module_configuration(&bootstrap, "rego-authz", &suite.plugin_configuration())
            .unwrap();
    let module = module();
    let started = Envoy::start_with_modules(&bootstrap, module.parent().unwrap());
    if !runs_natively(suite) {
        return match started {
            Err(err) if err.to_string().contains("reads request bodies") => Vec::new(),
            Err(err) => vec![format!(
                "{name}: Envoy refused the body policy, but not saying why: {err}"
            )],
            Ok(_) => vec![format!(
                "{name}: the native backend took a policy that reads the body"
            )],
        };
    }
    let envoy = match started {
        Ok(envoy) => envoy,
        Err(err) => return vec![format!("{name}: Envoy did not start: {err}")],
    };
    let agent = envoy::http_client();
    let tokens = crate::tokens::make_all(&suite.file.tokens);
    suite
        .file
        .run(&tokens, |request| {
            crate::envoy_world::observe(&envoy, &agent, &upstream, request)
        })
        .iter()
        .flat_map(|r| r.problems(&name))
        .collect()
}
