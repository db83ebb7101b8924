//! `palisade package`: build a filter and write it as an OCI image Istio's `WasmPlugin` pulls
//! (see [`crate::oci`] for the formats), then print what to pin in the `WasmPlugin`; or, with
//! `--native`, an image holding the filter built as an Envoy dynamic module, to mount into the
//! proxy. Optionally copy it to a registry with skopeo.

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
    /// Package the filter built natively instead (`lib<crate>.so`, an Envoy dynamic module for
    /// this host): an image whose file system holds the library at its root, to mount into the
    /// proxy and name in ENVOY_DYNAMIC_MODULES_SEARCH_PATH (docs/DEPLOY.md, "Native on Istio").
    #[arg(long, conflicts_with = "variant")]
    pub native: bool,
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
    pub module_size: u64,
}

/// Writes `image` of a module of `module_size` bytes at `output` (a directory, or an archive
/// when it ends in `.tar`).
pub fn write(image: Image, module_size: u64, output: &Path, tag: &str) -> anyhow::Result<Packaged> {
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
        module_size,
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
    let (built, image) = match args.native {
        true => {
            let built = crate::toolchain::build_native_filter(filter)?;
            let library = read(&built.path)?;
            let file_name = built.path.file_name().unwrap_or_default().to_string_lossy();
            let image = Image::native(&library, &file_name)?;
            (built, image)
        }
        false => {
            let built = crate::toolchain::build_filter(filter)?;
            let image = Image::new(&read(&built.path)?, args.variant)?;
            (built, image)
        }
    };
    let packaged = write(image, built.size, &args.output, &args.tag)?;
    let image = &packaged.image;
    let kind = match args.native {
        true => "native",
        false => args.variant.name(),
    };
    println!("wrote {} ({kind} image of {package})", packaged.reference);
    println!("manifest digest: {}", image.digest());
    let module = if args.native { "library" } else { "wasm" };
    println!(
        "{module} sha256: {} ({} bytes)",
        image.module_sha256, packaged.module_size
    );
    let reference = match &args.push {
        Some(destination) => {
            let pushed = push(&packaged.reference, destination)?;
            println!("pushed to {pushed}");
            pushed.strip_prefix("docker://").map(str::to_string)
        }
        None => None,
    };
    if args.native {
        let file = built.path.file_name().unwrap_or_default().to_string_lossy();
        println!("in the proxy: mount the image (e.g. a Kubernetes image volume) at a directory,");
        println!(
            "  and set ENVOY_DYNAMIC_MODULES_SEARCH_PATH to it: Envoy loads {file} from there"
        );
        println!(
            "  image: {}@{}",
            reference.as_deref().map_or_else(
                || format!("REGISTRY/REPO:{}", args.tag),
                |r| r.rsplit_once(':').map_or(r, |(repo, _)| repo).to_string()
            ),
            image.digest()
        );
        return Ok(());
    }
    let url = match reference {
        Some(reference) => format!("oci://{reference}"),
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

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
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
