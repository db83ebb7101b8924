//! OPA's default, non-strict builtin errors for the bridge.
//!
//! OPA-Envoy runs OPA as it comes: a builtin that fails on its arguments makes its expression
//! undefined, and evaluation goes on (`default`, `else`, `not` and comprehensions see an
//! undefined expression). The bridge hard-codes `rego.StrictBuiltinErrors(true)` (go/bridge.go
//! of opa-golib-python-bindings 0.4.4), which fails the whole query instead: its answer for
//! `default n := -1; n := to_number("x")` is an error, where OPA-Envoy's is -1.
//!
//! So the suite loads a copy of the bridge in which the option sets the flag to false. The
//! option is a closure that copies its captured bool into the `Rego` struct,
//! `movzbl 0x8(%rdx),%ecx; mov %cl,0x280(%rax); ret`: the copy loads 0 instead
//! (`xor %ecx,%ecx; nop; nop`). Nothing else of OPA changes. [`crate::oracle`] checks the result
//! with a query whose answer tells the two modes apart.

use std::path::{Path, PathBuf};

/// The option's closure as the wheel's x86-64 build compiles it (one copy per call site).
const STRICT: [u8; 11] = [
    0x0f, 0xb6, 0x4a, 0x08, 0x88, 0x88, 0x80, 0x02, 0x00, 0x00, 0xc3,
];
/// The same closure storing false.
const NON_STRICT: [u8; 11] = [
    0x31, 0xc9, 0x90, 0x90, 0x88, 0x88, 0x80, 0x02, 0x00, 0x00, 0xc3,
];

/// A copy of the bridge at `path` with non-strict builtin errors, in the tests' scratch
/// directory; `path` itself when it has no strict closure to change (a bridge built otherwise:
/// the oracle's check says whether it is non-strict).
pub fn copy_of(path: &Path) -> PathBuf {
    let mut bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let sites: Vec<usize> = bytes
        .windows(STRICT.len())
        .enumerate()
        .filter(|(_, window)| *window == STRICT)
        .map(|(at, _)| at)
        .collect();
    if sites.is_empty() {
        return path.to_path_buf();
    }
    // The bridge sets the option in two places: queries and partial evaluation.
    assert!(
        sites.len() <= 2,
        "{}: {} copies of the StrictBuiltinErrors closure where 2 were expected",
        path.display(),
        sites.len()
    );
    for at in sites {
        bytes[at..at + NON_STRICT.len()].copy_from_slice(&NON_STRICT);
    }
    // The tests' scratch directory; the system's for the conformance runner
    // (`examples/opa_cases.rs`), which cargo gives none.
    let dir = option_env!("CARGO_TARGET_TMPDIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let copy = dir.join("libopabridge-nonstrict.so");
    let partial = dir.join(format!("libopabridge-nonstrict.so.{}", std::process::id()));
    std::fs::write(&partial, &bytes).unwrap();
    std::fs::rename(&partial, &copy).unwrap();
    copy
}
