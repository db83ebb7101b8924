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

/// A built filter module.
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
/// JSON messages rather than guessed from the package name.
pub fn build(package: &str) -> anyhow::Result<BuiltWasm> {
    let root = workspace_root();
    let mut child = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&root)
        .args(["build", "--release", "--target", TARGET, "-p", package])
        .args(["--message-format", "json-render-diagnostics"])
        .stdout(Stdio::piped())
        .spawn()
        .context("running cargo")?;
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
            if file.ends_with(".wasm") {
                wasm = Some(PathBuf::from(file));
            }
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        bail!("cargo build of {package} for {TARGET} failed ({status})");
    }
    let path =
        wasm.with_context(|| format!("cargo built no .wasm for {package}: is it a cdylib?"))?;
    describe(&path)
}

/// Builds `package` once per process (tests call this from many threads) and returns its
/// `.wasm` path; a failed build is reported to every caller.
pub fn build_once(package: &str) -> Result<PathBuf, String> {
    type Cell = Arc<OnceLock<Result<PathBuf, String>>>;
    static BUILDS: OnceLock<Mutex<HashMap<String, Cell>>> = OnceLock::new();
    let cell = BUILDS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(package.to_string())
        .or_default()
        .clone();
    cell.get_or_init(|| build(package).map(|b| b.path).map_err(|e| format!("{e:#}")))
        .clone()
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
        sha256: hex(&Sha256::digest(&bytes)),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
