//! `palisade package`: build a filter and write it as an OCI image Istio's `WasmPlugin` pulls
//! (see [`crate::oci`] for the formats), then print what to pin in the `WasmPlugin`; optionally
//! copy it to a registry with skopeo.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::oci::{Image, Variant};

/// `palisade package` options (the crate is resolved by the caller).
#[derive(Debug, clap::Args)]
pub struct PackageArgs {
    /// The filter crate to build: its directory or Cargo.toml (anywhere), or a package of the
    /// Palisade workspace [default: the crate in the current directory]
    #[arg(value_name = "CRATE")]
    pub package: Option<String>,
    /// Where to write the image: a directory (an OCI image layout, `oci:DIR:TAG` for skopeo)
    /// or a file ending in `.tar` (its archive, `oci-archive:FILE`).
    #[arg(long, short, value_name = "DIR|FILE.tar")]
    pub output: PathBuf,
    /// The image format: `compat` (one tar+gzip layer holding plugin.wasm: every registry and
    /// tool handles it) or `oci` (two layers, the module as
    /// application/vnd.module.wasm.content.layer.v1+wasm). Istio pulls both.
    #[arg(long, value_enum, default_value_t = Variant::Compat)]
    pub variant: Variant,
    /// The tag the image gets in the layout.
    #[arg(long, default_value = "latest", value_name = "NAME")]
    pub tag: String,
    /// Copy the image with skopeo to REGISTRY/REPO:TAG (a `docker://` reference; any other
    /// skopeo destination with its transport, e.g. `oci:DIR:TAG`, works too). Log in first with
    /// `skopeo login REGISTRY`. Digests are preserved: the copy fails rather than change them.
    #[arg(long, value_name = "REGISTRY/REPO:TAG")]
    pub push: Option<String>,
}

/// What `palisade package` wrote.
#[derive(Debug)]
pub struct Packaged {
    /// The image.
    pub image: Image,
    /// The skopeo reference of what was written (`oci:DIR:TAG` or `oci-archive:FILE`).
    pub reference: String,
    /// The module's size in bytes.
    pub wasm_size: usize,
}

/// Writes `wasm` as an image at `output` (a directory, or an archive when it ends in `.tar`).
pub fn write(wasm: &[u8], variant: Variant, output: &Path, tag: &str) -> anyhow::Result<Packaged> {
    let image = Image::new(wasm, variant)?;
    let reference = if is_archive(output) {
        image.write_archive(output, tag)?;
        format!("oci-archive:{}", output.display())
    } else {
        image.write_layout(output, tag)?;
        format!("oci:{}:{tag}", output.display())
    };
    Ok(Packaged {
        image,
        reference,
        wasm_size: wasm.len(),
    })
}

fn is_archive(output: &Path) -> bool {
    output.extension().is_some_and(|e| e == "tar")
}

/// Builds `package`, writes its image and prints the digests (and pushes when asked).
#[allow(clippy::print_stdout)] // printing is this command's job
pub fn run(filter: &crate::toolchain::FilterCrate, args: &PackageArgs) -> anyhow::Result<()> {
    let package = filter.label();
    // Refuse what would fail after the build, before it.
    crate::oci::check_tag(&args.tag)?;
    if !is_archive(&args.output) {
        crate::oci::check_layout_dir(&args.output)?;
    }
    let built = crate::toolchain::build_filter(filter)?;
    let wasm =
        std::fs::read(&built.path).with_context(|| format!("reading {}", built.path.display()))?;
    let packaged = write(&wasm, args.variant, &args.output, &args.tag)?;
    let image = &packaged.image;
    println!(
        "wrote {} ({} image of {package})",
        packaged.reference,
        args.variant.name()
    );
    println!("manifest digest: {}", image.digest());
    println!(
        "wasm sha256: {} ({} bytes)",
        image.wasm_sha256, packaged.wasm_size
    );
    let url = match &args.push {
        Some(destination) => {
            let pushed = push(&packaged.reference, destination)?;
            println!("pushed to {pushed}");
            match pushed.strip_prefix("docker://") {
                Some(reference) => format!("oci://{reference}"),
                None => format!("oci://REGISTRY/REPO:{}", args.tag),
            }
        }
        None => format!("oci://REGISTRY/REPO:{}", args.tag),
    };
    println!("in a WasmPlugin:");
    println!("  url: {url}");
    println!(
        "  sha256: {}   # the manifest digest: what Istio checks for oci:// URLs",
        image.digest().trim_start_matches("sha256:")
    );
    Ok(())
}

/// Copies `source` (a skopeo reference) to `destination` with skopeo, keeping digests; returns
/// the destination as skopeo was given it.
pub fn push(source: &str, destination: &str) -> anyhow::Result<String> {
    let has_transport = [
        "docker://",
        "oci:",
        "oci-archive:",
        "dir:",
        "docker-archive:",
    ]
    .iter()
    .any(|t| destination.starts_with(t));
    let destination = if has_transport {
        destination.to_string()
    } else {
        format!("docker://{destination}")
    };
    // skopeo wants a local destination's parent directory to exist.
    if let Some(parent) = local_path(&destination).and_then(Path::parent) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    eprintln!("==> skopeo copy --preserve-digests {source} {destination}");
    let status = Command::new("skopeo")
        .args(["copy", "--preserve-digests", source, &destination])
        .status();
    match status {
        Ok(status) if status.success() => Ok(destination),
        Ok(status) => bail!("skopeo copy failed ({status}); its messages are above"),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "skopeo not found: install it (Debian: `apt-get install skopeo`, or run scripts/setup)"
        ),
        Err(err) => Err(err).context("running skopeo"),
    }
}

/// The path of an `oci:PATH[:TAG]` or `oci-archive:PATH[:TAG]` reference.
fn local_path(reference: &str) -> Option<&Path> {
    let rest = reference
        .strip_prefix("oci:")
        .or_else(|| reference.strip_prefix("oci-archive:"))?;
    let path = match rest.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => path,
        _ => rest,
    };
    Some(Path::new(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_destinations_are_found_with_or_without_a_tag() {
        assert_eq!(local_path("oci:/r/p/x:1.0"), Some(Path::new("/r/p/x")));
        assert_eq!(
            local_path("oci-archive:out/x.tar"),
            Some(Path::new("out/x.tar"))
        );
        assert_eq!(local_path("docker://r.example/p/x:1"), None);
    }
}
