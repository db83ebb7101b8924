//! `palisade new rego NAME`: a Rego policy project of one's own, anywhere, that works at once:
//! a policy and its base document, OPA unit tests, decision cases, an Envoy bootstrap and an
//! Istio `WasmPlugin` (both with the policy in their plugin configuration), and a README with
//! the next commands. The files are templates embedded in the command (`templates/rego/`).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::command::UsageError;

/// `palisade new`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct NewArgs {
    /// What kind of project: `rego` (a Rego policy for the rego-authz filter).
    #[arg(value_enum)]
    pub kind: Kind,
    /// The project's directory, created here; its last part names the project.
    pub name: PathBuf,
}

/// The kinds of project `palisade new` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A Rego policy, run by the rego-authz filter.
    Rego,
}

/// The Rego project's files: name, template.
const REGO: [(&str, &str); 7] = [
    ("policy.rego", include_str!("../templates/rego/policy.rego")),
    ("data.json", include_str!("../templates/rego/data.json")),
    (
        "policy_test.rego",
        include_str!("../templates/rego/policy_test.rego"),
    ),
    ("cases.yaml", include_str!("../templates/rego/cases.yaml")),
    ("envoy.yaml", include_str!("../templates/rego/envoy.yaml")),
    (
        "wasmplugin.yaml",
        include_str!("../templates/rego/wasmplugin.yaml"),
    ),
    ("README.md", include_str!("../templates/rego/README.md")),
];

/// Writes the project; returns the files written.
pub fn create(args: &NewArgs) -> anyhow::Result<Vec<PathBuf>> {
    let name = project_name(&args.name)?;
    if args.name.exists() {
        return Err(UsageError(format!(
            "{} already exists: give a new directory",
            args.name.display()
        ))
        .into());
    }
    let Kind::Rego = args.kind;
    let files = rego_project(&name)?;
    std::fs::create_dir_all(&args.name)
        .with_context(|| format!("creating {}", args.name.display()))?;
    let mut written = Vec::new();
    for (file, text) in files {
        let path = args.name.join(file);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// The directory's last part, when it can name a Kubernetes object and an Envoy plugin.
fn project_name(dir: &Path) -> anyhow::Result<String> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-');
    if valid {
        Ok(name.to_string())
    } else {
        Err(UsageError(format!(
            "{:?} cannot name the project: use lowercase letters, digits and '-', starting with \
             a letter (it names the WasmPlugin and the Envoy plugin)",
            name
        ))
        .into())
    }
}

/// The Rego project's files, rendered for `name`.
fn rego_project(name: &str) -> anyhow::Result<Vec<(&'static str, String)>> {
    let source = |file: &str| {
        REGO.iter()
            .find(|(f, _)| *f == file)
            .map(|(_, text)| text.replace("{{NAME}}", name))
            .unwrap_or_default()
    };
    let config = plugin_config(&source("policy.rego"), &source("data.json"))?;
    Ok(REGO
        .iter()
        .map(|(file, _)| (*file, fill_plugin_config(&source(file), &config)))
        .collect())
}

/// rego-authz's plugin configuration for the policy and data, as YAML.
fn plugin_config(policy: &str, data: &str) -> anyhow::Result<String> {
    let data: serde_yaml::Value = serde_json::from_str(data).context("the data template")?;
    let mut policies = serde_yaml::Mapping::new();
    policies.insert("policy.rego".into(), policy.into());
    let mut config = serde_yaml::Mapping::new();
    config.insert("path".into(), "envoy/authz/allow".into());
    config.insert("failure_mode".into(), "deny".into());
    config.insert("policies".into(), policies.into());
    config.insert("data".into(), data);
    Ok(serde_yaml::to_string(&config)?)
}

/// Replaces each `{{PLUGIN_CONFIG:N}}` line with `config` indented by N spaces.
fn fill_plugin_config(template: &str, config: &str) -> String {
    let mut out = String::new();
    for line in template.lines() {
        let indent = line
            .trim()
            .strip_prefix("{{PLUGIN_CONFIG:")
            .and_then(|rest| rest.strip_suffix("}}"))
            .and_then(|n| n.parse::<usize>().ok());
        match indent {
            Some(indent) => {
                for config_line in config.lines() {
                    if !config_line.is_empty() {
                        out.push_str(&" ".repeat(indent));
                    }
                    out.push_str(config_line);
                    out.push('\n');
                }
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_suit_kubernetes_and_envoy() {
        assert_eq!(
            project_name(Path::new("a/b/orders-api")).unwrap(),
            "orders-api"
        );
        for bad in ["Orders", "1api", "api-", "a_b", ""] {
            assert!(
                project_name(Path::new(bad)).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn the_configs_carry_the_policy_and_data_as_yaml() {
        let files = rego_project("orders").unwrap();
        let file = |name: &str| {
            files
                .iter()
                .find(|(f, _)| *f == name)
                .map(|(_, text)| text.clone())
                .unwrap()
        };
        let plugin: serde_yaml::Value = serde_yaml::from_str(&file("wasmplugin.yaml")).unwrap();
        let config = &plugin["spec"]["pluginConfig"];
        assert_eq!(
            config["policies"]["policy.rego"].as_str().unwrap(),
            file("policy.rego")
        );
        assert_eq!(config["data"]["writers"][0].as_str(), Some("alice"));
        assert_eq!(plugin["metadata"]["name"].as_str(), Some("orders"));

        let envoy: serde_yaml::Value = serde_yaml::from_str(&file("envoy.yaml")).unwrap();
        let wasm = &envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
            ["typed_config"]["http_filters"][0]["typed_config"]["config"];
        assert_eq!(wasm["configuration"]["value"], *config);
        assert!(!file("README.md").contains("{{"), "a placeholder was left");
    }
}
