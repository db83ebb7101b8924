//! What the CLI's test files share: running the `palisade` binary and reading its output.
// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `palisade` with `args`, from the test's working directory.
pub(crate) fn palisade(args: &[&str]) -> Output {
    palisade_in(Path::new("."), args)
}

/// Runs `palisade` with `args` in `dir`.
pub(crate) fn palisade_in(dir: &Path, args: &[&str]) -> Output {
    command().current_dir(dir).args(args).output().unwrap()
}

/// The `palisade` binary, with the workspace's Envoy as `$ENVOY`: `up` would otherwise
/// install one into the user's cache (scripts/standalone tests that, in a cache of its own).
pub(crate) fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_palisade"));
    command.env("ENVOY", palisade_testkit::envoy::binary().unwrap());
    command
}

/// Output bytes as text.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
