//! `digione-node`: the command line of the school server.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::NodeConfig;
use crate::identity::NodeIdentity;
use clap::{Parser, Subcommand};
use sync_protocol::ids::{MunicipalityCode, SchoolCode};
use sync_transport::control::EnrolmentToken;

#[derive(Debug, Parser)]
#[command(name = "digione-node", version, about = "DigiOne Edge school node")]
struct Cli {
    /// The configuration file (TOML). Without it the defaults apply; `DIGIONE_NODE_*` environment
    /// variables override either.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Initialise the node: standalone for a school (enrol later), or by enrolling with a relay token.
    /// Enrolling again with a token for the same school keeps the data: that is how a node whose
    /// certificate expired returns, and how a replaced node (empty data directory) pulls its whole
    /// school back from the relay.
    Init {
        /// The enrolment token printed by `digione-relay enrol`.
        #[arg(long, requires = "relay", conflicts_with_all = ["school", "municipality"])]
        token: Option<EnrolmentToken>,
        /// `host:port` of the relay (enrolment); also set `relay.address` in the configuration.
        #[arg(long)]
        relay: Option<String>,
        /// The relay's name in its certificate, when it differs from the host in `--relay`.
        #[arg(long)]
        server_name: Option<String>,
        /// Standalone: the school's five-digit code.
        #[arg(long, requires = "municipality")]
        school: Option<SchoolCode>,
        /// Standalone: the three-digit municipality code.
        #[arg(long, requires = "school")]
        municipality: Option<MunicipalityCode>,
    },
    /// Serve the platform on the LAN and sync with the relay when enrolled.
    Serve,
    /// Import a OneRoster 1.2 CSV package (a directory with manifest.csv and the roster files; bulk
    /// or delta as its manifest says). The whole package is checked first: a bad package changes
    /// nothing and every problem is listed as `file:line: message`. Works whether or not the node
    /// is serving (a serving node is reached through its local admin API).
    ImportRoster {
        /// The package directory.
        path: PathBuf,
    },
    /// Set a user's password, read from standard input (one line). Works whether or not the node is
    /// serving.
    SetPassword {
        /// The user's login name.
        username: String,
    },
    /// Open the node's store and list its documents.
    InspectStore,
}

/// The whole program: parse the command line, run the command, report an error on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(matches!(cli.command, Command::Serve));
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("digione-node: {message}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the async runtime: {error}"))
}

fn run(cli: Cli) -> Result<(), String> {
    let config = NodeConfig::load(cli.config.as_deref()).map_err(|error| error.to_string())?;
    match cli.command {
        Command::Init {
            token,
            relay,
            server_name,
            school,
            municipality,
        } => {
            let identity = match (token, school, municipality) {
                (Some(token), _, _) => {
                    let relay = relay.ok_or("--token needs --relay HOST:PORT")?;
                    runtime()?
                        .block_on(NodeIdentity::init_enrolled(
                            &config,
                            &relay,
                            server_name.as_deref(),
                            &token,
                        ))
                        .map_err(|error| error.to_string())?
                }
                (None, Some(school), Some(municipality)) => {
                    NodeIdentity::init_standalone(&config, school, municipality)
                        .map_err(|error| error.to_string())?
                }
                _ => {
                    return Err(
                        "give either --token TOKEN --relay HOST:PORT, or --school CODE --municipality CODE"
                            .into(),
                    );
                }
            };
            match &identity.certificate {
                Some(facts) => eprintln!(
                    "Enrolled as node {} of school {} in municipality {}; certificate valid until Unix time {}.\nSet relay.address in the configuration (or DIGIONE_NODE_RELAY__ADDRESS) and run `digione-node serve`.",
                    facts.identity.node,
                    identity.school,
                    identity.municipality,
                    facts.not_after_unix
                ),
                None => eprintln!(
                    "Initialised standalone for school {} in municipality {}. Run `digione-node serve`; enrol later with `digione-node init --token … --relay …`.",
                    identity.school, identity.municipality
                ),
            }
            Ok(())
        }
        Command::Serve => runtime()?.block_on(crate::server::run(config)),
        Command::ImportRoster { path } => crate::admin_cli::import_roster(&config, &path),
        Command::SetPassword { username } => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password).map_err(|error| {
                format!("cannot read the password from standard input: {error}")
            })?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            crate::admin_cli::set_password(&config, &username, password)
        }
        Command::InspectStore => {
            let description =
                crate::describe_store(&config.store_dir()).map_err(|error| error.to_string())?;
            println!("{description}");
            Ok(())
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `info` when serving, `warn` otherwise), as
/// JSON lines when `DIGIONE_LOG_FORMAT=json`, coloured only on a terminal.
fn init_tracing(serving: bool) {
    let default_level = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if std::env::var("DIGIONE_LOG_FORMAT").is_ok_and(|format| format == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
