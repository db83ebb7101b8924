//! The Istio manifests in `envoy-configs/istio/`: each resource matches its CRD's OpenAPI v3
//! schema (`envoy-configs/istio/schema/`, from istio/api), made as strict as a cluster is with
//! unknown fields, plus the WasmPlugin CEL rules and Istio's `sha256` rule; each plugin
//! configuration is accepted by the compiled filter (`on_configure` in the harness, with the
//! configuration as the JSON Istio passes) and equals the configuration of the Envoy bootstrap
//! it mirrors; the EnvoyFilter's Wasm filter config passes `envoy --mode validate`; and the
//! native EnvoyFilter's dynamic-module filter, put in Envoy 1.40 with the module built, enforces
//! its policy. The schema check is `palisade_testkit::istio`; the CLI's tests run it on what
//! `palisade new` writes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use palisade_harness::{HostBuilder, LogLevel, PluginConfig};
use palisade_testkit::envoy;
use palisade_testkit::istio::{self, Deployed};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::configs::{self, mappings, plugin_configuration, MANIFEST_DIR};
use crate::support;

/// Which Envoy bootstrap each manifest's plugin configuration mirrors. Every manifest must be
/// listed (a new one says here which bootstrap it agrees with).
const MIRRORS: [(&str, &str); 5] = [
    ("rego-authz-wasmplugin.yaml", "rego-authz-events.yaml"),
    ("rego-authz-body-wasmplugin.yaml", "rego-authz.yaml"),
    ("tenant-header-wasmplugin.yaml", "tenant-header-events.yaml"),
    ("rego-authz-envoyfilter.yaml", "rego-authz.yaml"),
    (
        "rego-authz-native-envoyfilter.yaml",
        "rego-authz-native.yaml",
    ),
];

/// `events` fields that name the sink as the mesh sees it (`outbound|80||host`), which
/// necessarily differ from a static bootstrap's cluster.
const SINK_FIELDS: [&str; 2] = ["sink_cluster", "sink_authority"];

const WASM_FILTER_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
const DYNAMIC_MODULE_FILTER_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter";

fn root() -> PathBuf {
    palisade_testkit::workspace::root()
}

/// One Kubernetes resource from a manifest file.
#[derive(Debug, Clone)]
struct Resource {
    file: PathBuf,
    doc: Value,
}

impl Resource {
    fn kind(&self) -> &str {
        self.doc["kind"].as_str().unwrap_or_default()
    }

    fn label(&self) -> String {
        format!(
            "envoy-configs/{} ({} {})",
            self.file.display(),
            self.kind(),
            self.doc["metadata"]["name"].as_str().unwrap_or("?")
        )
    }
}

fn resources() -> Vec<Resource> {
    let mut found = Vec::new();
    for file in configs::manifests() {
        let text = std::fs::read_to_string(root().join("envoy-configs").join(&file)).unwrap();
        for document in serde_yaml::Deserializer::from_str(&text) {
            let doc = Value::deserialize(document)
                .unwrap_or_else(|e| panic!("{}: not YAML: {e}", file.display()));
            if !doc.is_null() {
                found.push(Resource {
                    file: file.clone(),
                    doc,
                });
            }
        }
    }
    assert!(
        !found.is_empty(),
        "no manifests in envoy-configs/{MANIFEST_DIR}"
    );
    found
}

/// Schema errors plus the rules the CRD states in CEL and Istio's webhook adds.
fn check(resource: &Resource) -> Vec<String> {
    istio::check(&resource.doc).unwrap_or_else(|e| panic!("{}: {e}", resource.label()))
}

fn deployed(resource: &Resource) -> Vec<Deployed> {
    let doc = &resource.doc;
    match resource.kind() {
        "WasmPlugin" => vec![istio::wasm_plugin(doc)
            .unwrap_or_else(|| panic!("{}: a WasmPlugin without a url", resource.label()))],
        "EnvoyFilter" => wasm_extension_configs(doc)
            .into_iter()
            .map(|config| Deployed {
                package: istio::package_of(
                    config
                        .pointer("/vm_config/code/remote/http_uri/uri")
                        .and_then(Value::as_str)
                        .unwrap(),
                ),
                root_id: config["root_id"].as_str().unwrap_or_default().to_string(),
                configuration: plugin_configuration(config.get("configuration")),
            })
            .chain(dynamic_module_filters(doc).into_iter().map(native_filter))
            .collect(),
        _ => Vec::new(),
    }
}

