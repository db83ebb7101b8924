//! The shipped Envoy bootstraps, every `envoy-configs/**/*.yaml` but the Istio manifests in
//! `envoy-configs/istio/`: each renders with placeholder values and passes
//! `envoy --mode validate` (which also loads the filter it names and runs its `on_configure`);
//! every filter and example has one with decision events; and the events bootstrap of the
//! example delivers events to a real sink.
//!
//! A new bootstrap is covered by being in the directory. It names its filter by the wasm
//! plugin's `name`, which is the filter's cargo package (`rego-authz`, `tenant-header`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use palisade_testkit::echo::EchoServer;
use palisade_testkit::envoy;
use palisade_testkit::sink::Sink;
use serde_json::{json, Value};

use crate::support;

/// Files under `envoy-configs/` that are Kubernetes manifests, not Envoy bootstraps (checked
/// by `istio.rs` instead).
pub const MANIFEST_DIR: &str = "istio";

/// The placeholders a bootstrap may use, and the value `envoy --mode validate` gets (ports are
/// never bound or dialled there). `WASM_PATH` is the built filter the file names.
const PORT_PLACEHOLDERS: [(&str, &str); 4] = [
    ("ADMIN_PORT", "0"),
    ("LISTENER_PORT", "0"),
    ("UPSTREAM_PORT", "9"),
    ("SINK_PORT", "9"),
];
const WASM_PLACEHOLDER: &str = "WASM_PATH";

fn configs_dir() -> PathBuf {
    palisade_testkit::workspace::root().join("envoy-configs")
}

/// Every `.yaml` under `dir`, sorted, as paths relative to `envoy-configs/`.
fn yaml_files(dir: &Path, into: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            yaml_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            into.push(path.strip_prefix(configs_dir()).unwrap().to_path_buf());
        }
    }
}

/// The bootstraps: every YAML file outside [`MANIFEST_DIR`].
pub fn bootstraps() -> Vec<PathBuf> {
    let mut files = Vec::new();
    yaml_files(&configs_dir(), &mut files);
    files
        .into_iter()
        .filter(|f| !f.starts_with(MANIFEST_DIR))
        .collect()
}

/// The Istio manifests: every YAML file under [`MANIFEST_DIR`].
pub fn manifests() -> Vec<PathBuf> {
    let mut files = Vec::new();
    yaml_files(&configs_dir().join(MANIFEST_DIR), &mut files);
    files
}

/// The filter crates of the workspace (`filters/*`, `examples/*` that are cdylibs), by
/// package name.
pub fn filter_packages() -> BTreeSet<String> {
    let root = palisade_testkit::workspace::root();
    let mut packages = BTreeSet::new();
    for group in ["filters", "examples"] {
        for entry in std::fs::read_dir(root.join(group)).unwrap() {
            let manifest = entry.unwrap().path().join("Cargo.toml");
            let Ok(text) = std::fs::read_to_string(&manifest) else {
                continue; // e.g. examples/rego: policies, not a crate
            };
            if !text.contains("cdylib") {
                continue;
            }
            let name = palisade_build::package_name(&text)
                .unwrap_or_else(|| panic!("{}: no [package] name", manifest.display()));
            packages.insert(name);
        }
    }
    packages
}

