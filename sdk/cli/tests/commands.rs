//! The `palisade` binary as a user runs it: output and exit codes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Output};

fn palisade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn demo_enforces_the_example_policy_in_real_envoy() {
    let out = palisade(&["demo"]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("GET /orders"))
        .collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines.iter().all(|l| l.ends_with("[ok]")), "{stdout}");
    assert!(lines[0].contains("-> 200 allowed, upstream saw x-palisade-tenant: acme"));
    assert!(lines[1].contains("-> 401 denied"));
    assert!(lines[2].contains("-> 403 denied"));
    assert!(lines[3].contains("upstream saw x-palisade-tenant: globex"));
    assert!(
        stdout.contains("requests_allowed=2 requests_denied=2 errors=0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the upstream received 2 of 4 requests"),
        "{stdout}"
    );
}

#[test]
fn build_prints_path_size_and_sha256() {
    let out = palisade(&["build", "tenant-header"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let mut lines = stdout.lines();
    let path = lines.next().unwrap();
    assert!(path.ends_with("tenant_header.wasm"), "{stdout}");
    let size: u64 = lines
        .next()
        .unwrap()
        .strip_prefix("size: ")
        .unwrap()
        .strip_suffix(" bytes")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(size, std::fs::metadata(path).unwrap().len());
    let sha = lines.next().unwrap().strip_prefix("sha256: ").unwrap();
    assert_eq!(sha.len(), 64);
    assert!(sha.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn build_of_an_unknown_package_fails_with_a_message() {
    let out = palisade(&["build", "no-such-filter"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("error: cargo build of no-such-filter"),
        "{}",
        text(&out.stderr)
    );
}
