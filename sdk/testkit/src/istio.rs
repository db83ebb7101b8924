//! Istio resources as a cluster checks them (feature `istio`): a `WasmPlugin` or `EnvoyFilter`
//! against its CRD's OpenAPI v3 schema (`envoy-configs/istio/schema/`, from istio/api), made as
//! strict as the API server is with unknown fields, plus the rules the WasmPlugin CRD states in
//! CEL and Istio's webhook adds; and the filter a `WasmPlugin` deploys.
//!
//! The workspace tests check the manifests in `envoy-configs/istio/` with it; the CLI's tests
//! check the `WasmPlugin`s `palisade new` writes.

use std::path::PathBuf;

use serde_json::{json, Value};

/// Why a resource could not be checked at all (its errors against the schema are
/// [`check`]'s answer, not this).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// No CRD schema is kept for the resource's kind.
    #[error("no schema for kind {0:?}: add its CRD schema to envoy-configs/istio/schema")]
    UnknownKind(String),
    /// The schema file could not be read.
    #[error("reading {}: {source}", .path.display())]
    Read {
        /// The schema file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The schema file is not JSON, or not a schema the validator takes.
    #[error("{}: {message}", .path.display())]
    Invalid {
        /// The schema file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// A filter as a manifest deploys it: the package, its root id and plugin configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployed {
    /// The filter package the image names (the last segment of its repository).
    pub package: String,
    /// The root id the filter is configured under.
    pub root_id: String,
    /// The plugin configuration, as the JSON Istio passes.
    pub configuration: Value,
}

/// The errors a cluster would give for `resource` (a Kubernetes object as JSON): the CRD's
/// schema for its kind, and for a `WasmPlugin` the CRD's CEL rules and the webhook's `sha256`
/// rule. Empty when it would be accepted.
pub fn check(resource: &Value) -> Result<Vec<String>, SchemaError> {
    let kind = resource["kind"].as_str().unwrap_or_default();
    let validator = validator(kind)?;
    let mut errors: Vec<String> = validator
        .iter_errors(resource)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    if kind == "WasmPlugin" {
        errors.extend(wasm_plugin_rules(&resource["spec"]));
    }
    Ok(errors)
}

/// The filter a `WasmPlugin` deploys; `None` for other kinds, or a `WasmPlugin` without a `url`.
pub fn wasm_plugin(resource: &Value) -> Option<Deployed> {
    if resource["kind"] != "WasmPlugin" {
        return None;
    }
    let spec = &resource["spec"];
    let package = package_of(spec["url"].as_str()?);
    Some(Deployed {
        root_id: spec["pluginName"].as_str().unwrap_or(&package).to_string(),
        configuration: spec.get("pluginConfig").cloned().unwrap_or(json!({})),
        package,
    })
}

/// The filter package an image URL names (its repository's last path segment).
pub fn package_of(url: &str) -> String {
    let path = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = path.split('@').next().unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or_default();
    last.split(':').next().unwrap_or_default().to_string()
}

/// A CRD schema as Kubernetes applies it: objects that list `properties` and do not preserve
/// unknown fields reject the ones they do not list.
fn strict(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let preserves = map
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if map.contains_key("properties")
                && !preserves
                && !map.contains_key("additionalProperties")
            {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(strict);
        }
        Value::Array(items) => items.iter_mut().for_each(strict),
        _ => {}
    }
}

/// The validator for one kind: the CRD's schema for `spec` (and `status`) and the object's
/// envelope (`apiVersion`, `kind`, `metadata`) as the API server checks it.
fn validator(kind: &str) -> Result<jsonschema::Validator, SchemaError> {
    let (file, api_version) = match kind {
        "WasmPlugin" => ("wasmplugin.json", "extensions.istio.io/v1alpha1"),
        "EnvoyFilter" => ("envoyfilter.json", "networking.istio.io/v1alpha3"),
        other => return Err(SchemaError::UnknownKind(other.to_string())),
    };
    let path = crate::workspace::root()
        .join("envoy-configs/istio/schema")
        .join(file);
    let text = std::fs::read_to_string(&path).map_err(|source| SchemaError::Read {
        path: path.clone(),
        source,
    })?;
    let invalid = |message: String| SchemaError::Invalid {
        path: path.clone(),
        message,
    };
    let mut crd: Value = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    strict(&mut crd);
    // As `crd["properties"][name]` would: null when absent.
    let property = |name: &str| {
        crd.pointer(&format!("/properties/{name}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let dns_label = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
    let dns_subdomain = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
    let schema = json!({
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": false,
        "properties": {
            "apiVersion": {"enum": [api_version]},
            "kind": {"enum": [kind]},
            "metadata": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": false,
                "properties": {
                    "name": {"type": "string", "maxLength": 253, "pattern": dns_subdomain},
                    "namespace": {"type": "string", "maxLength": 63, "pattern": dns_label},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "annotations": {"type": "object", "additionalProperties": {"type": "string"}}
                }
            },
            "spec": property("spec"),
            "status": property("status")
        }
    });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema)
        .map_err(|e| invalid(e.to_string()))
}

/// The WasmPlugin CRD's `x-kubernetes-validations`, and the webhook's `sha256` rule.
fn wasm_plugin_rules(spec: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let targets = ["selector", "targetRef", "targetRefs"]
        .iter()
        .filter(|f| spec.get(**f).is_some())
        .count();
    if targets > 1 {
        errors.push("only one of targetRefs or selector can be set".into());
    }
    let url = spec["url"].as_str().unwrap_or_default();
    let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or("");
    if !["", "http", "https", "oci", "file"].contains(&scheme) {
        errors.push(format!(
            "url must have schema one of [http, https, file, oci]: {url}"
        ));
    }
    let labels = spec
        .pointer("/selector/matchLabels")
        .and_then(Value::as_object);
    for (key, value) in labels.into_iter().flatten() {
        if key.is_empty() || key.contains('*') || value.as_str().unwrap_or("*").contains('*') {
            errors.push(format!("selector.matchLabels: bad label {key}={value}"));
        }
    }
    if let (Some((_, in_url)), Some(field)) = (url.split_once("@sha256:"), spec["sha256"].as_str())
    {
        if !field.is_empty() && in_url != field {
            errors.push(format!(
                "sha256 {field} disagrees with the URL's digest {in_url}"
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_of_takes_the_repository_s_last_segment() {
        for url in [
            "oci://registry.example.com/palisade/rego-authz:1.0.0",
            "oci://registry.example.com/palisade/rego-authz@sha256:abc",
            "https://example.com/rego-authz",
            "rego-authz",
        ] {
            assert_eq!(package_of(url), "rego-authz", "{url}");
        }
    }

    #[test]
    fn an_unknown_kind_has_no_schema() {
        let resource = json!({"apiVersion": "v1", "kind": "ConfigMap"});
        assert!(matches!(
            check(&resource),
            Err(SchemaError::UnknownKind(kind)) if kind == "ConfigMap"
        ));
        assert_eq!(wasm_plugin(&resource), None);
    }
}
