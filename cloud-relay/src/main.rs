//! `digione-relay`: the command line of the relay.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "digione-relay", version, about = "DigiOne Edge relay")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open the relay's store and list its documents.
    InspectStore {
        /// The relay's data directory.
        #[arg(long, default_value = "digione-relay-data")]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::InspectStore { data_dir } => match cloud_relay::describe_store(&data_dir) {
            Ok(description) => {
                println!("{description}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!(
                    "digione-relay: cannot read the store in {}: {error}",
                    data_dir.display()
                );
                ExitCode::FAILURE
            }
        },
    }
}
