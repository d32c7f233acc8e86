//! The `digione-operator` program: a municipality's or the nation's own tooling for the documents
//! that no school writes. Today that is the municipality's announcements, which every school of the
//! municipality shows its pupils, teachers and guardians.
//!
//! Every command connects to the relay with the operator's certificate, brings the operator's
//! replica in sync first, and (for a write) returns only once the relay has confirmed holding the
//! edit, so "published" on the terminal means the relay has it and every school gets it on its next
//! sync, including schools that are offline now.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use node::model::announcements::{
    AnnouncementAudience, AnnouncementInput, AnnouncementsDocument, announcements_doc,
};
use node::model::common::{ItemId, ModelError, NodeTime};
use node::repository::UpdateError;
use serde_json::json;
use sync_protocol::ids::MunicipalityCode;

use crate::connection::{OperatorConnection, OperatorError, OperatorSettings};

/// The longest `--timeout`: an operator at a terminal should hear back within minutes.
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

#[derive(Debug, Parser)]
#[command(
    name = "digione-operator",
    version,
    about = "DigiOne Edge operator tool: publish what a municipality tells all its schools, through the relay"
)]
struct Cli {
    /// Holds `identity/` (from `digione-relay operator-certificate --out DATA_DIR/identity`) and
    /// `store/`, the operator's replica of the municipality's documents.
    #[arg(long, value_name = "DIR", default_value = "digione-operator-data")]
    data_dir: PathBuf,
    /// The relay's QUIC endpoint, `host:port`.
    #[arg(long, value_name = "HOST:PORT")]
    relay: String,
    /// The relay's name in its certificate, when it differs from the host in --relay.
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
    /// How long to wait for the relay, once to get in sync and once to confirm a write (a
    /// humantime duration such as `30s` or `2m`; at most one hour).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
    timeout: Duration,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publish an announcement to every school of the operator's municipality. Publishing the same
    /// title and text again does not make a second one; it only makes sure the relay has the first.
    Announce {
        #[arg(long)]
        title: String,
        /// The text; blank lines separate paragraphs.
        #[arg(long)]
        body: String,
        /// Who signs it, as a roster-style id (letters, digits, `-`, `_`, `.`).
        #[arg(long, default_value = "education-office")]
        author: String,
        /// Hide it after this long (a humantime duration such as `14days`); shown until withdrawn
        /// without it.
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
    },
    /// List the municipality's announcements as JSON lines, newest first.
    Announcements,
    /// Withdraw one of the municipality's announcements by its id.
    Withdraw { id: String },
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(text).map_err(|error| error.to_string())?;
    if timeout.is_zero() || timeout > MAX_TIMEOUT {
        return Err(format!(
            "must be more than zero and at most {}",
            humantime::format_duration(MAX_TIMEOUT)
        ));
    }
    Ok(timeout)
}

/// The whole program: parse the command line, run the command, report an error on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("digione-operator: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("digione-operator: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let settings = OperatorSettings {
        data_dir: cli.data_dir,
        relay_address: cli.relay,
        server_name: cli.server_name,
        timeout: cli.timeout,
    };
    // Every command is about the municipality's documents; a certificate without one is refused
    // before any connection is made.
    let municipality = settings.municipality().map_err(|error| error.to_string())?;
    let connection = OperatorConnection::connect(settings)
        .await
        .map_err(|error| error.to_string())?;
    let outcome = run_command(&connection, municipality, cli.command).await;
    connection.disconnect().await;
    outcome.map_err(|error| error.to_string())
}

async fn run_command(
    connection: &OperatorConnection,
    municipality: MunicipalityCode,
    command: Command,
) -> Result<(), OperatorError> {
    let document = announcements_doc(&AnnouncementAudience::Municipality {
        municipality: municipality.clone(),
    });
    match command {
        Command::Announce {
            title,
            body,
            author,
            expires_in,
        } => {
            let now = now_millis();
            let expires_at = match expires_in {
                Some(duration) => {
                    let millis = i64::try_from(duration.as_millis())
                        .map_err(|_| OperatorError::Write("--expires-in is too long".into()))?;
                    Some(NodeTime::from_unix_millis(now.saturating_add(millis)))
                }
                None => None,
            };
            let repository = connection.repository.clone();
            let written_document = document.clone();
            let (id, new) = tokio::task::spawn_blocking(move || {
                repository.update(
                    &written_document,
                    |announcements: &mut AnnouncementsDocument| -> Result<(String, bool), ModelError> {
                        // The same title and text again is a retry (a timeout, a lost terminal),
                        // not a second announcement.
                        if let Some(existing) = announcements
                            .items
                            .values()
                            .find(|existing| existing.title == title && existing.body == body)
                        {
                            return Ok((existing.id.clone(), false));
                        }
                        let id = ItemId::generate();
                        announcements.publish(
                            &id,
                            AnnouncementInput {
                                title,
                                body,
                                expires_at,
                            },
                            &author,
                            NodeTime::from_unix_millis(now),
                        )?;
                        Ok((id.to_string(), true))
                    },
                )
            })
            .await
            .map_err(|error| OperatorError::Write(error.to_string()))?
            .map_err(describe_update_error)?;
            connection.wait_confirmed(&document).await?;
            let verb = if new {
                "Published"
            } else {
                "Already published"
            };
            eprintln!(
                "{verb} announcement {id} to the schools of municipality {municipality}; the relay holds it."
            );
            println!("{id}");
            Ok(())
        }
        Command::Announcements => {
            let announcements: AnnouncementsDocument = connection
                .repository
                .read_or_default(&document)
                .map_err(|error| OperatorError::Write(error.to_string()))?;
            for announcement in announcements.visible_at(NodeTime::from_unix_millis(now_millis())) {
                println!(
                    "{}",
                    json!({
                        "id": announcement.id,
                        "title": announcement.title,
                        "body": announcement.body,
                        "author": announcement.author,
                        "published_at": announcement.published_at.to_string(),
                        "expires_at": announcement.expires_at.map(|expires| expires.to_string()),
                    })
                );
            }
            Ok(())
        }
        Command::Withdraw { id } => {
            let repository = connection.repository.clone();
            let written_document = document.clone();
            let withdrawn_id = id.clone();
            tokio::task::spawn_blocking(move || {
                repository.update(
                    &written_document,
                    |announcements: &mut AnnouncementsDocument| {
                        announcements.withdraw(&withdrawn_id)
                    },
                )
            })
            .await
            .map_err(|error| OperatorError::Write(error.to_string()))?
            .map_err(describe_update_error)?;
            connection.wait_confirmed(&document).await?;
            eprintln!(
                "Withdrew announcement {id} from the schools of municipality {municipality}; the relay holds the change."
            );
            Ok(())
        }
    }
}

fn describe_update_error<E: std::fmt::Display>(error: UpdateError<E>) -> OperatorError {
    OperatorError::Write(match error {
        UpdateError::Rejected(reason) => reason.to_string(),
        UpdateError::Repository(failure) => failure.to_string(),
    })
}

fn now_millis() -> i64 {
    sync_transport::link::now_millis() as i64
}
