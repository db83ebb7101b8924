//! What building a filter needs from the Rust toolchain: the `wasm32-wasip1` target (added with
//! rustup when missing) and a release build of the crate, with progress on stderr.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{anyhow, bail, Context};
use palisade_build::{BuiltWasm, TARGET};

/// Whether the toolchain cargo uses in the workspace has the standard library for `TARGET`.
pub fn wasm_target_installed() -> anyhow::Result<bool> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .with_context(|| format!("running `{rustc} --print sysroot`: is Rust installed?"))?;
    if !output.status.success() {
        bail!(
            "`{rustc} --print sysroot` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    Ok(sysroot
        .join("lib/rustlib")
        .join(TARGET)
        .join("lib")
        .is_dir())
}

/// Installs the wasm target with rustup unless the toolchain has it already.
pub fn ensure_wasm_target() -> anyhow::Result<()> {
    if wasm_target_installed()? {
        return Ok(());
    }
    eprintln!("==> the Rust target {TARGET} is missing: running `rustup target add {TARGET}`");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => bail!(
            "`rustup target add {TARGET}` failed ({status}): run it yourself to see why, or \
             run scripts/setup"
        ),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "the Rust target {TARGET} is not installed and rustup was not found: add the \
             target with your toolchain's installer (with rustup: `rustup target add {TARGET}`)"
        ),
        Err(err) => Err(err).context("running rustup"),
    }
}

/// The filter crate a command builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterCrate {
    /// A crate anywhere, by its `Cargo.toml`.
    Manifest(PathBuf),
    /// A package of the Palisade workspace, by name (e.g. `rego-authz`).
    Package(String),
}

impl FilterCrate {
    /// What the user named: a crate directory or `Cargo.toml` when one is there, else a package
    /// of the Palisade workspace; with nothing named, the crate in the current directory.
    pub fn named(name: Option<&str>) -> anyhow::Result<Self> {
        let path = PathBuf::from(name.unwrap_or("."));
        let manifest = if path.is_dir() {
            path.join("Cargo.toml")
        } else {
            path.clone()
        };
        if manifest.is_file() {
            return Ok(Self::Manifest(manifest));
        }
        match name {
            Some(name) => Ok(Self::Package(name.to_string())),
            None => Err(crate::command::UsageError(
                "no Cargo.toml here: name the crate (a directory, its Cargo.toml, or a package \
                 of the Palisade workspace such as rego-authz), or run this in the crate's \
                 directory"
                    .into(),
            )
            .into()),
        }
    }

    /// How the crate is shown: its package name (else its manifest's path).
    pub fn label(&self) -> String {
        match self {
            Self::Manifest(path) => std::fs::read_to_string(path)
                .ok()
                .and_then(|manifest| palisade_build::package_name(&manifest))
                .unwrap_or_else(|| path.display().to_string()),
            Self::Package(name) => name.clone(),
        }
    }
}

/// Builds a filter crate for `TARGET` with the release profile (installing the target first if
/// needed); cargo's progress goes to stderr.
pub fn build_filter(filter: &FilterCrate) -> anyhow::Result<BuiltWasm> {
    ensure_wasm_target()?;
    eprintln!(
        "==> building {} for {TARGET} (cargo, release profile)",
        filter.label()
    );
    let package = match filter {
        FilterCrate::Manifest(manifest) => return palisade_build::build_manifest(manifest),
        FilterCrate::Package(package) => package,
    };
    palisade_build::build(package).map_err(|err| {
        anyhow!(
            "{err:#}\n  (is `{package}` a cdylib package of the workspace at {}? cargo's \
             messages above say why the build failed)",
            palisade_testkit::workspace::root().display()
        )
    })
}

/// Builds `filter` for this host as an Envoy dynamic module (`lib<crate>.so`, its `native`
/// feature, panics unwinding so each hook can catch them).
pub fn build_native_filter(filter: &FilterCrate) -> anyhow::Result<BuiltWasm> {
    eprintln!(
        "==> building {} as an Envoy dynamic module (cargo, release profile, --features native)",
        filter.label()
    );
    match filter {
        FilterCrate::Manifest(manifest) => palisade_build::build_native_manifest(manifest),
        FilterCrate::Package(package) => palisade_build::build_native(package),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_toolchain_has_the_wasm_target() {
        // The workspace's tests build filters, so the target is there (scripts/setup adds it).
        assert!(wasm_target_installed().unwrap());
    }
}
