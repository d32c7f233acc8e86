//! `digione-relay`: the command line of the relay.
//!
//! Every command reads the same configuration (`--config FILE`, then `DIGIONE_RELAY_*` environment
//! variables), so `enrol` and `revoke` find the authority that the running `serve` uses. Output
//! meant for scripts (the token of `enrol`) goes to stdout alone; explanations and errors go to
//! stderr. A failure prints one line and exits with status 1; clap exits with 2 on usage errors.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use crate::authority::{Authority, TokenRequest};
use crate::config::RelayConfig;
use clap::{Args, Parser, Subcommand};
use sync_protocol::ids::{MunicipalityCode, NodeId, SchoolCode};
use sync_transport::identity::{FleetIdentity, Role};
use tracing_subscriber::EnvFilter;

/// Selects JSON log lines (for log shippers) instead of human-readable ones.
const LOG_FORMAT_VARIABLE: &str = "DIGIONE_LOG_FORMAT";

#[derive(Debug, Parser)]
#[command(name = "digione-relay", version, about = "DigiOne Edge relay")]
struct Cli {
    /// The configuration file (TOML). Without it, the defaults apply; `DIGIONE_RELAY_*`
    /// environment variables override either.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage the fleet certificate authority.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Issue a single-use enrolment token for a school node or an operator. The token is printed
    /// alone on stdout; hand it over through a trusted channel.
    Enrol(EnrolArgs),
    /// Revoke a node: it can no longer connect, renew or re-enrol.
    Revoke {
        /// The node id, as the fleet view shows it (for example n-30076-1a2b3c4d).
        node: NodeId,
        /// Why, for whoever reads the revocation later.
        #[arg(long, default_value = "revoked by an operator")]
        reason: String,
    },
    /// Issue an operator key and certificate directly from the CA on this machine, writing
    /// node.key, node.pem and ca.pem into a directory.
    OperatorCertificate {
        /// The directory to write into (created if missing; existing files are not overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Limit the operator to one municipality; without it, the operator writes national
        /// documents.
        #[arg(long, value_name = "CODE")]
        municipality: Option<MunicipalityCode>,
    },
    /// Run the relay: the QUIC endpoint and the operations listener.
    Serve,
    /// Open the relay's store (<data_dir>/store) and list its documents.
    InspectStore,
}

#[derive(Debug, Subcommand)]
enum CaCommand {
    /// Create the fleet CA in <data_dir>/authority. Refuses if one exists.
    Init,
}

#[derive(Debug, Args)]
struct EnrolArgs {
    /// Issue an operator token instead of a node token.
    #[arg(long, conflicts_with = "school")]
    operator: bool,
    /// The school's five-digit code (required for nodes).
    #[arg(long, value_name = "CODE", required_unless_present = "operator")]
    school: Option<SchoolCode>,
    /// The three-digit municipality code (required for nodes; optional for operators, limiting
    /// them to that municipality).
    #[arg(long, value_name = "CODE", required_unless_present = "operator")]
    municipality: Option<MunicipalityCode>,
    /// Re-enrol an existing node under its id (for example after a disk replacement).
    #[arg(long, value_name = "NODE")]
    node: Option<NodeId>,
    /// How long the token stays valid, such as 24h or 3days (default: the configuration's
    /// certificates.token_lifetime).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    valid_for: Option<Duration>,
}

/// The whole program: parse the command line, run the command, report an error on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("digione-relay: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let serving = matches!(cli.command, Command::Serve);
    // Commands other than `serve` log only warnings, so that their own output stays readable.
    init_tracing(if serving { "info" } else { "warn" });
    let config = RelayConfig::load(cli.config.as_deref()).map_err(|error| error.to_string())?;
    match cli.command {
        Command::Ca {
            command: CaCommand::Init,
        } => ca_init(&config),
        Command::Enrol(arguments) => enrol(&config, arguments),
        Command::Revoke { node, reason } => revoke(&config, &node, &reason),
        Command::OperatorCertificate { out, municipality } => {
            operator_certificate(&config, &out, municipality)
        }
        Command::Serve => serve(config),
        Command::InspectStore => {
            let store_dir = config.store_dir();
            let description = crate::describe_store(&store_dir).map_err(|error| {
                format!("cannot read the store in {}: {error}", store_dir.display())
            })?;
            println!("{description}");
            Ok(())
        }
    }
}

fn open_authority(config: &RelayConfig) -> Result<Authority, String> {
    Authority::open(&config.authority_dir())
        .map(|authority| authority.with_certificate_lifetime(config.certificate_lifetime()))
        .map_err(|error| error.to_string())
}

fn ca_init(config: &RelayConfig) -> Result<(), String> {
    let directory = config.authority_dir();
    let authority =
        Authority::init(&directory, SystemTime::now()).map_err(|error| error.to_string())?;
    eprintln!(
        "Created the fleet certificate authority in {}.\nCA certificate SHA-256: {}\nBack up {} now: its ca.key is the fleet's root of trust and cannot be recreated.",
        directory.display(),
        hex::encode(authority.ca_sha256()),
        directory.display()
    );
    Ok(())
}

