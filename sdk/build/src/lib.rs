//! Builds a filter crate to `wasm32-wasip1` with the workspace's release profile: the one place
//! the CLI, the harness tests and the end-to-end tests get their `.wasm` from.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

/// The wasm target filters are built for.
pub const TARGET: &str = "wasm32-wasip1";

/// A built filter module (a `.wasm`, or a native library for Envoy's dynamic modules).
#[derive(Debug, Clone)]
pub struct BuiltWasm {
    /// Where cargo wrote the `.wasm`.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the file, as a WasmPlugin `sha256` wants it.
    pub sha256: String,
}

/// Builds `package` (a cdylib crate in the workspace) and returns its `.wasm`.
///
/// Cargo's progress goes to stderr as usual; the artifact path is taken from cargo's own
/// JSON messages rather than guessed from the package name. The build is reproducible: see
/// [`reproducible_rustflags`].
pub fn build(package: &str) -> anyhow::Result<BuiltWasm> {
    build_with(package, None)
}

/// Builds `package` as [`build`] does, into another target directory (a fresh one rebuilds
/// every dependency: the reproducibility check compares the result with [`build`]'s).
pub fn build_into(package: &str, target_dir: &Path) -> anyhow::Result<BuiltWasm> {
    build_with(package, Some(target_dir))
}

/// Builds the filter crate whose `Cargo.toml` is `manifest`, anywhere (a policy author's own
/// repository), as [`build`] builds a workspace package: release profile, `TARGET`, paths
/// remapped from the crate's own workspace root.
pub fn build_manifest(manifest: &Path) -> anyhow::Result<BuiltWasm> {
    let manifest = manifest
        .canonicalize()
        .with_context(|| format!("finding {}", manifest.display()))?;
    let dir = manifest.parent().context("a Cargo.toml has a directory")?;
    let root = crate_workspace_root(&manifest)?;
    let mut command = Command::new(cargo());
    command
        .current_dir(dir)
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(&manifest)
        .args([
            "--config",
            &rustflags_config(&reproducible_rustflags_for(&root)),
        ]);
    run_cargo(command, &manifest.display().to_string())
}

