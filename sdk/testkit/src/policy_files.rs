//! Policies on disk: a `.rego` file, or a directory of `.rego` files with an optional base
//! document (`data.json` or `data.yaml`), turned into rego-authz's `policies` and `data`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Rego modules and the base document, as rego-authz's plugin configuration takes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicySet {
    /// Rego source by module name. Modules read from disk are named by their path as given
    /// (`examples/rego/rbac/policy.rego`), so the filter's syntax errors point at the file.
    pub modules: BTreeMap<String, String>,
    /// The base document (`data.*`).
    pub data: Option<serde_json::Value>,
}

/// Why policies could not be read from disk.
#[derive(Debug, thiserror::Error)]
pub enum PolicyFilesError {
    /// A file or directory could not be read.
    #[error("reading {}: {source}", .path.display())]
    Read {
        /// What was being read.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A data file is not a JSON/YAML object.
    #[error("{}: {message}", .path.display())]
    BadData {
        /// The data file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A directory holds no policy.
    #[error("{}: no .rego files here", .dir.display())]
    NoPolicies {
        /// The directory.
        dir: PathBuf,
    },
    /// A directory has two data files.
    #[error("{} has both data.json and data.yaml: keep one", .dir.display())]
    TwoDataFiles {
        /// The directory.
        dir: PathBuf,
    },
}

fn read(path: &Path) -> Result<String, PolicyFilesError> {
    std::fs::read_to_string(path).map_err(|source| PolicyFilesError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A path without a leading `./`, as people write paths.
pub fn display_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    text.strip_prefix("./").unwrap_or(&text).to_string()
}

/// Whether a file is a directory's base document.
pub fn is_data_file(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("data.json" | "data.yaml" | "data.yml")
    )
}

/// Whether a file is a Rego policy module (OPA's `*_test.rego` unit tests are not).
pub fn is_policy_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.ends_with(".rego") && !name.ends_with("_test.rego")
}

/// Whether `path` is an OPA unit test file (`*_test.rego`).
pub fn is_test_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|name| name.ends_with("_test.rego"))
}

/// The policy modules directly in `dir`, sorted.
pub fn rego_files(dir: &Path) -> Result<Vec<PathBuf>, PolicyFilesError> {
    let entries = std::fs::read_dir(dir).map_err(|source| PolicyFilesError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && is_policy_file(p))
        .collect();
    files.sort();
    Ok(files)
}

/// The base document file in `dir`, if it has one.
pub fn data_file(dir: &Path) -> Result<Option<PathBuf>, PolicyFilesError> {
    let found: Vec<PathBuf> = ["data.json", "data.yaml", "data.yml"]
        .iter()
        .map(|name| dir.join(name))
        .filter(|p| p.is_file())
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        _ => Err(PolicyFilesError::TwoDataFiles {
            dir: dir.to_path_buf(),
        }),
    }
}

/// Reads a base document (JSON, or YAML for `.yaml`/`.yml`); it must be an object.
pub fn read_data(path: &Path) -> Result<serde_json::Value, PolicyFilesError> {
    let text = read(path)?;
    let bad = |message: String| PolicyFilesError::BadData {
        path: path.to_path_buf(),
        message,
    };
    let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
    let value: serde_json::Value = if yaml {
        serde_yaml::from_str(&text).map_err(|e| bad(e.to_string()))?
    } else {
        serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?
    };
    if !value.is_object() {
        return Err(bad("the base document must be an object".into()));
    }
    Ok(value)
}

impl PolicySet {
    /// A `.rego` file alone, or a directory's modules and base document.
    pub fn load(path: &Path) -> Result<Self, PolicyFilesError> {
        if path.is_dir() {
            Self::from_dir(path)
        } else {
            let mut set = Self::default();
            set.modules.insert(display_path(path), read(path)?);
            Ok(set)
        }
    }

    /// Every policy module in `dir` and its `data.json`/`data.yaml`, if any.
    pub fn from_dir(dir: &Path) -> Result<Self, PolicyFilesError> {
        let files = rego_files(dir)?;
        if files.is_empty() {
            return Err(PolicyFilesError::NoPolicies {
                dir: dir.to_path_buf(),
            });
        }
        let mut modules = BTreeMap::new();
        for file in files {
            let source = read(&file)?;
            modules.insert(display_path(&file), source);
        }
        let data = data_file(dir)?.map(|f| read_data(&f)).transpose()?;
        Ok(Self { modules, data })
    }

    /// rego-authz's plugin configuration: `extra` fields (`dry_run`, `with_body`, ...) with
    /// these `policies` and `data`.
    pub fn plugin_configuration(
        &self,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> serde_json::Value {
        let mut config = extra.clone();
        config.insert("policies".into(), serde_json::json!(self.modules));
        if let Some(data) = &self.data {
            config.insert("data".into(), data.clone());
        }
        serde_json::Value::Object(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_gives_its_modules_and_data() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.rego"), "package b").unwrap();
        std::fs::write(dir.path().join("a.rego"), "package a").unwrap();
        std::fs::write(dir.path().join("a_test.rego"), "package a_test").unwrap();
        std::fs::write(dir.path().join("data.yaml"), "roles: {admin: [GET]}").unwrap();
        let set = PolicySet::load(dir.path()).unwrap();
        let names: Vec<&String> = set.modules.keys().collect();
        assert_eq!(names.len(), 2);
        assert!(names[0].ends_with("a.rego") && names[1].ends_with("b.rego"));
        assert_eq!(
            set.data,
            Some(serde_json::json!({"roles": {"admin": ["GET"]}}))
        );
        let config = set.plugin_configuration(&serde_json::Map::new());
        assert_eq!(config["data"]["roles"]["admin"][0], "GET");
    }

    #[test]
    fn problems_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = PolicySet::load(dir.path()).unwrap_err();
        assert!(matches!(err, PolicyFilesError::NoPolicies { .. }), "{err}");
        std::fs::write(dir.path().join("p.rego"), "package p").unwrap();
        std::fs::write(dir.path().join("data.json"), "[1]").unwrap();
        let err = PolicySet::load(dir.path()).unwrap_err();
        assert!(err
            .to_string()
            .contains("data.json: the base document must be an object"));
        assert_eq!(display_path(Path::new("./x/p.rego")), "x/p.rego");
    }
}
