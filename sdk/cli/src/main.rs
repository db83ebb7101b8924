//! `palisade`: the policy author's command.

use clap::{Parser, Subcommand};

/// Build, run and test Palisade policy filters.
#[derive(Debug, Parser)]
#[command(name = "palisade", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the tenant-header example, run it in real Envoy and send it a few requests.
    ///
    /// Example: palisade demo
    Demo,
    /// Benchmark rego-authz against Envoy's RBAC filter and no filter, in real Envoy under wrk.
    ///
    /// Example: palisade bench --rounds 3 --seconds 8
    Bench {
        /// Rounds over the three variants (medians are reported).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Measured seconds per variant and round.
        #[arg(long, default_value_t = 8)]
        seconds: u64,
        /// Concurrent connections.
        #[arg(long, default_value_t = 32)]
        connections: u32,
    },
    /// Build a filter crate for wasm32-wasip1 and print its path, size and sha256.
    ///
    /// Example: palisade build tenant-header
    Build {
        /// The cargo package to build.
        package: String,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo => palisade_cli::demo::run(),
        Command::Bench {
            rounds,
            seconds,
            connections,
        } => palisade_cli::bench::run(&palisade_cli::bench::BenchOptions {
            rounds,
            seconds,
            connections,
        }),
        Command::Build { package } => build(&package),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)] // printing is this command's job
fn build(package: &str) -> anyhow::Result<()> {
    let built = palisade_cli::wasm::build(package)?;
    println!("{}", built.path.display());
    println!("size: {} bytes", built.size);
    println!("sha256: {}", built.sha256);
    Ok(())
}
