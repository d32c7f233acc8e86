//! `digione-node`: the command line of the school server.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "digione-node", version, about = "DigiOne Edge school node")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open the node's store and list its documents.
    InspectStore {
        /// The node's data directory.
        #[arg(long, default_value = "digione-node-data")]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::InspectStore { data_dir } => match node::describe_store(&data_dir) {
            Ok(description) => {
                println!("{description}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!(
                    "digione-node: cannot read the store in {}: {error}",
                    data_dir.display()
                );
                ExitCode::FAILURE
            }
        },
    }
}
