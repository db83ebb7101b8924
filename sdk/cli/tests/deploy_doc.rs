//! docs/DEPLOY.md's shell commands, run: every ```sh block of the page, in order, as one bash
//! script (`set -euo pipefail`) in a scratch directory that links the repository's
//! `envoy-configs/` and `.venv/`, with this build's `palisade` first on PATH.
//!
//! Three things cannot run offline, and are stood in for:
//! - `registry.example.com/...` (and `docker://registry.example.com/...`) becomes a local OCI
//!   layout, `oci:<scratch>/registry/...`, so `palisade package --push` and `skopeo inspect`
//!   run for real against it;
//! - the command that would start Envoy and keep it running gets `--mode validate`;
//! - `kubectl` (no cluster) is a shell function that records its arguments and keeps a copy of
//!   each file it is asked to apply. The test then checks the verbs, and that every applied file
//!   is a WasmPlugin or EnvoyFilter from `envoy-configs/istio/` whose `sha256` is the digest of
//!   the image its URL names in the stand-in registry: the page's procedure pins what it pushed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

const REGISTRY_HOST: &str = "registry.example.com/";
const KUBECTL_VERBS: [&str; 4] = ["apply", "delete", "exec", "get"];

/// The ```sh blocks of a Markdown page, with the line each starts on.
fn shell_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (number, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match (&mut current, fence) {
            (None, true) if line.trim() == "```sh" => current = Some((number + 1, String::new())),
            (Some(_), true) => blocks.extend(current.take()),
            (Some((_, text)), false) => {
                text.push_str(line);
                text.push('\n');
            }
            _ => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```sh block");
    blocks
}

/// A block as the test runs it (see the module docs).
fn stand_ins(block: &str) -> String {
    let block = block
        .replace(
            &format!("docker://{REGISTRY_HOST}"),
            "oci:$PALISADE_DOC_SCRATCH/registry/",
        )
        .replace(REGISTRY_HOST, "oci:$PALISADE_DOC_SCRATCH/registry/");
    block
        .lines()
        .map(|line| {
            let serves =
                line.trim_start().starts_with(".venv/bin/envoy ") && !line.contains("--mode");
            if serves {
                format!("{line} --mode validate")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const KUBECTL: &str = r#"
kubectl() {
  printf '%s\n' "$*" >> "$PALISADE_DOC_SCRATCH/kubectl.log"
  local previous="" arg
  for arg in "$@"; do
    if [ "$previous" = "-f" ]; then
      cp -- "$arg" "$PALISADE_DOC_SCRATCH/applied/$(wc -l < "$PALISADE_DOC_SCRATCH/kubectl.log")-$(basename "$arg")"
    fi
    previous=$arg
  done
}
"#;

/// The image URL and `sha256` each filter in a manifest is pinned to.
fn pins(doc: &Value) -> Vec<(String, String)> {
    match doc["kind"].as_str() {
        Some("WasmPlugin") => vec![(
            doc["spec"]["url"].as_str().unwrap().to_string(),
            doc["spec"]["sha256"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )],
        Some("EnvoyFilter") => doc["spec"]["configPatches"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p.pointer("/patch/value/typed_config/config/vm_config/code/remote"))
            .map(|remote| {
                (
                    remote["http_uri"]["uri"].as_str().unwrap().to_string(),
                    remote["sha256"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        other => panic!("kubectl applied a {other:?}: expected a WasmPlugin or an EnvoyFilter"),
    }
}

/// The digest of the image an `oci://registry.example.com/REPO:TAG` URL names, in the stand-in
/// registry.
fn pushed_digest(registry: &Path, url: &str) -> String {
    let reference = url
        .strip_prefix("oci://")
        .and_then(|r| r.strip_prefix(REGISTRY_HOST))
        .unwrap_or_else(|| panic!("{url}: not an image in {REGISTRY_HOST}"));
    let (repository, tag) = reference.rsplit_once(':').unwrap();
    let image = palisade_cli::oci::read_wasm(&registry.join(repository), Some(tag))
        .unwrap_or_else(|e| panic!("{url} was never pushed: {e}"));
    image.digest.trim_start_matches("sha256:").to_string()
}

#[test]
fn every_command_in_the_deployment_guide_works() {
    let root = palisade_testkit::workspace::root();
    let page = std::fs::read_to_string(root.join("docs/DEPLOY.md")).unwrap();
    let blocks = shell_blocks(&page);
    assert!(blocks.len() >= 6, "found {} ```sh blocks", blocks.len());

    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    std::fs::create_dir(dir.join("applied")).unwrap();
    std::fs::write(dir.join("kubectl.log"), "").unwrap();
    for linked in ["envoy-configs", ".venv"] {
        std::os::unix::fs::symlink(root.join(linked), dir.join(linked)).unwrap();
    }
    let mut script = format!("set -euo pipefail\n{KUBECTL}\n");
    for (line, block) in &blocks {
        script.push_str(&format!(
            "echo '### docs/DEPLOY.md line {line}' >&2\nset -x\n{}\nset +x\n",
            stand_ins(block)
        ));
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_palisade"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .env("PATH", path)
        .env("PALISADE_DOC_SCRATCH", dir)
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the guide's commands failed:\n{log}"
    );

    // kubectl: known verbs, and every applied manifest pinned to what was pushed.
    let calls = std::fs::read_to_string(dir.join("kubectl.log")).unwrap();
    for call in calls.lines() {
        let verb = call
            .split_whitespace()
            .find(|w| KUBECTL_VERBS.contains(w))
            .unwrap_or_else(|| panic!("kubectl {call}: not one of {KUBECTL_VERBS:?}"));
        if verb == "apply" {
            assert!(call.contains("-f "), "kubectl {call}: apply without -f");
        }
    }
    let mut applied: Vec<_> = std::fs::read_dir(dir.join("applied"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    applied.sort();
    assert!(applied.len() >= 3, "applied: {applied:?}");
    for file in &applied {
        let text = std::fs::read_to_string(file).unwrap();
        let doc =
            Value::deserialize(serde_yaml::Deserializer::from_str(&text).next().unwrap()).unwrap();
        let name = file.file_name().unwrap().to_string_lossy();
        let original = name.split_once('-').unwrap().1;
        assert!(
            root.join("envoy-configs/istio").join(original).is_file(),
            "{name}: not a manifest of envoy-configs/istio"
        );
        for (url, sha256) in pins(&doc) {
            assert_eq!(
                sha256,
                pushed_digest(&dir.join("registry"), &url),
                "{name}: sha256 is not the digest of {url}"
            );
        }
    }
}

#[test]
fn stand_ins_only_touch_what_cannot_run_offline() {
    let block = "palisade package x --push registry.example.com/p/x:1\n\
                 skopeo inspect docker://registry.example.com/p/x:1\n\
                 .venv/bin/envoy -c a.yaml --concurrency 2\n\
                 .venv/bin/envoy --mode validate -c a.yaml";
    assert_eq!(
        stand_ins(block),
        "palisade package x --push oci:$PALISADE_DOC_SCRATCH/registry/p/x:1\n\
         skopeo inspect oci:$PALISADE_DOC_SCRATCH/registry/p/x:1\n\
         .venv/bin/envoy -c a.yaml --concurrency 2 --mode validate\n\
         .venv/bin/envoy --mode validate -c a.yaml"
    );
    let blocks = shell_blocks("a\n```sh\none\ntwo\n```\n```text\nno\n```\n```sh\nthree\n```\n");
    assert_eq!(
        blocks,
        [(2, "one\ntwo\n".to_string()), (9, "three\n".to_string())]
    );
}
