//! The `digione-operator` program: a municipality's or the nation's own tooling for the documents
//! that no school writes: the municipality's announcements, which every school of the municipality
//! shows its pupils, teachers and guardians (a municipality's operator certificate), and the
//! national catalogue of services that log in with a node's OpenID Provider (a national operator
//! certificate).
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
use node::model::catalogue::{
    CatalogueDocument, LtiTool, MAX_TOOL_JWK_CHARS, ReleasableClaim, ServiceCategory, ServiceInput,
    ServiceProtocol, catalogue_doc, client_secret_sha256,
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
    /// The national service catalogue (needs a national operator certificate).
    Service {
        #[command(subcommand)]
        command: ServiceCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// Publish a service, or replace the one with the same id. An OpenID Connect client gets a
    /// fresh client secret, printed once on standard output; the catalogue keeps only its SHA-256,
    /// so publishing again replaces the secret.
    Publish {
        /// The service id, also its OAuth client id: lowercase letters, digits and `-`.
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// Who provides the service.
        #[arg(long)]
        provider: String,
        /// own, common or optional.
        #[arg(long, value_parser = parse_category)]
        category: ServiceCategory,
        /// oidc, lti13 or link.
        #[arg(long, value_parser = parse_protocol)]
        protocol: ServiceProtocol,
        /// An exact redirect URI (repeat for several): an OpenID Connect client's, or an LTI
        /// tool's launch (redirect) URIs.
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Where the service is opened; required for a plain link, and an LTI tool's target link
        /// URI.
        #[arg(long, value_name = "URL")]
        launch_url: Option<String>,
        /// A claim the service may receive, by its scope name (repeat): profile, email,
        /// urn:mpass.id:schoolCode, urn:mpass.id:municipalityCode, urn:mpass.id:class,
        /// urn:mpass.id:classLevel, urn:mpass.id:role.
        #[arg(long = "claim", value_name = "SCOPE", value_parser = parse_claim)]
        claims: Vec<ReleasableClaim>,
        /// The service works without the internet (on the school LAN, or offline).
        #[arg(long)]
        works_offline: bool,
        /// An LTI tool's OpenID Connect login initiation URL (required with `--protocol lti13`).
        #[arg(long, value_name = "URL")]
        lti_login_url: Option<String>,
        /// A file holding the LTI tool's RSA public key as a JWK (required with
        /// `--protocol lti13`); nodes verify the tool's signatures with it offline.
        #[arg(long, value_name = "FILE")]
        lti_public_jwk: Option<PathBuf>,
        /// Where the LTI tool lets a teacher pick content (Deep Linking 2.0), if it does.
        #[arg(long, value_name = "URL")]
        lti_deep_linking_url: Option<String>,
    },
    /// List the catalogue as JSON lines.
    List,
    /// Withdraw a service from the catalogue by its id.
    Withdraw { id: String },
}

/// The LTI registration from the publish flags: all LTI flags are refused for other protocols,
/// and the login URL and key are required for an LTI tool (the catalogue validates the values).
fn lti_registration(
    protocol: ServiceProtocol,
    login_url: Option<String>,
    public_jwk_file: Option<PathBuf>,
    deep_linking_url: Option<String>,
) -> Result<Option<LtiTool>, OperatorError> {
    let refuse = |message: &str| Err(OperatorError::Write(message.to_owned()));
    if protocol != ServiceProtocol::Lti13 {
        if login_url.is_some() || public_jwk_file.is_some() || deep_linking_url.is_some() {
            return refuse("the --lti-* flags are for --protocol lti13 only");
        }
        return Ok(None);
    }
    let (Some(login_initiation_url), Some(file)) = (login_url, public_jwk_file) else {
        return refuse("an LTI tool needs --lti-login-url and --lti-public-jwk");
    };
    // Read no more than a JWK can be; the catalogue refuses a longer one anyway.
    let limit = u64::try_from(MAX_TOOL_JWK_CHARS * 4).unwrap_or(u64::MAX);
    let size = std::fs::metadata(&file)
        .map_err(|error| OperatorError::Write(format!("{}: {error}", file.display())))?
        .len();
    if size > limit {
        return refuse("the --lti-public-jwk file is too large for a public key");
    }
    let public_jwk = std::fs::read_to_string(&file)
        .map_err(|error| OperatorError::Write(format!("{}: {error}", file.display())))?;
    Ok(Some(LtiTool {
        login_initiation_url,
        public_jwk: public_jwk.trim().to_owned(),
        deep_linking_url,
    }))
}

fn parse_category(text: &str) -> Result<ServiceCategory, String> {
    match text {
        "own" => Ok(ServiceCategory::Own),
        "common" => Ok(ServiceCategory::Common),
        "optional" => Ok(ServiceCategory::Optional),
        _ => Err("expected own, common or optional".to_owned()),
    }
}

fn parse_protocol(text: &str) -> Result<ServiceProtocol, String> {
    match text {
        "oidc" => Ok(ServiceProtocol::Oidc),
        "lti13" => Ok(ServiceProtocol::Lti13),
        "link" => Ok(ServiceProtocol::Link),
        _ => Err("expected oidc, lti13 or link".to_owned()),
    }
}

fn parse_claim(text: &str) -> Result<ReleasableClaim, String> {
    ReleasableClaim::from_scope(text).ok_or_else(|| {
        let known: Vec<&str> = ReleasableClaim::ALL
            .iter()
            .map(|claim| claim.scope())
            .collect();
        format!("expected one of {}", known.join(", "))
    })
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
    // The wrong kind of certificate is refused before any connection is made: announcements are
    // the municipality's documents, the service catalogue the nation's.
    if let Command::Service { command } = cli.command {
        settings
            .require_national()
            .map_err(|error| error.to_string())?;
        let connection = OperatorConnection::connect(settings)
            .await
            .map_err(|error| error.to_string())?;
        let outcome = run_service_command(&connection, command).await;
        connection.disconnect().await;
        return outcome.map_err(|error| error.to_string());
    }
    let municipality = settings.municipality().map_err(|error| error.to_string())?;
    let connection = OperatorConnection::connect(settings)
        .await
        .map_err(|error| error.to_string())?;
    let outcome = run_command(&connection, municipality, cli.command).await;
    connection.disconnect().await;
    outcome.map_err(|error| error.to_string())
}

async fn run_service_command(
    connection: &OperatorConnection,
    command: ServiceCommand,
) -> Result<(), OperatorError> {
    let document = catalogue_doc();
    match command {
        ServiceCommand::Publish {
            id,
            name,
            provider,
            category,
            protocol,
            redirect_uris,
            launch_url,
            claims,
            works_offline,
            lti_login_url,
            lti_public_jwk,
            lti_deep_linking_url,
        } => {
            let lti = lti_registration(
                protocol,
                lti_login_url,
                lti_public_jwk,
                lti_deep_linking_url,
            )?;
            // 256 bits from the operating system's generator, the same as the node's own tokens.
            let secret = match protocol {
                ServiceProtocol::Oidc => {
                    Some(node::oidc::grants::random_token().map_err(OperatorError::Write)?)
                }
                ServiceProtocol::Lti13 | ServiceProtocol::Link => None,
            };
            let input = ServiceInput {
                id: id.clone(),
                name,
                provider,
                category,
                protocol,
                redirect_uris,
                launch_url,
                allowed_claims: claims,
                works_offline,
                client_secret_sha256: secret.as_deref().map(client_secret_sha256),
                lti,
            };
            let repository = connection.repository.clone();
            let written_document = document.clone();
            let now = NodeTime::from_unix_millis(now_millis());
            tokio::task::spawn_blocking(move || {
                repository.update(&written_document, |catalogue: &mut CatalogueDocument| {
                    catalogue.publish(input, now)
                })
            })
            .await
            .map_err(|error| OperatorError::Write(error.to_string()))?
            .map_err(describe_update_error)?;
            connection.wait_confirmed(&document).await?;
            eprintln!("Published service {id} in the national catalogue; the relay holds it.");
            if let Some(secret) = secret {
                eprintln!(
                    "Its client secret follows, shown this once: give it to the service's provider."
                );
                println!("{secret}");
            }
            Ok(())
        }
        ServiceCommand::List => {
            let catalogue: CatalogueDocument = connection
                .repository
                .read_or_default(&document)
                .map_err(|error| OperatorError::Write(error.to_string()))?;
            for service in catalogue.services.values() {
                let claims: Vec<&str> = service
                    .allowed_claims
                    .iter()
                    .map(|claim| claim.scope())
                    .collect();
                println!(
                    "{}",
                    json!({
                        "id": service.id,
                        "name": service.name,
                        "provider": service.provider,
                        "category": service.category,
                        "protocol": service.protocol,
                        "redirect_uris": service.redirect_uris,
                        "launch_url": service.launch_url,
                        "allowed_claims": claims,
                        "works_offline": service.works_offline,
                        "published_at": service.published_at.to_string(),
                    })
                );
            }
            Ok(())
        }
        ServiceCommand::Withdraw { id } => {
            let repository = connection.repository.clone();
            let written_document = document.clone();
            let withdrawn_id = id.clone();
            tokio::task::spawn_blocking(move || {
                repository.update(&written_document, |catalogue: &mut CatalogueDocument| {
                    catalogue.withdraw(&withdrawn_id).map(|_| ())
                })
            })
            .await
            .map_err(|error| OperatorError::Write(error.to_string()))?
            .map_err(describe_update_error)?;
            connection.wait_confirmed(&document).await?;
            eprintln!(
                "Withdrew service {id} from the national catalogue; the relay holds the change."
            );
            Ok(())
        }
    }
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
        Command::Service { .. } => Err(OperatorError::Write(
            "service commands are run by run_service_command".to_owned(),
        )),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lti_flags_are_for_lti_tools_and_an_lti_tool_needs_its_login_url_and_key() {
        let refused = lti_registration(
            ServiceProtocol::Oidc,
            Some("https://tool.example.fi/login".into()),
            None,
            None,
        );
        assert!(refused.is_err(), "LTI flags on an OpenID Connect client");
        assert!(matches!(
            lti_registration(ServiceProtocol::Link, None, None, None),
            Ok(None)
        ));
        let missing_key = lti_registration(
            ServiceProtocol::Lti13,
            Some("https://tool.example.fi/login".into()),
            None,
            None,
        );
        assert!(missing_key.is_err(), "an LTI tool without its key");

        let dir = std::env::temp_dir().join(format!("digione-operator-jwk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("tool.jwk");
        std::fs::write(&file, "  {\"kty\":\"RSA\"}\n").expect("write");
        let registration = lti_registration(
            ServiceProtocol::Lti13,
            Some("https://tool.example.fi/login".into()),
            Some(file.clone()),
            Some("https://tool.example.fi/deep".into()),
        )
        .expect("complete")
        .expect("a registration");
        assert_eq!(registration.public_jwk, "{\"kty\":\"RSA\"}");
        assert_eq!(
            registration.deep_linking_url.as_deref(),
            Some("https://tool.example.fi/deep")
        );
        std::fs::write(&file, "x".repeat(MAX_TOOL_JWK_CHARS * 4 + 1)).expect("write");
        let too_large = lti_registration(
            ServiceProtocol::Lti13,
            Some("https://tool.example.fi/login".into()),
            Some(file),
            None,
        );
        assert!(too_large.is_err(), "a file too large for a key is not read");
        let _ = std::fs::remove_dir_all(dir);
    }
}
