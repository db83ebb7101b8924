//! rego-authz decision cases: each file in `cases/` holds Rego policies, optional data and
//! plugin settings, and requests with the decision OPA-Envoy would give. Every case runs through
//! the compiled `rego-authz.wasm` in the harness and in real Envoy (the shipped
//! `envoy-configs/rego-authz.yaml` with the case's plugin configuration, and a real echo
//! upstream); and through rego-authz built natively (an Envoy dynamic module) in real Envoy; all
//! must match the expectation.
#![allow(unreachable_pub)] // test modules share helpers with `pub`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod envoy_world;
mod harness_world;
mod native_world;
mod tokens;

use std::path::PathBuf;
use std::sync::OnceLock;

use palisade_testkit::cases::Suite;
use palisade_testkit::rego_filter::RegoFilter;

fn case_files() -> Vec<Suite> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rego/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the case files in {}",
        dir.display()
    );
    files
        .into_iter()
        .map(|path| Suite::load(&path).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// A case file's name in failure messages.
fn name(suite: &Suite) -> String {
    suite
        .path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn wasm() -> PathBuf {
    palisade_build::build_once("rego-authz").unwrap_or_else(|e| panic!("building rego-authz: {e}"))
}

/// The module, read once per test process (the harness compiles it once too).
fn filter() -> &'static RegoFilter {
    static FILTER: OnceLock<RegoFilter> = OnceLock::new();
    FILTER.get_or_init(|| RegoFilter::from_file(&wasm()).unwrap())
}

/// Runs every file through `run` on `workers` threads, and fails listing every mismatch.
fn run_all(world: &str, workers: usize, run: fn(&Suite) -> Vec<String>) {
    let files = case_files();
    let wasm = wasm();
    assert!(wasm.exists());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut failures = Vec::new();
                    while let Some(suite) =
                        files.get(next.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
                    {
                        failures.extend(run(suite));
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec!["a case runner panicked".into()])
            })
            .collect()
    });
    let total: usize = files.iter().map(|s| s.file.cases.len()).sum();
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed in {world}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn decision_cases_in_the_harness() {
    run_all("the harness", 4, harness_world::run_file);
}

#[test]
fn decision_cases_in_envoy_natively() {
    // Each Envoy loads the native module in milliseconds: the cases' requests are the cost.
    run_all("Envoy with the native module", 2, native_world::run_file);
}

#[test]
fn decision_cases_in_envoy() {
    // Each Envoy compiles the multi-megabyte module with V8 at start: two at a time.
    run_all("Envoy", 2, envoy_world::run_file);
}

/// Issue #16's bound: families OPA-Envoy policies rarely use are opt-in features so that the
/// default module, which Envoy's V8 compiles before it is ready, stays under 3.6 MB
/// (docs/COMPATIBILITY.md, "What the builtins cost").
#[test]
fn the_default_module_stays_under_3_6_mb() {
    let bytes = std::fs::metadata(wasm()).unwrap().len();
    assert!(
        bytes < 3_600_000,
        "rego_authz.wasm is {bytes} bytes: make a rarely used builtin family opt-in (a cargo \
         feature of palisade-rego) or build it for size (docs/COMPATIBILITY.md)"
    );
}
