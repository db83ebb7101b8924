//! The mTLS identity in rego-authz's input, in real Envoy terminating TLS: a client certificate's
//! URI SAN is `attributes.source.principal` and the listener's own is
//! `attributes.destination.principal`, as OPA-Envoy's ext_authz input has them (Istio's SPIFFE
//! identities). The certificates are made for the test (a CA, a server and a client
//! certificate); a policy that allows one client identity and passes both principals upstream
//! runs in the Wasm filter and in the native module, which must agree.

use std::path::Path;
use std::sync::Arc;

use palisade_testkit::echo::EchoServer;
use palisade_testkit::envoy::{self, Envoy};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use serde_json::json;

use crate::support;

const CLIENT: &str = "spiffe://cluster.local/ns/shop/sa/frontend";
const SERVER: &str = "spiffe://cluster.local/ns/shop/sa/orders";

const POLICY: &str = r#"package envoy.authz

import rego.v1

default allow := false

allow := {"allowed": true, "headers": {
	"x-source-principal": input.attributes.source.principal,
	"x-destination-principal": input.attributes.destination.principal,
}} if input.attributes.source.principal == "spiffe://cluster.local/ns/shop/sa/frontend"
"#;

/// A CA, a server certificate (127.0.0.1 and the server's URI SAN) and a client certificate
/// (the client's URI SAN), as PEM files in `dir`.
struct Pki {
    ca: String,
    client_cert: String,
    client_key: String,
}

fn make_pki(dir: &Path) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.distinguished_name = common_name("palisade test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf = |names: Vec<String>, uri: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name = common_name(uri);
        params
            .subject_alt_names
            .push(SanType::URI(uri.try_into().unwrap()));
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["127.0.0.1".into()], SERVER);
    let (client_cert, client_key) = leaf(Vec::new(), CLIENT);
    for (name, pem) in [
        ("ca.pem", ca.pem()),
        ("server.pem", server_cert),
        ("server-key.pem", server_key),
    ] {
        std::fs::write(dir.join(name), pem).unwrap();
    }
    Pki {
        ca: ca.pem(),
        client_cert,
        client_key,
    }
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

/// The bootstrap's listener terminating TLS with the server certificate, asking for (not
/// requiring) a client certificate signed by the CA.
fn with_tls(bootstrap: &str, dir: &Path) -> String {
    let file = |name: &str| json!({ "filename": dir.join(name).to_string_lossy() });
    let tls = json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "require_client_certificate": false,
            "common_tls_context": {
                "tls_certificates": [{
                    "certificate_chain": file("server.pem"),
                    "private_key": file("server-key.pem"),
                }],
                "validation_context": { "trusted_ca": file("ca.pem") },
            },
        },
    });
    let mut doc: serde_yaml::Value = serde_yaml::from_str(bootstrap).unwrap();
    doc["static_resources"]["listeners"][0]["filter_chains"][0]["transport_socket"] =
        serde_yaml::to_value(tls).unwrap();
    serde_yaml::to_string(&doc).unwrap()
}

/// What the client and the upstream saw of one request: the status and the principals the
/// upstream received.
fn request(envoy: &Envoy, upstream: &EchoServer, pki: &Pki, with_cert: bool) -> (u16, Vec<String>) {
    let mut tls =
        ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![
            ureq::tls::Certificate::from_pem(pki.ca.as_bytes()).unwrap(),
        ])));
    if with_cert {
        let cert = ureq::tls::Certificate::from_pem(pki.client_cert.as_bytes()).unwrap();
        let key = ureq::tls::PrivateKey::from_pem(pki.client_key.as_bytes()).unwrap();
        tls = tls.client_cert(Some(ureq::tls::ClientCert::new_with_certs(&[cert], key)));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let before = upstream.received().len();
    let listener = envoy.listener("ingress").unwrap();
    let response = agent
        .get(format!("https://{listener}/orders"))
        .call()
        .unwrap_or_else(|e| panic!("{e}\nEnvoy's log:\n{}", envoy.log()));
    upstream.wait_idle(std::time::Duration::from_millis(50));
    let principals = upstream
        .received()
        .get(before)
        .map(|seen| {
            ["x-source-principal", "x-destination-principal"]
                .iter()
                .filter_map(|name| {
                    let found = seen
                        .headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name));
                    found.map(|(_, v)| v.clone())
                })
                .collect()
        })
        .unwrap_or_default();
    (response.status().as_u16(), principals)
}

fn configuration() -> serde_json::Value {
    json!({ "policies": { "policy.rego": POLICY } })
}

fn check(envoy: &Envoy, upstream: &EchoServer, pki: &Pki, backend: &str) {
    assert_eq!(
        request(envoy, upstream, pki, true),
        (200, vec![CLIENT.to_string(), SERVER.to_string()]),
        "{backend}: a client with the allowed identity"
    );
    assert_eq!(
        request(envoy, upstream, pki, false),
        (403, Vec::new()),
        "{backend}: a client without a certificate has no principal"
    );
}

#[test]
fn the_peer_certificates_uri_san_is_the_principal_in_wasm_and_natively() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());

    let upstream = EchoServer::start().unwrap();
    let wasm = support::config("rego-authz.yaml", &upstream, &support::wasm("rego-authz"));
    let wasm = envoy::with_plugin_configuration(&wasm, "rego-authz", &configuration()).unwrap();
    let envoy = support::start(&with_tls(&wasm, dir.path()));
    check(&envoy, &upstream, &pki, "wasm");
    drop(envoy);

    let native = envoy::render_file(
        &palisade_testkit::workspace::envoy_config("rego-authz-native.yaml"),
        &[("UPSTREAM_PORT", &upstream.port().to_string())],
    )
    .unwrap();
    let native = envoy::with_module_configuration(&native, "rego-authz", &configuration()).unwrap();
    let module = crate::native::rego_authz_module();
    let envoy = Envoy::start_with_modules(&with_tls(&native, dir.path()), module.parent().unwrap())
        .unwrap_or_else(|e| panic!("{e}"));
    check(&envoy, &upstream, &pki, "native");
}
