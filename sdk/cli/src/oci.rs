//! OCI images of a filter, in the two formats Istio's `WasmPlugin` pulls with `oci://` URLs,
//! written as an OCI image layout (a directory) or its tar (`oci-archive`).
//!
//! What Istio accepts is defined by its image fetcher (istio/istio `pkg/wasm/imagefetcher.go`,
//! after the solo-io Wasm image specification):
//!
//! - **compat**: an ordinary image whose *last* layer is `application/vnd.oci.image.layer.v1.tar+gzip`
//!   and holds a file named `plugin.wasm`. Any registry and tool handle it.
//! - **oci**: exactly two layers, one of them `application/vnd.module.wasm.content.layer.v1+wasm`
//!   holding the raw module; the other is the runtime configuration
//!   (`application/vnd.module.wasm.config.v1+json`), as `wasme` wrote it.
//!
//! Both use a standard image config (`os: wasip1`, `architecture: wasm`, Go's names for the
//! target as the OCI spec recommends), so generic tools (`skopeo inspect`, registries that only
//! take image configs) treat them as images. Istio never reads the config.
//!
//! Images are deterministic: no timestamps (tar mtime 0, gzip mtime 0), fixed owners and modes,
//! JSON written from structs in declaration order. The same `.wasm` always gives the same
//! manifest digest, which is the value a `WasmPlugin`'s `sha256` must hold for an `oci://` URL
//! (Istio compares it with the manifest digest; the `.wasm`'s own sha256 is what it checks for
//! `http(s)://` URLs).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Media type of an image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an image index (the layout's `index.json`).
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of a standard image config.
pub const IMAGE_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// The compat variant's layer: a gzipped tar holding [`PLUGIN_FILE`].
pub const TAR_GZIP_LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The oci variant's module layer: the raw `.wasm`.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.module.wasm.content.layer.v1+wasm";
/// The oci variant's runtime configuration layer.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.module.wasm.config.v1+json";
/// The file Istio looks for in a compat layer.
pub const PLUGIN_FILE: &str = "plugin.wasm";

const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";
/// The solo-io compat spec asks OCI-typed compat images to say so.
const VARIANT_ANNOTATION: &str = "module.wasm.image/variant";
const ABI_PREFIX: &[u8] = b"proxy_abi_version_";
const WASM_MAGIC: &[u8] = b"\0asm";
const ELF_MAGIC: &[u8] = b"\x7fELF";

/// Which of the image formats Istio accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Variant {
    /// One `tar+gzip` layer holding `plugin.wasm`: works with every registry and tool.
    Compat,
    /// Two layers, the raw module as `application/vnd.module.wasm.content.layer.v1+wasm`.
    Oci,
}

impl Variant {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Compat => "compat",
            Self::Oci => "oci",
        }
    }
}

/// Why an image could not be made, written or read.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The input is not a WebAssembly module.
    #[error("not a WebAssembly module (no \\0asm magic number)")]
    NotWasm,
    /// The module does not export a proxy-wasm ABI version.
    #[error("not a proxy-wasm filter: the module exports no proxy_abi_version_* function")]
    NotProxyWasm,
    /// The input is not a shared library.
    #[error("not an Envoy dynamic module (no ELF magic number)")]
    NotNative,
    /// A tag that a registry or an OCI layout would refuse.
    #[error("invalid tag {0:?}: expected 1-128 of A-Z a-z 0-9 _ . -, not starting with . or -")]
    Tag(String),
    /// The output directory holds something that is not an OCI image layout.
    #[error("{} exists and is not an OCI image layout (no oci-layout file): choose a new or empty directory", .0.display())]
    NotALayout(PathBuf),
    /// A layout or image read back does not have the expected shape.
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing files failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> OciError {
    let context = context.into();
    move |source| OciError::Io { context, source }
}

fn invalid(message: impl Into<String>) -> OciError {
    OciError::Invalid(message.into())
}

