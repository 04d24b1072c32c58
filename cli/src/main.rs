//! `custody`: the command for auditors and operators.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "custody",
    version,
    about = "Legal-hold marking, hashing and a signed custody ledger for Genesys Cloud recording exports"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {}
}