fn enrol(config: &RelayConfig, arguments: EnrolArgs) -> Result<(), String> {
    let authority = open_authority(config)?;
    let valid_for = arguments
        .valid_for
        .unwrap_or(config.certificates.token_lifetime);
    let request = TokenRequest {
        role: if arguments.operator {
            Role::Operator
        } else {
            Role::Node
        },
        school: arguments.school,
        municipality: arguments.municipality,
        node: arguments.node,
        valid_for,
    };
    let description = describe_grant(&request);
    let now = SystemTime::now();
    let token = authority
        .issue_token(request, now)
        .map_err(|error| error.to_string())?;
    println!("{token}");
    eprintln!(
        "Enrolment token for {description}, valid until {} ({}), usable once.\nAnyone holding it can enrol: hand it over through a trusted channel.",
        humantime::format_rfc3339_seconds(now + valid_for),
        humantime::format_duration(valid_for)
    );
    Ok(())
}

/// What a token grants, in words, for the operator who issued it.
fn describe_grant(request: &TokenRequest) -> String {
    let who = match (request.role, &request.school, &request.municipality) {
        (Role::Node, Some(school), Some(municipality)) => {
            format!("a node of school {school} in municipality {municipality}")
        }
        (Role::Operator, _, Some(municipality)) => {
            format!("an operator of municipality {municipality}")
        }
        (Role::Operator, _, None) => "a national operator".to_owned(),
        (Role::Node, _, _) => "a node".to_owned(),
    };
    match &request.node {
        Some(node) => format!("{who}, re-enrolling as {node}"),
        None => format!("{who} (its node id is assigned when it enrols)"),
    }
}

fn revoke(config: &RelayConfig, node: &NodeId, reason: &str) -> Result<(), String> {
    let authority = open_authority(config)?;
    let newly_revoked = authority
        .revoke(node, reason, SystemTime::now())
        .map_err(|error| error.to_string())?;
    if newly_revoked {
        eprintln!(
            "Revoked {node}. The running relay disconnects it at its next revocation check; it can no longer renew or re-enrol."
        );
    } else {
        eprintln!("{node} was already revoked; nothing changed.");
    }
    Ok(())
}

fn operator_certificate(
    config: &RelayConfig,
    out: &Path,
    municipality: Option<MunicipalityCode>,
) -> Result<(), String> {
    let authority = open_authority(config)?;
    let files = ["node.key", "node.pem", "ca.pem"].map(|name| out.join(name));
    // Checked before anything is issued, so a refusal leaves no certificate behind in the log.
    if let Some(existing) = files.iter().find(|path| path.exists()) {
        return Err(format!(
            "{} already exists; choose an empty directory with --out, or move the old files away",
            existing.display()
        ));
    }
    let node = authority
        .new_node_id(Role::Operator, None)
        .map_err(|error| error.to_string())?;
    let identity = FleetIdentity {
        node,
        role: Role::Operator,
        school: None,
        municipality,
    };
    let (certificate_der, key_pem) = authority
        .issue_local(&identity, SystemTime::now())
        .map_err(|error| error.to_string())?;
    let certificate_pem = pem::encode(&pem::Pem::new("CERTIFICATE", certificate_der));

    create_private_dir(out).map_err(|error| format!("cannot create {}: {error}", out.display()))?;
    let [key_path, certificate_path, ca_path] = &files;
    write_new(key_path, key_pem.as_bytes(), 0o600)?;
    write_new(certificate_path, certificate_pem.as_bytes(), 0o644)?;
    write_new(ca_path, authority.ca_certificate_pem().as_bytes(), 0o644)?;
    eprintln!(
        "Issued a certificate for {identity}, valid for {}, into {}.",
        humantime::format_duration(authority.certificate_lifetime()),
        out.display()
    );
    Ok(())
}

fn create_private_dir(directory: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(directory)
}

/// Creates `path` with `mode` (never overwriting) and writes `contents` into it.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), String> {
    use std::io::Write as _;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options
        .open(path)
        .and_then(|mut file| {
            file.write_all(contents)?;
            file.sync_all()
        })
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
}

fn serve(config: RelayConfig) -> Result<(), String> {
    // Checked before anything starts, so a missing token is one clear line rather than a failure
    // after the listeners are up.
    config
        .operations
        .operator_token()
        .map_err(|error| error.to_string())?;
    let authority = open_authority(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the async runtime: {error}"))?;
    runtime.block_on(crate::server::run(config, authority))
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `default_level`), as JSON lines when
/// `DIGIONE_LOG_FORMAT=json`.
fn init_tracing(default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    // Colours only on a terminal: under systemd or in a container they would be escape codes in the
    // journal.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_writer(io::stderr);
    let json = std::env::var(LOG_FORMAT_VARIABLE).is_ok_and(|format| format == "json");
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
