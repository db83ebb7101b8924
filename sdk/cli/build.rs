//! Embeds the rego-authz filter in the command, so `palisade test`, `eval` and `up` need neither
//! cargo nor this checkout once the command is installed.
//!
//! The module is `PALISADE_REGO_AUTHZ_WASM` when set (scripts/test sets it to the module its
//! wasm build just wrote, so nothing is built twice), else rego-authz built here with the same
//! reproducible release build `palisade build` makes, into a target directory of its own under
//! `OUT_DIR` (the outer build holds the workspace's).

use std::path::{Path, PathBuf};

const PREBUILT: &str = "PALISADE_REGO_AUTHZ_WASM";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-env-changed={PREBUILT}");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let module = match std::env::var_os(PREBUILT) {
        Some(path) => {
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            path
        }
        None => {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            for input in [
                "filters/rego-authz",
                "sdk/palisade/src",
                "sdk/palisade/Cargo.toml",
                "Cargo.lock",
            ] {
                println!("cargo:rerun-if-changed={}", root.join(input).display());
            }
            palisade_build::build_into("rego-authz", &out_dir.join("rego-authz-target"))
                .map_err(|err| {
                    format!(
                        "building rego-authz to embed it: {err:#} (the build needs the \
                         wasm32-wasip1 target: `rustup target add wasm32-wasip1`)"
                    )
                })?
                .path
        }
    };
    std::fs::copy(&module, out_dir.join("rego_authz.wasm"))
        .map_err(|err| format!("copying {}: {err}", module.display()))?;
    Ok(())
}
