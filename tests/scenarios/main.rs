//! Scenarios that run in both worlds: each `tests/scenarios/*.yaml` file (except the bootstrap
//! template `envoy.yaml`) describes a plugin setup and requests with their expected outcome. The
//! runner executes every file in `palisade-harness` and in real Envoy (with a real echo upstream)
//! and fails when either world misses an expectation or the two worlds disagree. A file marked
//! `native: true` also runs in a third world, real Envoy with the crate built as a dynamic
//! module, which must meet the same expectations.
//!
//!     CARGO_TARGET_DIR=... cargo test -p palisade-tests --test scenarios
//!
//! A file names its filter (`filter:` in `format.rs`): a workspace crate, built with cargo, or an
//! AssemblyScript package under `tests/filters/assemblyscript/`, built with npm and `asc`
//! (`assemblyscript.rs`; Node.js and npm must be installed). Each is built once per test process.
//!
//! One test per file (listed below; `every_file_has_a_test` keeps the list complete); files run in
//! parallel, the steps of a file in order, against one plugin instance per world.
#![allow(unreachable_pub)] // test modules share items with `pub`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test reports failures by panicking

mod assemblyscript;
mod compare;
mod envoy_world;
mod format;
mod front_door;
mod harness_world;
mod outcome;

use std::path::{Path, PathBuf};
use std::time::Instant;

use compare::{check, check_wait, cross, Mismatches};
use envoy_world::EnvoyWorld;
use format::{Filter, Request, ScenarioFile, Step};
use harness_world::HarnessWorld;
use outcome::{Observed, StepOutcome, Wants};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

fn load(name: &str) -> ScenarioFile {
    let path = dir().join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ScenarioFile::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn steps(file: &ScenarioFile) -> impl Iterator<Item = (usize, usize, &Step)> {
    file.scenarios.iter().enumerate().flat_map(|(s, scenario)| {
        scenario
            .steps
            .iter()
            .enumerate()
            .map(move |(i, step)| (s, i, step))
    })
}

fn run_harness(file: &ScenarioFile, wasm: &Path) -> anyhow::Result<Vec<StepOutcome>> {
    let mut world = HarnessWorld::start(file, wasm)?;
    let mut out = Vec::new();
    for (s, i, step) in steps(file) {
        let context = || format!("harness: {} step {}", file.scenarios[s].name, i + 1);
        out.push(match step {
            Step::Request(r) => StepOutcome::Request(Box::new(
                world
                    .request(r, &Wants::of_request(r))
                    .map_err(|e| e.context(context()))?,
            )),
            Step::WaitFor(w) => StepOutcome::Wait(
                world
                    .wait_for(w, &Wants::of_wait(w))
                    .map_err(|e| e.context(context()))?,
            ),
            Step::SleepMs(ms) => {
                world.sleep(*ms).map_err(|e| e.context(context()))?;
                StepOutcome::Slept
            }
        });
    }
    Ok(out)
}

fn run_envoy(file: &ScenarioFile, wasm: &Path) -> anyhow::Result<(Vec<StepOutcome>, String)> {
    run_in(file, EnvoyWorld::start(file, wasm)?, "envoy")
}

/// Every step in an Envoy world (`name` for the messages).
fn run_in(
    file: &ScenarioFile,
    mut world: EnvoyWorld,
    name: &str,
) -> anyhow::Result<(Vec<StepOutcome>, String)> {
    let mut out = Vec::new();
    for (s, i, step) in steps(file) {
        let context = || format!("{name}: {} step {}", file.scenarios[s].name, i + 1);
        let outcome = match step {
            Step::Request(r) => world
                .request(r, &Wants::of_request(r))
                .map(|o| StepOutcome::Request(Box::new(o))),
            Step::WaitFor(w) => world.wait_for(w, &Wants::of_wait(w)).map(StepOutcome::Wait),
            Step::SleepMs(ms) => {
                world.sleep(*ms);
                Ok(StepOutcome::Slept)
            }
        };
        match outcome {
            Ok(o) => out.push(o),
            Err(e) => {
                return Err(e.context(format!("{}\nEnvoy's log:\n{}", context(), world.log())))
            }
        }
    }
    Ok((out, world.log()))
}

fn describe(request: &Request) -> String {
    let probe = request
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-probe"))
        .map_or(String::new(), |(_, v)| format!(" x-probe: {v}"));
    format!("{} {}{probe}", request.method, request.path)
}

fn dump(world: &str, o: &Observed) -> String {
    let x: Vec<_> = o
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-"))
        .collect();
    format!(
        "    {world}: status {} headers {x:?} body {:?}\n      upstream {:?}\n      callouts {:?}\n      metrics {:?}",
        o.status, o.body, o.upstream, o.callouts, o.metrics
    )
}

/// The filter's `.wasm`, built once per process.
fn build(filter: &Filter) -> PathBuf {
    let built = match filter {
        Filter::Crate(package) => palisade_build::build_once(package),
        Filter::AssemblyScript(name) => assemblyscript::build_once(name),
    };
    built.unwrap_or_else(|e| panic!("building {filter}: {e}"))
}

/// Runs one scenario file in both worlds and compares.
fn run_file(name: &str) {
    let started = Instant::now();
    let file = load(name);
    let wasm = build(&file.filter);
    let (harness, envoy) = std::thread::scope(|scope| {
        let harness = scope.spawn(|| run_harness(&file, &wasm));
        let envoy = run_envoy(&file, &wasm);
        (harness.join().expect("harness thread"), envoy)
    });
    let harness = harness.unwrap_or_else(|e| panic!("{name}: {e:#}"));
    let (envoy, envoy_log) = envoy.unwrap_or_else(|e| panic!("{name}: {e:#}"));
    let native = match (&file.filter, file.native) {
        (Filter::Crate(package), true) => {
            let module = palisade_build::build_native_once(package)
                .unwrap_or_else(|e| panic!("building {package} natively: {e}"));
            let world = EnvoyWorld::start_native(&file, &module)
                .unwrap_or_else(|e| panic!("{name}: native: {e:#}"));
            let (outcomes, _) =
                run_in(&file, world, "native").unwrap_or_else(|e| panic!("{name}: {e:#}"));
            Some(outcomes)
        }
        (filter, true) => panic!("{name}: only a crate builds natively, not {filter}"),
        (_, false) => None,
    };

    let mut mismatches = Vec::new();
    let mut dumps = Vec::new();
    for (step_index, ((s, i, step), (h, e))) in
        steps(&file).zip(harness.iter().zip(&envoy)).enumerate()
    {
        let scenario = &file.scenarios[s];
        let before = mismatches.len();
        match (step, h, e) {
            (Step::Request(request), StepOutcome::Request(h), StepOutcome::Request(e)) => {
                let mut out = Mismatches {
                    context: format!(
                        "{name}.yaml › {} › step {} ({})",
                        scenario.name,
                        i + 1,
                        describe(request)
                    ),
                    list: &mut mismatches,
                };
                check("harness", &request.expect, h, &mut out);
                check("envoy", &request.expect, e, &mut out);
                if let Some(StepOutcome::Request(n)) = native.as_ref().map(|n| &n[step_index]) {
                    check("native", &request.expect, n, &mut out);
                }
                if let Some(only) = &request.harness_only {
                    check("harness", &only.expect, h, &mut out);
                }
                if let Some(only) = &request.envoy_only {
                    check("envoy", &only.expect, e, &mut out);
                }
                cross(request, h, e, &mut out);
                if mismatches.len() > before {
                    dumps.push(format!(
                        "  {} step {}:\n{}\n{}",
                        scenario.name,
                        i + 1,
                        dump("harness", h),
                        dump("envoy", e)
                    ));
                }
            }
            (Step::WaitFor(wait), StepOutcome::Wait(h), StepOutcome::Wait(e)) => {
                let mut out = Mismatches {
                    context: format!(
                        "{name}.yaml › {} › step {} (wait for {})",
                        scenario.name,
                        i + 1,
                        wait.metric
                    ),
                    list: &mut mismatches,
                };
                check_wait("harness", wait, h, &mut out);
                check_wait("envoy", wait, e, &mut out);
            }
            (Step::SleepMs(_), StepOutcome::Slept, StepOutcome::Slept) => {}
            _ => unreachable!("both worlds run the same steps"),
        }
    }
    eprintln!("{name}: {} steps in {:?}", harness.len(), started.elapsed());
    if !mismatches.is_empty() {
        let wasm_lines: Vec<&str> = envoy_log
            .lines()
            .filter(|l| l.contains("wasm") || !l.starts_with('['))
            .collect();
        panic!(
            "{} mismatch(es) in {name}.yaml:\n{}\n\nobserved:\n{}\n\nEnvoy's wasm log:\n{}",
            mismatches.len(),
            mismatches.join("\n"),
            dumps.join("\n"),
            wasm_lines.join("\n")
        );
    }
}

macro_rules! scenario_files {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_file(stringify!($name));
            }
        )*
        const FILES: &[&str] = &[$(stringify!($name)),*];
    };
}

