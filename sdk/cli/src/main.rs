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