/// A content-addressed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// What the blob is.
    pub media_type: &'static str,
    /// `sha256:<hex>`.
    pub digest: String,
    /// The content.
    pub bytes: Vec<u8>,
    /// The descriptor's `org.opencontainers.image.title`, if any.
    pub title: Option<&'static str>,
}

impl Blob {
    fn new(media_type: &'static str, bytes: Vec<u8>, title: Option<&'static str>) -> Self {
        Self {
            media_type,
            digest: format!("sha256:{}", sha256_hex(&bytes)),
            bytes,
            title,
        }
    }

    fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.to_string(),
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
            annotations: self
                .title
                .map(|title| BTreeMap::from([(TITLE_ANNOTATION.to_string(), title.to_string())])),
        }
    }

    /// The hex part of the digest (the blob's file name in a layout).
    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Serialize)]
struct ImageConfig {
    architecture: &'static str,
    os: &'static str,
    rootfs: RootFs,
}

#[derive(Debug, Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Vec<String>,
}

/// The runtime configuration of the solo-io spec.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RuntimeConfig {
    #[serde(rename = "type")]
    kind: &'static str,
    abi_versions: Vec<String>,
}

/// An image of one filter module: manifest, config and layers, in memory.
#[derive(Debug, Clone)]
pub struct Image {
    /// The manifest; its digest is the image's digest.
    pub manifest: Blob,
    /// The image config.
    pub config: Blob,
    /// The layers, in manifest order.
    pub layers: Vec<Blob>,
    /// Hex SHA-256 of the module itself.
    pub module_sha256: String,
}

impl Image {
    /// Packages a proxy-wasm module.
    pub fn new(wasm: &[u8], variant: Variant) -> Result<Self, OciError> {
        if !wasm.starts_with(WASM_MAGIC) {
            return Err(OciError::NotWasm);
        }
        let abi = abi_version(wasm).ok_or(OciError::NotProxyWasm)?;
        let (layers, diff_ids, annotations) = match variant {
            Variant::Compat => {
                let tar = file_tar(PLUGIN_FILE, 0o644, wasm)?;
                let diff_id = format!("sha256:{}", sha256_hex(&tar));
                let layer = Blob::new(TAR_GZIP_LAYER_MEDIA_TYPE, gzip(&tar)?, None);
                let annotations =
                    BTreeMap::from([(VARIANT_ANNOTATION.to_string(), "compat".to_string())]);
                (vec![layer], vec![diff_id], Some(annotations))
            }
            Variant::Oci => {
                let runtime = json(&RuntimeConfig {
                    kind: "envoy_proxy",
                    abi_versions: vec![abi],
                })?;
                let runtime =
                    Blob::new(WASM_CONFIG_MEDIA_TYPE, runtime, Some("runtime-config.json"));
                let module = Blob::new(WASM_LAYER_MEDIA_TYPE, wasm.to_vec(), Some(PLUGIN_FILE));
                // Neither layer is compressed: its "uncompressed" digest is its own.
                let diff_ids = vec![runtime.digest.clone(), module.digest.clone()];
                (vec![runtime, module], diff_ids, None)
            }
        };
        Self::assemble(("wasm", "wasip1"), layers, diff_ids, annotations, wasm)
    }

    /// Packages an Envoy dynamic module (`lib<crate>.so`) built for this host: an image whose
    /// file system holds the library at its root as `file_name`, to mount into a proxy (a
    /// Kubernetes image volume) and name in `ENVOY_DYNAMIC_MODULES_SEARCH_PATH`.
    pub fn native(library: &[u8], file_name: &str) -> Result<Self, OciError> {
        if !library.starts_with(ELF_MAGIC) {
            return Err(OciError::NotNative);
        }
        let tar = file_tar(file_name, 0o755, library)?;
        let diff_id = format!("sha256:{}", sha256_hex(&tar));
        let layer = Blob::new(TAR_GZIP_LAYER_MEDIA_TYPE, gzip(&tar)?, None);
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        Self::assemble(
            (architecture, "linux"),
            vec![layer],
            vec![diff_id],
            None,
            library,
        )
    }