/// Every mapping in a YAML/JSON document, depth first.
pub fn mappings(value: &Value) -> Vec<&serde_json::Map<String, Value>> {
    let mut found = Vec::new();
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                found.push(map);
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

/// A wasm plugin in a bootstrap: Envoy's `PluginConfig` (`name`, `vm_config`, `configuration`).
#[derive(Debug)]
pub struct WasmPlugin {
    /// The plugin's `name`: the filter's package.
    pub name: String,
    /// The plugin configuration as the filter receives it (a `Struct`'s value, or the JSON in
    /// a `StringValue`).
    pub configuration: Value,
}

/// The wasm plugins whose code is `${WASM_PATH}`, in a bootstrap rendered with `marker` for it.
pub fn wasm_plugins(bootstrap: &Value, marker: &str) -> Vec<WasmPlugin> {
    mappings(bootstrap)
        .into_iter()
        .filter(|m| m.contains_key("vm_config"))
        .filter(|m| {
            m.get("vm_config")
                .and_then(|v| v.pointer("/code/local/filename"))
                .and_then(Value::as_str)
                == Some(marker)
        })
        .map(|m| WasmPlugin {
            name: m["name"].as_str().unwrap_or_default().to_string(),
            configuration: plugin_configuration(m.get("configuration")),
        })
        .collect()
}

/// A plugin `configuration` (an `Any`) as the JSON the filter receives.
pub fn plugin_configuration(any: Option<&Value>) -> Value {
    let Some(any) = any else {
        return json!({});
    };
    match any["@type"].as_str() {
        Some("type.googleapis.com/google.protobuf.Struct") => any["value"].clone(),
        Some("type.googleapis.com/google.protobuf.StringValue") => {
            serde_json::from_str(any["value"].as_str().unwrap()).unwrap()
        }
        other => panic!("unexpected plugin configuration type {other:?}"),
    }
}

/// A bootstrap rendered for `envoy --mode validate`, with the filter it names built; also the
/// names of the wasm plugins in it.
pub fn render_for_validation(file: &Path) -> Result<(String, Vec<String>), String> {
    let path = configs_dir().join(file);
    let marker = "/palisade-placeholder/filter.wasm";
    let mut vars: Vec<(&str, &str)> = PORT_PLACEHOLDERS.to_vec();
    vars.push((WASM_PLACEHOLDER, marker));
    let sketch = envoy::render_file(&path, &vars).map_err(|e| {
        format!(
            "{e} (known placeholders: {WASM_PLACEHOLDER}, {})",
            PORT_PLACEHOLDERS.map(|(name, _)| name).join(", ")
        )
    })?;
    let doc: Value = serde_yaml::from_str(&sketch).map_err(|e| format!("not YAML: {e}"))?;
    let plugins: BTreeSet<String> = wasm_plugins(&doc, marker)
        .into_iter()
        .map(|p| p.name)
        .collect();
    let known = filter_packages();
    let wasm = match plugins.iter().collect::<Vec<_>>().as_slice() {
        [] => marker.to_string(),
        [name] if known.contains(*name) => support::wasm(name).to_string_lossy().into_owned(),
        _ => {
            return Err(format!(
                "the wasm plugins loading ${{{WASM_PLACEHOLDER}}} are named {plugins:?}: name \
                 the one plugin after its filter package, one of {known:?}"
            ))
        }
    };
    vars.pop();
    vars.push((WASM_PLACEHOLDER, &wasm));
    let rendered = envoy::render_file(&path, &vars).map_err(|e| e.to_string())?;
    Ok((rendered, plugins.into_iter().collect()))
}

/// The directory of the dynamic module a bootstrap loads (`dynamic_module_config: { name: x }`),
/// built natively from the filter package of that name (`x` with `-` for `_`); `None` when the
/// bootstrap loads none.
fn native_modules(config: &str) -> Result<Option<PathBuf>, String> {
    let doc: Value = serde_yaml::from_str(config).map_err(|e| format!("not YAML: {e}"))?;
    let mut names = Vec::new();
    find_module_names(&doc, &mut names);
    match names.as_slice() {
        [] => Ok(None),
        [name] => {
            let package = name.replace('_', "-");
            let library = palisade_build::build_native_once(&package)?;
            Ok(library.parent().map(Path::to_path_buf))
        }
        _ => Err(format!("one dynamic module per bootstrap, found {names:?}")),
    }
}

fn find_module_names(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let module = value.get("name").and_then(Value::as_str);
                match (key.as_str(), module) {
                    ("dynamic_module_config", Some(name)) => names.push(name.to_string()),
                    _ => find_module_names(value, names),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| find_module_names(v, names)),
        _ => {}
    }
}

