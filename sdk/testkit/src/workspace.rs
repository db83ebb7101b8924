//! Where the Palisade workspace is, so commands and tests find configs, venv and crates.

use std::path::PathBuf;

pub use palisade_build::workspace_root as root;

/// A file under `envoy-configs/`.
pub fn envoy_config(name: &str) -> PathBuf {
    root().join("envoy-configs").join(name)
}
