//! `palisade new`: a policy project of one's own, anywhere, that works at once.
//!
//! - `rego NAME`: a policy and its base document, OPA unit tests, decision cases, an Envoy
//!   bootstrap and an Istio `WasmPlugin` (both with the policy in their plugin configuration),
//!   and a README with the next commands.
//! - `rust NAME`: a `cdylib` crate on the Palisade SDK with a policy and its native unit tests
//!   (`palisade::testing`), a test running the compiled `.wasm` in `palisade-harness`, an Envoy
//!   bootstrap, a `WasmPlugin` and a README.
//!
//! The files are templates embedded in the command (`templates/`).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::command::UsageError;

/// `palisade new`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct NewArgs {
    /// What kind of project.
    #[arg(value_enum)]
    pub kind: Kind,
    /// The project's directory, created here; its last part names the project.
    pub name: PathBuf,
    /// (rust) Depend on the SDK in this Palisade checkout (the directory holding sdk/palisade)
    /// [default: the checkout the command was built from, if it is still there]
    #[arg(long, value_name = "DIR", conflicts_with = "sdk_git")]
    pub sdk_path: Option<PathBuf>,
    /// (rust) Depend on the SDK in this git repository.
    #[arg(long, value_name = "URL")]
    pub sdk_git: Option<String>,
}

/// The kinds of project `palisade new` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A Rego policy, run by the rego-authz filter.
    Rego,
    /// A policy in Rust, its own filter.
    Rust,
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

/// The Rust project's files: name, template.
const RUST: [(&str, &str); 7] = [
    ("Cargo.toml", include_str!("../templates/rust/Cargo.toml")),
    ("src/lib.rs", include_str!("../templates/rust/src/lib.rs")),
    (
        "tests/wasm.rs",
        include_str!("../templates/rust/tests/wasm.rs"),
    ),
    ("envoy.yaml", include_str!("../templates/rust/envoy.yaml")),
    (
        "wasmplugin.yaml",
        include_str!("../templates/rust/wasmplugin.yaml"),
    ),
    ("README.md", include_str!("../templates/rust/README.md")),
    (".gitignore", include_str!("../templates/rust/.gitignore")),
];

/// The checkout this command was built from (`sdk/cli/../..`).
const BUILT_FROM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Where a Rust project gets the SDK and the harness.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SdkSource {
    /// A Palisade checkout on this machine.
    Path(PathBuf),
    /// A git repository holding the Palisade workspace.
    Git(String),
}

impl SdkSource {
    fn from_args(args: &NewArgs) -> anyhow::Result<Self> {
        if let Some(url) = &args.sdk_git {
            return Ok(Self::Git(url.clone()));
        }
        let (dir, given) = match &args.sdk_path {
            Some(dir) => (dir.clone(), true),
            None => (PathBuf::from(BUILT_FROM), false),
        };
        match dir.join("sdk/palisade/Cargo.toml").canonicalize() {
            Ok(manifest) => Ok(Self::Path(
                manifest
                    .ancestors()
                    .nth(3)
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
            )),
            Err(_) if given => Err(UsageError(format!(
                "--sdk-path {}: no Palisade checkout there (it has no sdk/palisade/Cargo.toml)",
                dir.display()
            ))
            .into()),
            Err(_) => Err(UsageError(
                "the Palisade checkout this command was built from is gone: say where the SDK \
                 is, with --sdk-path DIR (a Palisade checkout) or --sdk-git URL"
                    .into(),
            )
            .into()),
        }
    }

    /// The dependency source of a package of the Palisade workspace, for Cargo.toml.
    fn dependency(&self, crate_dir: &str) -> String {
        match self {
            Self::Path(root) => format!(
                "path = {}",
                toml_string(&root.join(crate_dir).display().to_string())
            ),
            Self::Git(url) => format!("git = {}", toml_string(url)),
        }
    }
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    serde_json::Value::String(text.into()).to_string()
}

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
    let (files, lock) = match args.kind {
        Kind::Rego => (rego_project(&name)?, None),
        Kind::Rust => {
            let sdk = SdkSource::from_args(args)?;
            // A path dependency starts from the versions the SDK is tested with.
            let lock = match &sdk {
                SdkSource::Path(root) => std::fs::read_to_string(root.join("Cargo.lock")).ok(),
                SdkSource::Git(_) => None,
            };
            (rust_project(&name, &sdk), lock)
        }
    };
    let lock = lock.map(|text| ("Cargo.lock", text));
    let mut written = Vec::new();
    for (file, text) in files.into_iter().chain(lock) {
        let path = args.name.join(file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
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

/// The Rust project's files, rendered for `name`.
fn rust_project(name: &str, sdk: &SdkSource) -> Vec<(&'static str, String)> {
    RUST.iter()
        .map(|(file, template)| {
            let text = template
                .replace("{{NAME}}", name)
                .replace("{{CRATE}}", &name.replace('-', "_"))
                .replace("{{PALISADE_SOURCE}}", &sdk.dependency("sdk/palisade"))
                .replace("{{HARNESS_SOURCE}}", &sdk.dependency("sdk/harness"))
                .replace("{{BUILD_SOURCE}}", &sdk.dependency("sdk/build"));
            (*file, text)
        })
        .collect()
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
    fn a_rust_project_depends_on_the_sdk_where_it_was_told() {
        let path = SdkSource::Path(PathBuf::from("/src/palisade"));
        let files = rust_project("api-key", &path);
        let manifest = &files.iter().find(|(f, _)| *f == "Cargo.toml").unwrap().1;
        assert!(manifest.contains("name = \"api-key\""), "{manifest}");
        assert!(
            manifest.contains("palisade = { path = \"/src/palisade/sdk/palisade\" }"),
            "{manifest}"
        );
        assert!(
            manifest.contains("palisade-harness = { path = \"/src/palisade/sdk/harness\" }"),
            "{manifest}"
        );
        assert!(
            manifest.contains("palisade-build = { path = \"/src/palisade/sdk/build\" }"),
            "{manifest}"
        );
        let wasm_test = &files.iter().find(|(f, _)| *f == "tests/wasm.rs").unwrap().1;
        assert!(
            wasm_test.contains("palisade_build::build_manifest"),
            "{wasm_test}"
        );

        let git = SdkSource::Git("https://example.test/palisade.git".into());
        let files = rust_project("api-key", &git);
        let manifest = &files.iter().find(|(f, _)| *f == "Cargo.toml").unwrap().1;
        assert!(
            manifest.contains(
                "palisade = { git = \"https://example.test/palisade.git\", features = [\"testing\"] }"
            ),
            "{manifest}"
        );
        assert!(files.iter().all(|(_, text)| !text.contains("{{")));
    }

    #[test]
    fn an_sdk_path_without_a_checkout_is_refused() {
        let args = NewArgs {
            kind: Kind::Rust,
            name: PathBuf::from("x"),
            sdk_path: Some(PathBuf::from("/nonexistent")),
            sdk_git: None,
        };
        let err = SdkSource::from_args(&args).unwrap_err().to_string();
        assert!(err.contains("no Palisade checkout there"), "{err}");
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