#[test]
fn every_bootstrap_passes_envoy_validate() {
    let files = bootstraps();
    assert!(files.len() >= 4, "bootstraps found: {files:?}");
    let mut failures = Vec::new();
    for file in &files {
        let started = Instant::now();
        let result = render_for_validation(file).and_then(|(config, _)| {
            let modules = native_modules(&config)?;
            envoy::validate_with_modules(&config, modules.as_deref()).map_err(|e| e.to_string())
        });
        eprintln!(
            "{}: {} in {:.1?}",
            file.display(),
            if result.is_ok() { "valid" } else { "INVALID" },
            started.elapsed()
        );
        if let Err(error) = result {
            failures.push(format!("envoy-configs/{}: {error}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn validation_fails_for_a_bootstrap_envoy_or_the_filter_rejects() {
    let (config, _) = render_for_validation(Path::new("tenant-header-events.yaml")).unwrap();
    // A field Envoy's Wasm filter does not have.
    let misspelt = config.replace("failure_policy: FAIL_RELOAD", "failure_polcy: FAIL_RELOAD");
    assert_ne!(misspelt, config);
    assert!(
        envoy::validate(&misspelt).is_err(),
        "a misspelt field passed"
    );
    // A plugin configuration the filter's on_configure refuses.
    let bad = envoy::with_plugin_configuration(
        &config,
        "tenant-header",
        &json!({"tenant_header": "X Tenant"}),
    )
    .unwrap();
    let error = envoy::validate(&bad).unwrap_err().to_string();
    assert!(error.contains("tenant_header"), "{error}");
}

#[test]
fn every_filter_and_example_has_a_bootstrap_with_decision_events() {
    let mut covered = BTreeSet::new();
    for file in bootstraps().iter().filter(|f| !f.starts_with("bench")) {
        let marker = "/placeholder.wasm";
        let mut vars: Vec<(&str, &str)> = PORT_PLACEHOLDERS.to_vec();
        vars.push((WASM_PLACEHOLDER, marker));
        let rendered = envoy::render_file(&configs_dir().join(file), &vars).unwrap();
        let doc: Value = serde_yaml::from_str(&rendered).unwrap();
        let clusters: BTreeSet<&str> = doc["static_resources"]["clusters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        for plugin in wasm_plugins(&doc, marker) {
            let Some(sink) = plugin.configuration.pointer("/events/sink_cluster") else {
                continue;
            };
            let sink = sink.as_str().unwrap();
            assert!(
                clusters.contains(sink),
                "{}: events.sink_cluster {sink} is not a cluster of the bootstrap ({clusters:?})",
                file.display()
            );
            covered.insert(plugin.name);
        }
    }
    let packages = filter_packages();
    let missing: Vec<_> = packages.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "no bootstrap in envoy-configs/ runs {missing:?} with an `events` section and a sink \
         cluster"
    );
}

#[test]
fn the_tenant_header_events_bootstrap_delivers_decision_events() {
    let upstream = EchoServer::start().unwrap();
    let sink = Sink::start().unwrap();
    let wasm = support::wasm("tenant-header");
    let bootstrap = envoy::render_file(
        &configs_dir().join("tenant-header-events.yaml"),
        &[
            ("UPSTREAM_PORT", &upstream.port().to_string()),
            ("SINK_PORT", &sink.port().to_string()),
            ("WASM_PATH", &wasm.to_string_lossy()),
        ],
    )
    .unwrap();
    let envoy = support::start(&bootstrap);
    let allowed = support::get(&envoy, "/orders?page=2", &[("x-tenant-id", "acme")]);
    assert_eq!(allowed.status, 200, "{allowed:?}");
    let denied = support::get(&envoy, "/orders", &[("x-tenant-id", "mallory")]);
    assert_eq!(denied.status, 403, "{denied:?}");
    // The file flushes every second; a busy machine is slower.
    let events = sink.wait_for(2, Duration::from_secs(20)).unwrap();
    let mut seen: Vec<(bool, String)> = events
        .iter()
        .map(|e| {
            assert_eq!(e.event_type(), "io.palisade.tenant_header.decision");
            assert_eq!(e.source(), "/palisade/tenant-header");
            let data = e.data().unwrap();
            let tenant = data["headers"]["x-tenant-id"].as_str().unwrap().to_string();
            (data["allowed"].as_bool().unwrap(), tenant)
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [(false, "mallory".to_string()), (true, "acme".to_string())]
    );
}
