//! `custody`: the command for auditors and operators.

mod commands;
mod ledger_cmds;
mod output;
mod progress;
mod report;
mod store_flags;
mod verify_progress;

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
    /// Run the main job on an export: discover, mark the legal hold, hash, append to the ledger.
    Ingest(commands::ingest::IngestArgs),
    /// Fold pending submissions into the ledger (the integrator on one machine).
    Integrate(commands::integrate::IntegrateArgs),
    /// Print the ledger's records about a conversation, matter, key, recording or event kind.
    Query(commands::query::QueryArgs),
    /// Build the query index beside the ledger, or bring it up to the newest block (--rebuild: every block).
    Index(commands::index::IndexArgs),
    /// End a matter's legal hold on a conversation or key (refused while another matter holds it).
    Release(commands::release::ReleaseArgs),
    /// The whole job on the bundled samples, offline, with no AWS account.
    Demo(commands::demo::DemoArgs),
    /// Check a deployment before it runs: buckets, event delivery, encryption and every permission
    /// the role needs, with calls that change nothing (exit 0 all good, 1 problems, 2 could not run).
    Doctor(commands::doctor::DoctorArgs),
    /// Generate an Ed25519 ledger signing key pair and print its key id.
    Keygen(ledger_cmds::KeygenArgs),
    /// Write a self-contained HTML (or JSON) report for a matter, conversation or export job:
    /// summary, conversations, attestations, the verified checkpoint, commands to re-verify.
    Report(report::ReportArgs),
    /// Verify a whole ledger (exit 0 intact, 1 tampering or mismatch, 2 could not run).
    Verify(ledger_cmds::VerifyArgs),
    /// Write an offline receipt (record, inclusion proof, signed checkpoint) for one record.
    Receipt(ledger_cmds::ReceiptArgs),
    /// Check a receipt with the given public keys and no store access.
    VerifyReceipt(ledger_cmds::VerifyReceiptArgs),
    /// Countersign the ledger's checkpoints as an independent witness (C2SP tlog-cosignature).
    Witness(commands::witness::WitnessArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ingest(args) => commands::ingest::ingest_cmd(args).await,
        Command::Integrate(args) => commands::integrate::integrate_cmd(args).await,
        Command::Query(args) => commands::query::query_cmd(args).await,
        Command::Index(args) => commands::index::index_cmd(args).await,
        Command::Demo(args) => commands::demo::demo_cmd(args).await,
        Command::Release(args) => commands::release::release_cmd(args).await,
        Command::Report(args) => report::report_cmd(args).await,
        Command::Doctor(args) => commands::doctor::doctor_cmd(args).await,
        Command::Keygen(args) => Ok(ledger_cmds::keygen(args)),
        Command::Verify(args) => Ok(ledger_cmds::verify(args).await),
        Command::Receipt(args) => Ok(ledger_cmds::receipt(args).await),
        Command::VerifyReceipt(args) => Ok(ledger_cmds::verify_receipt(args)),
        Command::Witness(args) => commands::witness::witness_cmd(args).await,
    };
    result.unwrap_or_else(|error| {
        eprintln!("custody: {error:#}");
        ExitCode::from(2)
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Commands that never reach a store: no store flags.
    const OFFLINE: &[&str] = &["keygen", "verify-receipt", "demo", "witness keygen"];

    /// Every other command takes the same store flags (`store_flags::StoreFlags`), spelled the
    /// same, with `--endpoint` kept as an alias of `--endpoint-url`.
    #[test]
    fn every_store_command_takes_the_same_store_flags() {
        let cli = super::Cli::command();
        cli.clone().debug_assert();
        let mut checked = 0;
        // The commands that run, by their full name (`witness cosign`).
        let mut leaves = Vec::new();
        for command in cli.get_subcommands() {
            if command.has_subcommands() {
                for sub in command.get_subcommands() {
                    leaves.push((format!("{} {}", command.get_name(), sub.get_name()), sub));
                }
            } else {
                leaves.push((command.get_name().to_string(), command));
            }
        }
        for (name, command) in leaves {
            if OFFLINE.contains(&name.as_str()) {
                continue;
            }
            for flag in ["endpoint-url", "path-style", "region"] {
                assert!(
                    command.get_arguments().any(|a| a.get_long() == Some(flag)),
                    "custody {name} lacks --{flag}"
                );
            }
            let endpoint = command
                .get_arguments()
                .find(|a| a.get_long() == Some("endpoint-url"))
                .unwrap();
            assert!(
                endpoint
                    .get_all_aliases()
                    .unwrap_or_default()
                    .contains(&"endpoint"),
                "custody {name}: --endpoint is not an alias of --endpoint-url"
            );
            checked += 1;
        }
        assert!(checked >= 7, "only {checked} store commands");
    }
}