    /// The config and manifest over `layers`, for a module built for `platform`
    /// (architecture, OS).
    fn assemble(
        (architecture, os): (&'static str, &'static str),
        layers: Vec<Blob>,
        diff_ids: Vec<String>,
        annotations: Option<BTreeMap<String, String>>,
        module: &[u8],
    ) -> Result<Self, OciError> {
        let config = Blob::new(
            IMAGE_CONFIG_MEDIA_TYPE,
            json(&ImageConfig {
                architecture,
                os,
                rootfs: RootFs {
                    kind: "layers",
                    diff_ids,
                },
            })?,
            None,
        );
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.into()),
            config: config.descriptor(),
            layers: layers.iter().map(Blob::descriptor).collect(),
            annotations,
        };
        Ok(Self {
            manifest: Blob::new(MANIFEST_MEDIA_TYPE, json(&manifest)?, None),
            config,
            layers,
            module_sha256: sha256_hex(module),
        })
    }

    /// The image's digest (`sha256:<hex>` of the manifest).
    pub fn digest(&self) -> &str {
        &self.manifest.digest
    }

    fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.manifest)
            .chain(std::iter::once(&self.config))
            .chain(&self.layers)
    }

    fn index_entry(&self, tag: &str) -> Descriptor {
        let mut descriptor = self.manifest.descriptor();
        descriptor.annotations = Some(BTreeMap::from([(
            REF_NAME_ANNOTATION.to_string(),
            tag.to_string(),
        )]));
        descriptor
    }

    /// Writes the image into an OCI image layout directory under `tag` (`oci:DIR:TAG` for
    /// skopeo). The directory may be new, empty, or a layout already: other tags in it stay,
    /// an image under the same tag is replaced.
    pub fn write_layout(&self, dir: &Path, tag: &str) -> Result<(), OciError> {
        check_tag(tag)?;
        check_layout_dir(dir)?;
        let layout_file = dir.join("oci-layout");
        let mut manifests = Vec::new();
        if dir.exists() {
            if let Ok(existing) = std::fs::read(dir.join("index.json")) {
                let index: Index = serde_json::from_slice(&existing)
                    .map_err(|e| invalid(format!("{}/index.json: {e}", dir.display())))?;
                manifests = index
                    .manifests
                    .into_iter()
                    .filter(|m| ref_name(m) != Some(tag))
                    .collect();
            }
        }
        let blob_dir = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blob_dir)
            .map_err(io(format!("creating {}", blob_dir.display())))?;
        for blob in self.blobs() {
            let path = blob_dir.join(blob.hex());
            std::fs::write(&path, &blob.bytes)
                .map_err(io(format!("writing {}", path.display())))?;
        }
        std::fs::write(&layout_file, layout_json())
            .map_err(io(format!("writing {}", layout_file.display())))?;
        manifests.push(self.index_entry(tag));
        let index = json(&Index {
            schema_version: 2,
            media_type: Some(INDEX_MEDIA_TYPE.into()),
            manifests,
        })?;
        let index_file = dir.join("index.json");
        std::fs::write(&index_file, index).map_err(io(format!("writing {}", index_file.display())))
    }

    /// Writes the image as a tar of an OCI image layout holding only this image under `tag`
    /// (`oci-archive:FILE` for skopeo). The tar is deterministic too.
    pub fn write_archive(&self, file: &Path, tag: &str) -> Result<(), OciError> {
        check_tag(tag)?;
        let index = json(&Index {
            schema_version: 2,
            media_type: Some(INDEX_MEDIA_TYPE.into()),
            manifests: vec![self.index_entry(tag)],
        })?;
        let mut files: BTreeMap<String, &[u8]> = BTreeMap::new();
        for blob in self.blobs() {
            files.insert(format!("blobs/sha256/{}", blob.hex()), &blob.bytes);
        }
        files.insert("index.json".into(), &index);
        files.insert("oci-layout".into(), layout_json().as_bytes());
        let mut tar = tar::Builder::new(Vec::new());
        for dir in ["blobs/", "blobs/sha256/"] {
            let mut header = tar_header(tar::EntryType::Directory, 0o755, 0);
            tar.append_data(&mut header, dir, std::io::empty())
                .map_err(io("writing the archive"))?;
        }
        for (name, bytes) in files {
            let mut header = tar_header(tar::EntryType::Regular, 0o644, bytes.len() as u64);
            tar.append_data(&mut header, name, bytes)
                .map_err(io("writing the archive"))?;
        }
        let bytes = tar.into_inner().map_err(io("writing the archive"))?;
        if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
        }
        std::fs::write(file, bytes).map_err(io(format!("writing {}", file.display())))
    }
}

