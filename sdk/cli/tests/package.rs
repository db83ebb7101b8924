//! `palisade package` as a user runs it, with the images checked by skopeo (the OCI tool of
//! containers/image; Debian package `skopeo`, which scripts/setup installs): `skopeo inspect`
//! reads each image, `skopeo copy` round-trips it (to another layout and to an archive) with
//! its digest unchanged, and the `plugin.wasm` taken out of the copy with GNU tar (compat) or
//! as the raw layer (oci) is byte-identical to the build; and the native image (`--native`)
//! holds the very library built, at its root, executable.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;

mod support;

use support::{palisade, text};

use serde_json::Value;

const PACKAGE: &str = "tenant-header";

/// Runs skopeo; a failure is a test failure with skopeo's message.
fn skopeo(args: &[&str]) -> String {
    let output = Command::new("skopeo")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running skopeo ({e}): install it with scripts/setup"));
    assert!(
        output.status.success(),
        "skopeo {args:?} failed: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// What `palisade package` printed.
#[derive(Debug)]
struct Printed {
    digest: String,
    wasm_sha256: String,
    stdout: String,
}

fn package(extra: &[&str]) -> Printed {
    let mut args = vec!["package", PACKAGE];
    args.extend_from_slice(extra);
    let out = palisade(&args);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let field = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{stdout}"))
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    Printed {
        digest: field("manifest digest: "),
        wasm_sha256: field("wasm sha256: "),
        stdout,
    }
}

/// The built module, as `palisade package` builds it.
fn built() -> (Vec<u8>, String) {
    let built = palisade_build::build(PACKAGE).unwrap();
    (std::fs::read(&built.path).unwrap(), built.sha256)
}

fn blob(layout: &Path, digest: &str) -> std::path::PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

#[test]
fn both_variants_round_trip_through_skopeo() {
    let (wasm, sha256) = built();
    let dir = tempfile::tempdir().unwrap();
    for (variant, layers) in [("compat", 1), ("oci", 2)] {
        let image = dir.path().join(variant);
        let printed = package(&[
            "--output",
            image.to_str().unwrap(),
            "--variant",
            variant,
            "--tag",
            "1.0.0",
        ]);
        assert_eq!(printed.wasm_sha256, sha256, "{}", printed.stdout);
        assert!(
            printed.stdout.contains(&format!(
                "sha256: {}",
                printed.digest.trim_start_matches("sha256:")
            )),
            "the WasmPlugin pin is the manifest digest:\n{}",
            printed.stdout
        );

        // skopeo reads it as an image.
        let source = format!("oci:{}:1.0.0", image.display());
        let inspected: Value = serde_json::from_str(&skopeo(&["inspect", &source])).unwrap();
        assert_eq!(inspected["Digest"], printed.digest.as_str());
        assert_eq!(inspected["Os"], "wasip1");
        assert_eq!(inspected["Architecture"], "wasm");
        assert_eq!(inspected["Layers"].as_array().unwrap().len(), layers);
        let manifest: Value =
            serde_json::from_str(&skopeo(&["inspect", "--raw", &source])).unwrap();
        let types: Vec<&str> = manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["mediaType"].as_str().unwrap())
            .collect();
        let expected: &[&str] = match variant {
            "compat" => &["application/vnd.oci.image.layer.v1.tar+gzip"],
            _ => &[
                "application/vnd.module.wasm.config.v1+json",
                "application/vnd.module.wasm.content.layer.v1+wasm",
            ],
        };
        assert_eq!(types, expected);

        // skopeo copies it to another layout and to an archive, digest unchanged.
        let copy = dir.path().join(format!("{variant}-copy"));
        let archive = dir.path().join(format!("{variant}-copy.tar"));
        skopeo(&[
            "copy",
            "--quiet",
            &source,
            &format!("oci:{}:copied", copy.display()),
        ]);
        skopeo(&[
            "copy",
            "--quiet",
            &source,
            &format!("oci-archive:{}:copied", archive.display()),
        ]);
        for copied in [
            format!("oci:{}:copied", copy.display()),
            format!("oci-archive:{}:copied", archive.display()),
        ] {
            let inspected: Value = serde_json::from_str(&skopeo(&["inspect", &copied])).unwrap();
            assert_eq!(inspected["Digest"], printed.digest.as_str(), "{copied}");
        }

        // The module out of the copy is the build, byte for byte.
        let copied_manifest: Value =
            serde_json::from_slice(&std::fs::read(blob(&copy, &printed.digest)).unwrap()).unwrap();
        let out_of_copy = match variant {
            "compat" => {
                let layer = blob(
                    &copy,
                    copied_manifest["layers"][0]["digest"].as_str().unwrap(),
                );
                extract(&layer, "plugin.wasm", &dir.path().join("extracted"))
            }
            _ => {
                let layer = copied_manifest["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|l| l["mediaType"] == "application/vnd.module.wasm.content.layer.v1+wasm")
                    .unwrap();
                std::fs::read(blob(&copy, layer["digest"].as_str().unwrap())).unwrap()
            }
        };
        assert!(
            out_of_copy == wasm,
            "{variant}: the module out of the copy differs"
        );
        // And by Istio's rules, as palisade_cli::oci reads them.
        let read = palisade_cli::oci::read_wasm(&copy, Some("copied")).unwrap();
        assert_eq!(read.digest, printed.digest);
        assert!(read.wasm == wasm);
    }
}

#[test]
fn a_native_image_holds_the_built_library_at_its_root() {
    let library = palisade_build::build_native_once(PACKAGE).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("native");
    let out = palisade(&[
        "package",
        PACKAGE,
        "--native",
        "--output",
        image.to_str().unwrap(),
        "--tag",
        "1.0.0",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("ENVOY_DYNAMIC_MODULES_SEARCH_PATH"),
        "{stdout}"
    );
    let bytes = std::fs::read(&library).unwrap();
    let sha256 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("library sha256: "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no library sha256 in:\n{stdout}"));
    assert_eq!(sha256, palisade_cli::oci::sha256_hex(&bytes));

    // skopeo reads it as a Linux image for this host, one tar+gzip layer.
    let source = format!("oci:{}:1.0.0", image.display());
    let inspected: Value = serde_json::from_str(&skopeo(&["inspect", &source])).unwrap();
    assert_eq!(inspected["Os"], "linux");
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    assert_eq!(inspected["Architecture"], architecture);
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 1);
    let manifest: Value = serde_json::from_str(&skopeo(&["inspect", "--raw", &source])).unwrap();
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );

    // The layer, as a container runtime unpacks it: the library at the root, executable, the
    // build byte for byte.
    let file_name = library.file_name().unwrap().to_str().unwrap();
    let layer = blob(&image, manifest["layers"][0]["digest"].as_str().unwrap());
    let listing = Command::new("tar")
        .arg("-tvzf")
        .arg(&layer)
        .output()
        .unwrap();
    let listing = text(&listing.stdout);
    assert!(listing.starts_with("-rwxr-xr-x"), "{listing}");
    assert_eq!(listing.lines().count(), 1, "{listing}");
    assert!(
        listing.trim_end().ends_with(&format!(" {file_name}")),
        "{listing}"
    );
    let extracted = extract(&layer, file_name, &dir.path().join("extracted"));
    assert!(extracted == bytes);
}

/// The file `member` of a gzipped tar layer, extracted with `tar` into `dir`.
fn extract(layer: &Path, member: &str, dir: &Path) -> Vec<u8> {
    std::fs::create_dir_all(dir).unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(layer)
        .arg("-C")
        .arg(dir)
        .arg(member)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(dir.join(member)).unwrap()
}

#[test]
fn archives_are_read_by_skopeo_and_the_same_module_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("a.tar"), dir.path().join("b.tar"));
    let a = package(&["--output", first.to_str().unwrap(), "--tag", "v1"]);
    let b = package(&["--output", second.to_str().unwrap(), "--tag", "v1"]);
    assert_eq!(a.digest, b.digest);
    assert!(std::fs::read(&first).unwrap() == std::fs::read(&second).unwrap());
    let inspected: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        &format!("oci-archive:{}", first.display()),
    ]))
    .unwrap();
    assert_eq!(inspected["Digest"], a.digest.as_str());
}

#[test]
fn push_copies_the_image_with_skopeo_keeping_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image");
    // A local OCI layout stands in for a registry (the tests never leave loopback).
    let registry = dir.path().join("registry");
    let destination = format!("oci:{}:1.0.0", registry.display());
    let printed = package(&[
        "--output",
        image.to_str().unwrap(),
        "--tag",
        "1.0.0",
        "--push",
        &destination,
    ]);
    assert!(
        printed.stdout.contains(&format!("pushed to {destination}")),
        "{}",
        printed.stdout
    );
    let read = palisade_cli::oci::read_wasm(&registry, Some("1.0.0")).unwrap();
    assert_eq!(read.digest, printed.digest);
}

#[test]
fn bad_tags_and_outputs_are_refused_before_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let out = palisade(&[
        "package",
        PACKAGE,
        "--output",
        dir.path().to_str().unwrap(),
        "--tag",
        "a/b",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("invalid tag"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let out = palisade(&["package", PACKAGE, "--output", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is not an OCI image layout"),
        "{}",
        text(&out.stderr)
    );
}
