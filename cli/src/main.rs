//! `custody`: the command for auditors and operators.

mod ledger_cmds;

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
enum Command {
    /// Generate an Ed25519 ledger signing key pair and print its key id.
    Keygen(ledger_cmds::KeygenArgs),
    /// Verify a whole ledger (exit 0 intact, 1 tampering or mismatch, 2 could not run).
    Verify(ledger_cmds::VerifyArgs),
    /// Write an offline receipt (record, inclusion proof, signed checkpoint) for one record.
    Receipt(ledger_cmds::ReceiptArgs),
    /// Check a receipt with the given public keys and no store access.
    VerifyReceipt(ledger_cmds::VerifyReceiptArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Keygen(args) => ledger_cmds::keygen(args),
        Command::Verify(args) => ledger_cmds::verify(args).await,
        Command::Receipt(args) => ledger_cmds::receipt(args).await,
        Command::VerifyReceipt(args) => ledger_cmds::verify_receipt(args),
    }
}