/// Checks that `dir` can take an image: absent, empty, or an OCI image layout already.
pub fn check_layout_dir(dir: &Path) -> Result<(), OciError> {
    if !dir.exists() {
        return Ok(());
    }
    let is_empty = std::fs::read_dir(dir)
        .map_err(io(format!("reading {}", dir.display())))?
        .next()
        .is_none();
    if is_empty || dir.join("oci-layout").is_file() {
        Ok(())
    } else {
        Err(OciError::NotALayout(dir.to_path_buf()))
    }
}

fn layout_json() -> &'static str {
    r#"{"imageLayoutVersion":"1.0.0"}"#
}

fn ref_name(descriptor: &Descriptor) -> Option<&str> {
    descriptor
        .annotations
        .as_ref()
        .and_then(|a| a.get(REF_NAME_ANNOTATION))
        .map(String::as_str)
}

/// Checks a tag against the grammar registries use (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`).
pub fn check_tag(tag: &str) -> Result<(), OciError> {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && tag.len() <= 128 {
        Ok(())
    } else {
        Err(OciError::Tag(tag.into()))
    }
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, OciError> {
    serde_json::to_vec(value).map_err(|e| invalid(format!("encoding JSON: {e}")))
}

/// The ABI version the module exports (`proxy_abi_version_0_2_1`), found by name: proxy-wasm
/// hosts pick the ABI by this export.
fn abi_version(wasm: &[u8]) -> Option<String> {
    let start = wasm
        .windows(ABI_PREFIX.len())
        .position(|w| w == ABI_PREFIX)?;
    let name: Vec<u8> = wasm
        .get(start..)?
        .iter()
        .copied()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .collect();
    String::from_utf8(name).ok()
}

fn tar_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}

/// A layer's content, uncompressed: a tar holding one file, `name` (the compat layer holds
/// `plugin.wasm`).
fn file_tar(name: &str, mode: u32, bytes: &[u8]) -> Result<Vec<u8>, OciError> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar_header(tar::EntryType::Regular, mode, bytes.len() as u64);
    tar.append_data(&mut header, name, bytes)
        .map_err(io("writing the layer's tar"))?;
    tar.into_inner().map_err(io("writing the layer's tar"))
}

/// gzip with a fixed header (mtime 0, no file name, OS "unknown").
fn gzip(bytes: &[u8]) -> Result<Vec<u8>, OciError> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(bytes)
        .map_err(io("compressing the layer"))?;
    encoder.finish().map_err(io("compressing the layer"))
}

/// What [`read_wasm`] found.
#[derive(Debug, Clone)]
pub struct ReadImage {
    /// The image's digest.
    pub digest: String,
    /// Which rule found the module.
    pub variant: Variant,
    /// The module.
    pub wasm: Vec<u8>,
}

