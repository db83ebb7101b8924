//! Where the Palisade workspace is, so commands and tests find configs, venv and crates.

use std::path::{Path, PathBuf};

/// The workspace root: `PALISADE_ROOT` if set, else the checkout this binary was built from.
pub fn root() -> PathBuf {
    let root = match std::env::var_os("PALISADE_ROOT") {
        Some(root) => PathBuf::from(root),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
    };
    root.canonicalize().unwrap_or(root)
}

/// A file under `envoy-configs/`.
pub fn envoy_config(name: &str) -> PathBuf {
    root().join("envoy-configs").join(name)
}
