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
        .current_dir(crate::workspace::root())
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
        .current_dir(crate::workspace::root())
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

/// Builds a filter crate of the workspace for `TARGET` with the release profile (installing
/// the target first if needed); cargo's progress goes to stderr.
pub fn build_filter(package: &str) -> anyhow::Result<BuiltWasm> {
    ensure_wasm_target()?;
    eprintln!("==> building {package} for {TARGET} (cargo, release profile)");
    palisade_build::build(package).map_err(|err| {
        anyhow!(
            "{err:#}\n  (is `{package}` a cdylib package of the workspace at {}? cargo's \
             messages above say why the build failed)",
            crate::workspace::root().display()
        )
    })
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