/// The root of the cargo workspace `manifest` belongs to (its own directory for a lone crate).
fn crate_workspace_root(manifest: &Path) -> anyhow::Result<PathBuf> {
    let output = Command::new(cargo())
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .arg("--manifest-path")
        .arg(manifest)
        .output()
        .context("running cargo locate-project")?;
    if !output.status.success() {
        bail!(
            "cargo locate-project --manifest-path {}: {}",
            manifest.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let workspace_manifest = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    Ok(workspace_manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default())
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The rustc flags every filter build adds for `TARGET`, so that the same source and toolchain
/// give the same `.wasm` bytes on any machine (a WasmPlugin's `sha256` pin can then be checked
/// by rebuilding).
///
/// A release build keeps the source path of every panic location that survives optimisation
/// (a bounds check, an `unwrap` in a dependency) as a string in the module. Workspace crates
/// get relative paths from cargo, but dependencies from crates.io are compiled from
/// `$CARGO_HOME/registry/src/...`, an absolute path that differs between machines (`/root/.cargo`,
/// `/home/alice/.cargo`). Stable cargo cannot trim paths yet (`trim-paths` is unstable), and
/// `.cargo/config.toml` cannot name a per-machine path, so the build passes
/// `--remap-path-prefix` through `cargo --config` (merged with the config file's own
/// `rustflags`, which stay): `$CARGO_HOME` becomes `/cargo` and the workspace root
/// `/palisade`. `scripts/test` passes the same flags to its plain `cargo build`, so the two
/// share compiled artifacts.
pub fn reproducible_rustflags() -> Vec<String> {
    reproducible_rustflags_for(&workspace_root())
}

/// [`reproducible_rustflags`] for a crate whose workspace root is `root`.
fn reproducible_rustflags_for(root: &Path) -> Vec<String> {
    let mut flags = vec![format!("--remap-path-prefix={}=/palisade", root.display())];
    // Last: rustc applies the last matching prefix, and CARGO_HOME may sit inside the root.
    if let Some(home) = cargo_home() {
        flags.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    flags
}

/// `$CARGO_HOME` as cargo resolves it (not canonicalised: cargo hands rustc the path as is).
pub fn cargo_home() -> Option<PathBuf> {
    let home = match std::env::var_os("CARGO_HOME") {
        Some(home) if !home.is_empty() => PathBuf::from(home),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".cargo"),
    };
    if home.is_absolute() {
        Some(home)
    } else {
        std::env::current_dir().ok().map(|dir| dir.join(home))
    }
}

/// `cargo --config` value adding `flags` to the wasm target's rustflags.
fn rustflags_config(flags: &[String]) -> String {
    let quoted: Vec<String> = flags.iter().map(|f| toml_string(f)).collect();
    format!("target.{TARGET}.rustflags=[{}]", quoted.join(", "))
}

/// A TOML basic string.
fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn build_with(package: &str, target_dir: Option<&Path>) -> anyhow::Result<BuiltWasm> {
    let mut command = Command::new(cargo());
    command
        .current_dir(workspace_root())
        .args(["build", "--release", "--target", TARGET, "-p", package])
        .args(["--config", &rustflags_config(&reproducible_rustflags())]);
    if let Some(dir) = target_dir {
        command.env("CARGO_TARGET_DIR", dir);
    }
    run_cargo(command, package)
}

/// The file extension of a native shared library on this host.
const NATIVE_EXTENSION: &str = if cfg!(target_os = "macos") {
    ".dylib"
} else {
    ".so"
};

/// Builds `package` for this host as an Envoy dynamic module (`lib<crate>.so`): its `native`
/// feature, the release profile with `panic = "unwind"` (every hook catches a panic, which must
/// not unwind into Envoy; with `abort` a panic would take Envoy down).
pub fn build_native(package: &str) -> anyhow::Result<BuiltWasm> {
    let mut command = Command::new(cargo());
    command
        .current_dir(workspace_root())
        .args(["build", "--release", "-p", package, "--features", "native"])
        .args(["--config", "profile.release.panic=\"unwind\""]);
    run_cargo_for(command, package, NATIVE_EXTENSION)
}

/// Builds the filter crate whose `Cargo.toml` is `manifest`, anywhere, as [`build_native`]
/// builds a workspace package.
pub fn build_native_manifest(manifest: &Path) -> anyhow::Result<BuiltWasm> {
    let mut command = Command::new(cargo());
    command
        .args([
            "build",
            "--release",
            "--features",
            "native",
            "--manifest-path",
        ])
        .arg(manifest)
        .args(["--config", "profile.release.panic=\"unwind\""]);
    run_cargo_for(command, &manifest.display().to_string(), NATIVE_EXTENSION)
}

/// [`build_native`] once per process; the library's path.
pub fn build_native_once(package: &str) -> Result<PathBuf, String> {
    once(&format!("{package} (native)"), || build_native(package))
}

/// Runs a `cargo build` command and returns the `.wasm` it wrote.
fn run_cargo(command: Command, package: &str) -> anyhow::Result<BuiltWasm> {
    run_cargo_for(command, package, ".wasm")
}

/// Runs a `cargo build` command and returns the artifact it wrote whose name ends in
/// `extension`.
fn run_cargo_for(
    mut command: Command,
    package: &str,
    extension: &str,
) -> anyhow::Result<BuiltWasm> {
    command
        .args(["--message-format", "json-render-diagnostics"])
        .stdout(Stdio::piped())
        // Set for build scripts (the CLI's embeds rego-authz); cargo would take it over the
        // reproducible flags.
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    let mut child = command.spawn().context("running cargo")?;
    let stdout = child.stdout.take().context("cargo stdout")?;
    let mut wasm = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("reading cargo output")?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if message.pointer("/reason").and_then(|r| r.as_str()) != Some("compiler-artifact") {
            continue;
        }
        let files = message
            .pointer("/filenames")
            .and_then(|f| f.as_array())
            .into_iter()
            .flatten();
        for file in files.filter_map(|f| f.as_str()) {
            if file.ends_with(extension) {
                wasm = Some(PathBuf::from(file));
            }
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        bail!("cargo build of {package} failed ({status})");
    }
    let path =
        wasm.with_context(|| format!("cargo built no {extension} for {package}: is it a cdylib?"))?;
    describe(&path)
}

/// Builds `package` once per process (tests call this from many threads) and returns its
/// `.wasm` path; a failed build is reported to every caller.
pub fn build_once(package: &str) -> Result<PathBuf, String> {
    once(package, || build(package))
}

/// Runs `build` once per process for `key`; every caller gets its path or its error.
fn once(key: &str, build: impl FnOnce() -> anyhow::Result<BuiltWasm>) -> Result<PathBuf, String> {
    type Cell = Arc<OnceLock<Result<PathBuf, String>>>;
    static BUILDS: OnceLock<Mutex<HashMap<String, Cell>>> = OnceLock::new();
    let cell = BUILDS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key.to_string())
        .or_default()
        .clone();
    cell.get_or_init(|| build().map(|b| b.path).map_err(|e| format!("{e:#}")))
        .clone()
}

/// The `[package] name` of a `Cargo.toml`'s text; `None` when it has none.
pub fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if let (true, Some(value)) = (in_package, line.strip_prefix("name")) {
            if let Some(name) = value.trim().strip_prefix('=') {
                return Some(name.trim().trim_matches('"').to_string());
            }
        }
    }
    None
}

/// The workspace root: `PALISADE_ROOT` if set, else the checkout this crate was built from.
pub fn workspace_root() -> PathBuf {
    let root = match std::env::var_os("PALISADE_ROOT") {
        Some(root) => PathBuf::from(root),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
    };
    root.canonicalize().unwrap_or(root)
}

/// Size and SHA-256 of a `.wasm` file.
pub fn describe(path: &Path) -> anyhow::Result<BuiltWasm> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(BuiltWasm {
        path: path.to_path_buf(),
        size: u64::try_from(bytes.len())?,
        sha256: sha256_hex(&bytes),
    })
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustflags_config_is_a_toml_array_of_strings() {
        let config = rustflags_config(&["--remap-path-prefix=/a \"b\"\\c=/x".into(), "-C".into()]);
        assert_eq!(
            config,
            r#"target.wasm32-wasip1.rustflags=["--remap-path-prefix=/a \"b\"\\c=/x", "-C"]"#
        );
    }

    #[test]
    fn the_cargo_home_is_remapped_last() {
        let flags = reproducible_rustflags();
        assert!(flags[0].ends_with("=/palisade"), "{flags:?}");
        assert!(flags.last().unwrap().ends_with("=/cargo"), "{flags:?}");
    }
}