/// Reads the module back out of an OCI image layout by Istio's rules: the last layer as a
/// compat `tar+gzip` layer holding `plugin.wasm`, else exactly two layers one of which is the
/// module layer. Every blob read is checked against its digest. `tag` picks the image in the
/// index; `None` takes the only one.
pub fn read_wasm(dir: &Path, tag: Option<&str>) -> Result<ReadImage, OciError> {
    let read_blob = |digest: &str| -> Result<Vec<u8>, OciError> {
        let hex = digest
            .strip_prefix("sha256:")
            .ok_or_else(|| invalid(format!("unsupported digest {digest}")))?;
        let path = dir.join("blobs/sha256").join(hex);
        let bytes = std::fs::read(&path).map_err(io(format!("reading {}", path.display())))?;
        if sha256_hex(&bytes) != hex {
            return Err(invalid(format!("blob {digest} does not match its digest")));
        }
        Ok(bytes)
    };
    let index_path = dir.join("index.json");
    let index =
        std::fs::read(&index_path).map_err(io(format!("reading {}", index_path.display())))?;
    let index: Index = serde_json::from_slice(&index)
        .map_err(|e| invalid(format!("{}: {e}", index_path.display())))?;
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|m| tag.is_none() || ref_name(m) == tag)
        .collect();
    let [entry] = candidates.as_slice() else {
        return Err(invalid(format!(
            "{} has {} images{}: expected one",
            dir.display(),
            candidates.len(),
            tag.map(|t| format!(" tagged {t}")).unwrap_or_default()
        )));
    };
    let manifest: Manifest = serde_json::from_slice(&read_blob(&entry.digest)?)
        .map_err(|e| invalid(format!("manifest {}: {e}", entry.digest)))?;
    let last = manifest
        .layers
        .last()
        .ok_or_else(|| invalid("the image has no layers"))?;
    let (variant, wasm) = if last.media_type == TAR_GZIP_LAYER_MEDIA_TYPE {
        (
            Variant::Compat,
            plugin_from_layer(&read_blob(&last.digest)?)?,
        )
    } else if manifest.layers.len() == 2 {
        let module = manifest
            .layers
            .iter()
            .find(|l| l.media_type == WASM_LAYER_MEDIA_TYPE)
            .ok_or_else(|| invalid(format!("no {WASM_LAYER_MEDIA_TYPE} layer")))?;
        (Variant::Oci, read_blob(&module.digest)?)
    } else {
        return Err(invalid(format!(
            "neither variant: the last layer is {} and there are {} layers",
            last.media_type,
            manifest.layers.len()
        )));
    };
    Ok(ReadImage {
        digest: entry.digest.clone(),
        variant,
        wasm,
    })
}