scenario_files!(
    headers,
    local_replies,
    body,
    properties,
    callouts,
    metrics,
    ticks,
    logs,
    fail_closed,
    fail_open,
    fail_reload,
    stop_iteration,
    stop_iteration_allowed,
    body_policy,
    body_policy_held,
    abi_callbacks,
    instances,
    as_headers,
    as_callout,
    rust_sdk_http_headers,
    rust_sdk_http_auth,
    rust_sdk_http_body,
    rust_sdk_http_config,
    rust_sdk_http_config_empty,
);

/// A new scenario file must be listed above, or it would silently never run.
#[test]
fn every_file_has_a_test() {
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|n| n != "envoy")
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

/// The files parse, every scenario has a note, an AssemblyScript filter a file names has its
/// package, and together the files hold at least 20 scenarios.
#[test]
fn scenario_files_are_well_formed() {
    let mut total = 0;
    for name in FILES {
        let file = load(name);
        assert!(
            !file.note.trim().is_empty(),
            "{name}: the file needs a note"
        );
        if let Filter::AssemblyScript(filter) = &file.filter {
            if let Err(e) = assemblyscript::sources(filter) {
                panic!("{name}: {e:#}");
            }
        }
        for scenario in &file.scenarios {
            assert!(
                !scenario.note.trim().is_empty(),
                "{name} › {}: needs a note",
                scenario.name
            );
            assert!(
                !scenario.steps.is_empty(),
                "{name} › {}: has no steps",
                scenario.name
            );
            for step in &scenario.steps {
                if let Step::Request(r) = step {
                    for only in [&r.envoy_only, &r.harness_only].into_iter().flatten() {
                        assert!(
                            !only.reason.trim().is_empty(),
                            "{name} › {}: a difference needs a reason",
                            scenario.name
                        );
                    }
                }
            }
        }
        total += file.scenarios.len();
    }
    assert!(total >= 20, "only {total} scenarios");
}
