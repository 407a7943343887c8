//! `berth`: the whole Docker system in one binary. This file only parses arguments, installs
//! logging and turns errors into one readable line and an exit code; each subcommand lives in
//! `commands/` and is a thin layer over a library crate.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// berth: a private registry, image client, builder and container runtime in one binary.
#[derive(Parser)]
#[command(name = "berth", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run and manage the OCI registry.
    Registry(commands::registry::RegistryArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Registry(args) => commands::registry::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let mut line = format!("berth: error: {err}");
            for cause in err.chain().skip(1) {
                line.push_str(&format!(": {cause}"));
            }
            eprintln!("{line}");
            ExitCode::FAILURE
        }
    }
}