/// The `typed_config`s of an EnvoyFilter's patches that apply to `apply_to` and have the
/// type `type_url`.
fn patched_configs<'a>(doc: &'a Value, apply_to: &str, type_url: &str) -> Vec<&'a Value> {
    doc["spec"]["configPatches"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["applyTo"] == apply_to)
        .filter_map(|p| p.pointer("/patch/value/typed_config"))
        .filter(|c| c["@type"] == type_url)
        .collect()
}

/// The Wasm `PluginConfig`s of an EnvoyFilter's EXTENSION_CONFIG patches.
fn wasm_extension_configs(doc: &Value) -> Vec<&Value> {
    patched_configs(doc, "EXTENSION_CONFIG", WASM_FILTER_TYPE)
        .into_iter()
        .filter_map(|c| c.get("config"))
        .collect()
}

/// The dynamic-module filters (`DynamicModuleFilter` typed configs) an EnvoyFilter's
/// HTTP_FILTER patches insert.
fn dynamic_module_filters(doc: &Value) -> Vec<&Value> {
    patched_configs(doc, "HTTP_FILTER", DYNAMIC_MODULE_FILTER_TYPE)
}

/// A dynamic-module filter as the filter package it loads (the module `rego_authz` is the
/// package `rego-authz`), its filter name and its configuration.
fn native_filter(typed_config: &Value) -> Deployed {
    let module = typed_config["dynamic_module_config"]["name"]
        .as_str()
        .unwrap_or_default();
    Deployed {
        package: module.replace('_', "-"),
        root_id: typed_config["filter_name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        configuration: plugin_configuration(typed_config.get("filter_config")),
    }
}

/// The plugin configuration of the one filter in an Envoy bootstrap: a Wasm plugin's, or a
/// dynamic-module filter's.
fn bootstrap_configuration(file: &str) -> Value {
    let (rendered, plugins) = configs::render_for_validation(Path::new(file)).unwrap();
    let doc: Value = serde_yaml::from_str(&rendered).unwrap();
    let mut found: Vec<Value> = match plugins.first() {
        Some(plugin) => {
            let wasm = support::wasm(plugin);
            configs::wasm_plugins(&doc, &wasm.to_string_lossy())
                .into_iter()
                .map(|plugin| plugin.configuration)
                .collect()
        }
        None => mappings(&doc)
            .into_iter()
            .filter(|m| m.get("@type") == Some(&json!(DYNAMIC_MODULE_FILTER_TYPE)))
            .map(|m| native_filter(&Value::Object(m.clone())).configuration)
            .collect(),
    };
    assert_eq!(found.len(), 1, "{file}: expected one filter");
    found.remove(0)
}

/// The configuration without what depends on the deployment rather than the policy: the sink's
/// names, and `allow_on_headers_stop_iteration` (the SDK's mirror of the Envoy Wasm filter's own
/// setting, checked against it in `the_envoy_filter_wasm_config_passes_envoy_validate`).
fn without_deployment_fields(mut configuration: Value) -> Value {
    if let Some(members) = configuration.as_object_mut() {
        members.remove("allow_on_headers_stop_iteration");
    }
    if let Some(events) = configuration
        .get_mut("events")
        .and_then(Value::as_object_mut)
    {
        for field in SINK_FIELDS {
            events.remove(field);
        }
    }
    configuration
}

#[test]
fn every_manifest_matches_its_crd_schema() {
    let mut failures = Vec::new();
    let mut kinds = BTreeSet::new();
    for resource in resources() {
        kinds.insert(resource.kind().to_string());
        let errors = check(&resource);
        if !errors.is_empty() {
            failures.push(format!("{}:\n  {}", resource.label(), errors.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        kinds,
        BTreeSet::from(["EnvoyFilter".into(), "WasmPlugin".into()])
    );
}

#[test]
fn the_schema_check_rejects_what_a_cluster_would() {
    let plugin = resources()
        .into_iter()
        .find(|r| r.kind() == "WasmPlugin")
        .unwrap();
    assert!(check(&plugin).is_empty());
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut resource = plugin.clone();
        edit(&mut resource.doc);
        check(&resource)
    };
    type Edit<'a> = &'a dyn Fn(&mut Value);
    let cases: [(&str, Edit<'_>); 7] = [
        ("a misspelt field", &|d| {
            let value = d["spec"]
                .as_object_mut()
                .unwrap()
                .remove("failStrategy")
                .unwrap();
            d["spec"]["failStratgy"] = value;
        }),
        ("an unknown phase", &|d| {
            d["spec"]["phase"] = json!("AUTHORIZATION")
        }),
        ("a short sha256", &|d| d["spec"]["sha256"] = json!("abc123")),
        ("no url", &|d| {
            d["spec"].as_object_mut().unwrap().remove("url");
        }),
        ("selector and targetRefs", &|d| {
            d["spec"]["selector"] = json!({"matchLabels": {"app": "a"}});
            d["spec"]["targetRefs"] = json!([{"kind": "Gateway", "name": "g"}]);
        }),
        ("an ftp url", &|d| {
            d["spec"]["url"] = json!("ftp://example.com/f.wasm")
        }),
        ("a digest the sha256 contradicts", &|d| {
            d["spec"]["url"] = json!(format!("oci://r.example/p@sha256:{}", "1".repeat(64)));
            d["spec"]["sha256"] = json!("2".repeat(64));
        }),
    ];
    for (what, edit) in cases {
        assert!(!broken(edit).is_empty(), "{what} passed the check");
    }
}

#[test]
fn every_plugin_configuration_is_accepted_by_the_compiled_filter() {
    let packages = configs::filter_packages();
    let mut checked = 0;
    for resource in resources() {
        for filter in deployed(&resource) {
            let label = resource.label();
            assert!(
                packages.contains(&filter.package),
                "{label}: the image names {}, not a filter package ({packages:?})",
                filter.package
            );
            // As Istio delivers pluginConfig: the Struct as JSON text.
            let json = serde_json::to_string(&filter.configuration).unwrap();
            let mut host = HostBuilder::from_file(support::wasm(&filter.package))
                .plugin(PluginConfig::new(&filter.root_id).configuration(json))
                .build()
                .unwrap();
            let outcome = host.start().unwrap();
            let errors = host.log_messages_from(LogLevel::Error);
            assert!(
                outcome.ok(),
                "{label}: the filter refused its configuration: {errors:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} plugin configurations found");
}

#[test]
fn every_plugin_configuration_equals_its_envoy_bootstrap() {
    let listed: BTreeSet<&str> = MIRRORS.iter().map(|(m, _)| *m).collect();
    for file in configs::manifests() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            listed.contains(name.as_str()),
            "{name}: say in MIRRORS which Envoy bootstrap it mirrors"
        );
    }
    let resources = resources();
    for (manifest, bootstrap) in MIRRORS {
        let in_manifest: Vec<Deployed> = resources
            .iter()
            .filter(|r| r.file.file_name().is_some_and(|n| n == manifest))
            .flat_map(deployed)
            .collect();
        assert_eq!(in_manifest.len(), 1, "{manifest}: expected one filter");
        let expected = without_deployment_fields(bootstrap_configuration(bootstrap));
        let actual = without_deployment_fields(in_manifest[0].configuration.clone());
        assert!(
            actual == expected,
            "the plugin configuration of envoy-configs/{MANIFEST_DIR}/{manifest} differs from \
             envoy-configs/{bootstrap}'s (apart from events.{SINK_FIELDS:?} and allow_on_headers_stop_iteration):\n manifest:  \
             {actual}\n bootstrap: {expected}"
        );
    }
}

#[test]
fn the_envoy_filter_wasm_config_passes_envoy_validate() {
    let resource = resources()
        .into_iter()
        .find(|r| r.kind() == "EnvoyFilter" && !wasm_extension_configs(&r.doc).is_empty())
        .unwrap();
    let patches = resource.doc["spec"]["configPatches"].as_array().unwrap();
    let extension = patches
        .iter()
        .find(|p| p["applyTo"] == "EXTENSION_CONFIG")
        .unwrap();
    let filter = patches
        .iter()
        .find(|p| p["applyTo"] == "HTTP_FILTER")
        .unwrap();
    // The filter takes its config from the extension config, by name and type.
    assert_eq!(
        extension["patch"]["value"]["name"],
        filter["patch"]["value"]["name"]
    );
    let discovery = &filter["patch"]["value"]["config_discovery"];
    assert!(discovery["type_urls"]
        .as_array()
        .unwrap()
        .contains(&json!(WASM_FILTER_TYPE)));
    // Envoy checks the Wasm filter config as the Istio agent hands it over: with the pulled
    // module as a local file in place of the oci:// reference.
    let mut typed_config = extension["patch"]["value"]["typed_config"].clone();
    let package = istio::package_of(
        typed_config
            .pointer("/config/vm_config/code/remote/http_uri/uri")
            .and_then(Value::as_str)
            .unwrap(),
    );
    let wasm = support::wasm(&package);
    typed_config["config"]["vm_config"]["code"] =
        json!({"local": {"filename": wasm.to_string_lossy()}});
    let (rendered, _) = configs::render_for_validation(Path::new("rego-authz.yaml")).unwrap();
    let mut bootstrap: Value = serde_yaml::from_str(&rendered).unwrap();
    let mut replaced = 0;
    replace_filter(
        &mut bootstrap,
        "envoy.filters.http.wasm",
        &typed_config,
        &mut replaced,
    );
    assert_eq!(replaced, 1);
    let config = serde_yaml::to_string(&bootstrap).unwrap();
    if let Err(error) = envoy::validate(&config) {
        panic!(
            "{}: Envoy rejects the Wasm filter config: {error}",
            resource.label()
        );
    }
    // What Envoy accepted carries the setting the EnvoyFilter exists for, and the plugin
    // configuration says so to the filter.
    assert!(mappings(&bootstrap)
        .iter()
        .any(|m| m.get("allow_on_headers_stop_iteration") == Some(&json!(true))));
    assert_eq!(
        typed_config.pointer("/config/configuration/value/allow_on_headers_stop_iteration"),
        Some(&json!(true))
    );
}

/// Replaces the `typed_config` of the HTTP filter named `name` in a bootstrap.
fn replace_filter(value: &mut Value, name: &str, typed_config: &Value, replaced: &mut usize) {
    match value {
        Value::Object(map) => {
            if map.get("name") == Some(&json!(name)) {
                map.insert("typed_config".into(), typed_config.clone());
                *replaced += 1;
                return;
            }
            for child in map.values_mut() {
                replace_filter(child, name, typed_config, replaced);
            }
        }
        Value::Array(items) => {
            for item in items {
                replace_filter(item, name, typed_config, replaced);
            }
        }
        _ => {}
    }
}

#[test]
fn the_native_envoy_filter_enforces_its_policy_in_envoy_with_the_module() {
    let resource = resources()
        .into_iter()
        .find(|r| r.kind() == "EnvoyFilter" && !dynamic_module_filters(&r.doc).is_empty())
        .unwrap();
    let patch = resource.doc["spec"]["configPatches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["applyTo"] == "HTTP_FILTER")
        .unwrap();
    // Inserted before the router of the inbound HTTP connection manager, as its own filter.
    assert_eq!(patch["patch"]["operation"], "INSERT_BEFORE");
    assert_eq!(
        patch.pointer("/match/listener/filterChain/filter/subFilter/name"),
        Some(&json!("envoy.filters.http.router"))
    );
    let filter = patch["patch"]["value"].clone();
    let package = native_filter(&filter["typed_config"]).package;
    let module = palisade_build::build_native_once(&package)
        .unwrap_or_else(|e| panic!("building {package} natively: {e}"));
    // The native bootstrap with its dynamic-module filter replaced by the patch's.
    let upstream = palisade_testkit::echo::EchoServer::start().unwrap();
    let template = palisade_testkit::workspace::envoy_config("rego-authz-native.yaml");
    let rendered = envoy::render_file(
        &template,
        &[("UPSTREAM_PORT", &upstream.port().to_string())],
    )
    .unwrap();
    let mut bootstrap: Value = serde_yaml::from_str(&rendered).unwrap();
    let mut replaced = 0;
    replace_filter(
        &mut bootstrap,
        "envoy.filters.http.dynamic_modules",
        &filter["typed_config"],
        &mut replaced,
    );
    assert_eq!(replaced, 1);
    let config = serde_yaml::to_string(&bootstrap).unwrap();
    let proxy = envoy::Envoy::start_with_modules(&config, module.parent().unwrap())
        .unwrap_or_else(|e| panic!("{}: Envoy refuses the filter: {e}", resource.label()));
    let status = |path: &str, headers: &[(&str, &str)]| support::get(&proxy, path, headers).status;
    assert_eq!(status("/public/index.html", &[]), 200);
    assert_eq!(status("/private", &[]), 403);
    assert_eq!(status("/private", &[("x-role", "admin")]), 200);
}