/// `plugin.wasm` (by base name, as Istio matches it) out of a compat layer.
fn plugin_from_layer(layer: &[u8]) -> Result<Vec<u8>, OciError> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer));
    for entry in archive.entries().map_err(io("reading the layer"))? {
        let mut entry = entry.map_err(io("reading the layer"))?;
        let is_plugin = entry
            .path()
            .map_err(io("reading the layer"))?
            .file_name()
            .is_some_and(|name| name == PLUGIN_FILE);
        if is_plugin {
            let mut wasm = Vec::new();
            entry
                .read_to_end(&mut wasm)
                .map_err(io("reading plugin.wasm"))?;
            return Ok(wasm);
        }
    }
    Err(invalid(format!("no {PLUGIN_FILE} in the compat layer")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest module that passes [`Image::new`]'s checks.
    fn module() -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.extend_from_slice(b"\x07\x1a\x01\x17proxy_abi_version_0_2_1\0\0");
        wasm
    }

    #[test]
    fn the_same_module_gives_the_same_digest() {
        for variant in [Variant::Compat, Variant::Oci] {
            let a = Image::new(&module(), variant).unwrap();
            let b = Image::new(&module(), variant).unwrap();
            assert_eq!(a.digest(), b.digest());
            let mut other = module();
            other.push(0);
            assert_ne!(a.digest(), Image::new(&other, variant).unwrap().digest());
        }
    }

    #[test]
    fn compat_has_one_tar_gzip_layer_and_the_variant_annotation() {
        let image = Image::new(&module(), Variant::Compat).unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&image.manifest.bytes).unwrap();
        assert_eq!(manifest["mediaType"], MANIFEST_MEDIA_TYPE);
        assert_eq!(manifest["config"]["mediaType"], IMAGE_CONFIG_MEDIA_TYPE);
        assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
        assert_eq!(
            manifest["layers"][0]["mediaType"],
            TAR_GZIP_LAYER_MEDIA_TYPE
        );
        assert_eq!(manifest["annotations"][VARIANT_ANNOTATION], "compat");
        let layer = &image.layers[0];
        assert_eq!(plugin_from_layer(&layer.bytes).unwrap(), module());
        // The gzip header carries no time and no name.
        assert_eq!(&layer.bytes[4..8], &[0, 0, 0, 0]);
        assert_eq!(layer.bytes[3] & 0x08, 0);
    }

    #[test]
    fn oci_has_the_runtime_config_and_the_raw_module() {
        let image = Image::new(&module(), Variant::Oci).unwrap();
        let types: Vec<_> = image.layers.iter().map(|l| l.media_type).collect();
        assert_eq!(types, [WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE]);
        assert_eq!(image.layers[1].bytes, module());
        let runtime: serde_json::Value = serde_json::from_slice(&image.layers[0].bytes).unwrap();
        assert_eq!(runtime["type"], "envoy_proxy");
        assert_eq!(runtime["abiVersions"][0], "proxy_abi_version_0_2_1");
    }

    #[test]
    fn layouts_read_back_by_istios_rules_and_keep_other_tags() {
        let dir = tempfile::tempdir().unwrap();
        let compat = Image::new(&module(), Variant::Compat).unwrap();
        let oci = Image::new(&module(), Variant::Oci).unwrap();
        compat.write_layout(dir.path(), "compat").unwrap();
        oci.write_layout(dir.path(), "oci").unwrap();
        compat.write_layout(dir.path(), "compat").unwrap();
        let read = read_wasm(dir.path(), Some("compat")).unwrap();
        assert_eq!(
            (read.variant, read.wasm, read.digest.as_str()),
            (Variant::Compat, module(), compat.digest())
        );
        let read = read_wasm(dir.path(), Some("oci")).unwrap();
        assert_eq!(
            (read.variant, read.wasm, read.digest.as_str()),
            (Variant::Oci, module(), oci.digest())
        );
        assert!(read_wasm(dir.path(), None).is_err(), "two images, no tag");
    }

    #[test]
    fn archives_are_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let image = Image::new(&module(), Variant::Compat).unwrap();
        let (a, b) = (dir.path().join("a.tar"), dir.path().join("b.tar"));
        image.write_archive(&a, "v1").unwrap();
        image.write_archive(&b, "v1").unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    }

    #[test]
    fn refuses_what_istio_or_a_registry_would() {
        assert!(matches!(
            Image::new(b"not wasm", Variant::Compat),
            Err(OciError::NotWasm)
        ));
        assert!(matches!(
            Image::new(b"\0asm\x01\0\0\0", Variant::Oci),
            Err(OciError::NotProxyWasm)
        ));
        for tag in ["", "-x", ".x", "a/b", "a:b", &"x".repeat(129)] {
            assert!(check_tag(tag).is_err(), "{tag:?}");
        }
        for tag in ["latest", "1.0.0", "v1_rc-2", "_x"] {
            check_tag(tag).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let image = Image::new(&module(), Variant::Compat).unwrap();
        assert!(matches!(
            image.write_layout(dir.path(), "v1"),
            Err(OciError::NotALayout(_))
        ));
    }

    #[test]
    fn a_native_image_is_one_layer_for_this_host_and_refuses_what_is_no_library() {
        let library = b"\x7fELF\x02\x01\x01 stands in for a shared library".to_vec();
        let image = Image::native(&library, "libfilter.so").unwrap();
        assert_eq!(
            image.digest(),
            Image::native(&library, "libfilter.so").unwrap().digest()
        );
        assert_eq!(image.layers.len(), 1);
        assert_eq!(image.layers[0].media_type, TAR_GZIP_LAYER_MEDIA_TYPE);
        let config: serde_json::Value = serde_json::from_slice(&image.config.bytes).unwrap();
        assert_eq!(config["os"], "linux");
        assert_ne!(config["architecture"], "wasm");
        assert_eq!(image.module_sha256, sha256_hex(&library));
        assert!(matches!(
            Image::native(&module(), "libfilter.so"),
            Err(OciError::NotNative)
        ));
    }
}
