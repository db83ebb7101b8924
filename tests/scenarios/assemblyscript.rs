//! Builds the AssemblyScript filters of `tests/filters/assemblyscript/<name>/` (third-party
//! proxy-wasm filters written with the `@solo-io/proxy-runtime` SDK) to `.wasm`, once per test
//! process.
//!
//! The filter's `package.json`, `package-lock.json` and `assembly/` are copied into a fresh staging
//! directory under cargo's target directory; `npm ci` installs the pinned SDK and compiler there,
//! `asc` compiles `assembly/index.ts` with the options the SDK asks for, and the module is moved to
//! `<target>/tmp/assemblyscript/<name>.wasm`. The source tree is never written to, and two test
//! processes sharing a target directory never build in the same directory (the final move is an
//! atomic rename). Node.js and npm must be on `PATH`; without them the build fails and says so.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use anyhow::{bail, Context};

/// `asc` options after the entry file: the SDK's README asks for its own `abort` (which logs the
/// message at critical and exits through WASI `proc_exit`) and `--optimize` for release builds.
const ASC_OPTIONS: &[&str] = &["--use", "abort=abort_proc_exit", "--optimize"];

/// The files of a filter package that the build reads (everything else, such as a `node_modules`
/// left by a hand build, is not copied).
const PACKAGE_FILES: &[&str] = &["package.json", "package-lock.json"];
const SOURCE_DIR: &str = "assembly";
const ENTRY: &str = "assembly/index.ts";

/// The source directory of the AssemblyScript filter `name`, checked to hold a pinned npm package
/// with an entry file.
pub fn sources(name: &str) -> anyhow::Result<PathBuf> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        bail!("`{name}` is not a directory name under tests/filters/assemblyscript");
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("filters/assemblyscript")
        .join(name);
    for file in PACKAGE_FILES.iter().chain([&ENTRY]) {
        let path = dir.join(file);
        if !path.is_file() {
            bail!("{} is missing", path.display());
        }
    }
    Ok(dir)
}

/// Builds the filter `name` once per process (scenario files run on many threads) and returns the
/// `.wasm` path; a failed build is reported to every file that names the filter.
pub fn build_once(name: &str) -> Result<PathBuf, String> {
    type Cell = Arc<OnceLock<Result<PathBuf, String>>>;
    static BUILDS: OnceLock<Mutex<HashMap<String, Cell>>> = OnceLock::new();
    let cell = BUILDS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(name.to_string())
        .or_default()
        .clone();
    cell.get_or_init(|| build(name).map_err(|e| format!("{e:#}")))
        .clone()
}

fn build(name: &str) -> anyhow::Result<PathBuf> {
    let started = Instant::now();
    let sources = sources(name)?;
    let node = tool_version("node")?;
    let npm = tool_version("npm")?;

    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("assemblyscript");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempdir_in(&out_dir)
        .with_context(|| format!("creating a staging directory in {}", out_dir.display()))?;
    let stage = staging.path();
    for file in PACKAGE_FILES {
        std::fs::copy(sources.join(file), stage.join(file))
            .with_context(|| format!("copying {file} of {name}"))?;
    }
    copy_tree(&sources.join(SOURCE_DIR), &stage.join(SOURCE_DIR))?;

    // `npm ci` installs exactly the lock file's versions (and fails if package.json disagrees
    // with it); scripts of dependencies have no business running here.
    run(
        Command::new("npm")
            .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
            .args(["--loglevel", "error"])
            .current_dir(stage),
        &format!("npm ci for {name}"),
    )?;
    let built = stage.join(format!("{name}.wasm"));
    run(
        Command::new("node")
            .arg("node_modules/assemblyscript/bin/asc")
            .arg(ENTRY)
            .arg("--binaryFile")
            .arg(&built)
            .args(ASC_OPTIONS)
            .current_dir(stage),
        &format!("asc for {name}"),
    )?;
    let wasm = out_dir.join(format!("{name}.wasm"));
    std::fs::rename(&built, &wasm)
        .with_context(|| format!("moving {} to {}", built.display(), wasm.display()))?;
    eprintln!(
        "built AssemblyScript filter {name} (node {node}, npm {npm}) in {:.1?}",
        started.elapsed()
    );
    Ok(wasm)
}

/// The version a tool prints, or an error that says how to get the tool.
fn tool_version(tool: &str) -> anyhow::Result<String> {
    let missing = || {
        format!(
            "the AssemblyScript test filters need Node.js and npm, and `{tool}` could not be \
             run: install them (Debian: `apt-get install nodejs npm`, which scripts/setup runs \
             when they are missing) and put them on PATH"
        )
    };
    let output = Command::new(tool)
        .arg("--version")
        .output()
        .with_context(missing)?;
    if !output.status.success() {
        bail!(
            "{}: `{tool} --version` failed ({})",
            missing(),
            output.status
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Runs a build step; its output is shown only when it fails.
fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Copies a directory of sources (files and subdirectories, no links).
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_is_named_with_how_to_install_it() {
        let error = format!("{:#}", tool_version("palisade-no-such-tool").unwrap_err());
        assert!(
            error.contains("`palisade-no-such-tool` could not be run"),
            "{error}"
        );
        assert!(error.contains("apt-get install nodejs npm"), "{error}");
    }

    #[test]
    fn a_filter_name_is_a_directory_name() {
        assert!(sources("../as-headers").is_err());
        assert!(sources("").is_err());
        assert!(sources("as-headers").is_ok());
        let missing = format!("{:#}", sources("as-nothing").unwrap_err());
        assert!(
            missing.contains("as-nothing/package.json is missing"),
            "{missing}"
        );
    }
}
