//! Reproducible filter builds: the same source and toolchain give the same `.wasm`, so a
//! `sha256` pin (a WasmPlugin's, a release note's) can be checked by rebuilding.
//!
//! Two checks. A filter rebuilt from scratch in a second, fresh target directory (every
//! dependency compiled again, build scripts run again, another `OUT_DIR`) must be
//! byte-identical to the normal build. And no filter may contain a path that differs between
//! machines (the checkout, `$CARGO_HOME`, the target directory, `$HOME`): a rebuild on the same
//! machine cannot see those, another machine would.
//!
//! The from-scratch rebuild covers tenant-header by default (its dependencies: proxy-wasm,
//! serde, serde_json; about a minute). rego-authz's takes many minutes on a small CI machine
//! (regorus, RSA/EC crypto, chrono-tz, with LTO), so it runs when
//! `PALISADE_REPRODUCIBLE=all`; the path check covers it always.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::time::Instant;

/// Filters whose from-scratch rebuild runs by default.
const ALWAYS: [&str; 1] = ["tenant-header"];
/// Filters added by `PALISADE_REPRODUCIBLE=all`.
const SLOW: [&str; 1] = ["rego-authz"];

fn from_scratch() -> Vec<&'static str> {
    let all = std::env::var("PALISADE_REPRODUCIBLE").is_ok_and(|v| v == "all");
    ALWAYS
        .into_iter()
        .chain(SLOW.into_iter().filter(|_| all))
        .collect()
}

#[test]
fn a_fresh_target_directory_gives_the_same_wasm() {
    for package in from_scratch() {
        let normal = palisade_build::build(package).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let fresh = palisade_build::build_into(package, dir.path()).unwrap();
        eprintln!(
            "{package}: rebuilt from scratch in {:.0?}: sha256 {} ({} bytes)",
            started.elapsed(),
            fresh.sha256,
            fresh.size
        );
        assert_eq!(
            (normal.sha256.as_str(), normal.size),
            (fresh.sha256.as_str(), fresh.size),
            "{package}: {} and {} differ",
            normal.path.display(),
            fresh.path.display()
        );
    }
}

#[test]
fn no_filter_contains_a_machine_specific_path() {
    let root = palisade_build::workspace_root();
    let mut places: Vec<(&str, PathBuf)> = vec![("the checkout", root.clone())];
    if let Some(home) = palisade_build::cargo_home() {
        places.push(("$CARGO_HOME", home));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| h.len() > 1) {
        places.push(("$HOME", PathBuf::from(home)));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or(root.join("target"), PathBuf::from);
    places.push(("the target directory", target));
    for package in ALWAYS.into_iter().chain(SLOW) {
        let built = palisade_build::build(package).unwrap();
        let wasm = std::fs::read(&built.path).unwrap();
        for (what, place) in &places {
            let needle = format!("{}/", place.display());
            let found = wasm
                .windows(needle.len())
                .position(|w| w == needle.as_bytes());
            if let Some(at) = found {
                let end = (at + 120).min(wasm.len());
                panic!(
                    "{package}: the wasm holds a path under {what} ({needle}): {:?}",
                    String::from_utf8_lossy(&wasm[at..end])
                );
            }
        }
        // Dependencies' panic locations are there, remapped.
        let remapped = b"/cargo/registry/src/";
        assert!(
            wasm.windows(remapped.len()).any(|w| w == remapped),
            "{package}: no remapped registry path: is the check looking at the right thing?"
        );
    }
}
