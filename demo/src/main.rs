//! `digione-demo`: a relay and two school nodes of one municipality, with a school year of demo
//! data, in one process on this machine.
//!
//! ```text
//! cargo run --release -p digione-demo
//! ```
//!
//! The first run creates the fleet certificate authority, enrols both schools with single-use
//! tokens, imports a generated OneRoster roster into each school, gives every user the demo
//! password and writes the demo data (timetables, assignments and submissions, message threads,
//! announcements) through the nodes' own API. A later run on the same data directory starts the
//! same relay and nodes again: enrolment is skipped while the certificates are valid, and every
//! step of the demo data first looks whether what it would write is already there, so nothing is
//! written twice and a first run interrupted half-way is completed.
//!
//! Once ready it prints the addresses, the logins and the operator token, then serves until Ctrl-C
//! or SIGTERM, and stops the nodes and then the relay with their stores flushed.

mod client;
mod fleet;
mod seed;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::fleet::{DemoPorts, Fleet};
use crate::seed::DemoLogins;

/// Where the demo keeps its data unless `--data-dir` says otherwise: under the current directory,
/// so that the demo leaves nothing elsewhere on the machine.
const DEFAULT_DATA_DIR: &str = "demo-data";

/// How long both nodes may take to connect to the relay before the demo says it is ready anyway.
/// On loopback they connect within a second; the bound only keeps a broken link from hiding the
/// addresses and logins.
const NODES_ONLINE_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the nodes' sync status is asked while waiting for them to connect.
const NODES_ONLINE_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The line that tells a person (and the integration test) that the demo is serving.
const READY_LINE: &str = "Ready.";

#[derive(Debug, Parser)]
#[command(
    name = "digione-demo",
    version,
    about = "DigiOne Edge demo: a relay and two school nodes of municipality 092 (Vantaa) with demo data, until Ctrl-C"
)]
struct Arguments {
    /// The demo's data directory: created on the first run and reused after. Delete it to start
    /// over.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// The UDP port of the relay's QUIC endpoint, where the nodes sync.
    #[arg(long, value_name = "PORT", default_value_t = fleet::DEFAULT_RELAY_PORT)]
    relay_port: u16,
    /// The TCP port of the relay's operations view (dashboard, fleet API, metrics).
    #[arg(long, value_name = "PORT", default_value_t = fleet::DEFAULT_OPERATIONS_PORT)]
    operations_port: u16,
    /// The TCP port of the first school's node (school 30076).
    #[arg(long, value_name = "PORT", default_value_t = fleet::DEFAULT_FIRST_SCHOOL_PORT)]
    first_school_port: u16,
    /// The TCP port of the second school's node (school 30077).
    #[arg(long, value_name = "PORT", default_value_t = fleet::DEFAULT_SECOND_SCHOOL_PORT)]
    second_school_port: u16,
}

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("digione-demo: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(arguments)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("digione-demo: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Starts everything, writes the demo data, prints what to open, serves until told to stop, and
/// stops everything.
async fn run(arguments: Arguments) -> Result<(), String> {
    let started = Instant::now();
    // Listening for the signals before anything starts replaces their default action (ending the
    // process at once), so a Ctrl-C during start-up still ends in a clean shutdown.
    let mut termination = Termination::listen()?;
    let ports = DemoPorts {
        relay: arguments.relay_port,
        operations: arguments.operations_port,
        first_school: arguments.first_school_port,
        second_school: arguments.second_school_port,
    };
    let fleet = Fleet::start(&arguments.data_dir, &ports).await?;
    let seeded = tokio::select! {
        seeded = seed::write_demo_data(&fleet) => Some(seeded),
        () = termination.wait() => None,
    };
    let outcome = match seeded {
        Some(Ok(logins)) => {
            let all_online = tokio::select! {
                online = wait_until_nodes_are_online(&fleet) => Some(online),
                () = termination.wait() => None,
            };
            if let Some(all_online) = all_online {
                print_ready(&fleet, &logins, all_online, started.elapsed());
                termination.wait().await;
            }
            Ok(())
        }
        Some(Err(error)) => Err(format!("could not write the demo data: {error}")),
        None => Ok(()),
    };
    println!("Stopping: the school nodes, then the relay.");
    fleet.shutdown().await;
    println!("Stopped; the stores are flushed. Run the same command again to continue.");
    outcome
}

/// Waits until every node reports its link to the relay up; false when [`NODES_ONLINE_TIMEOUT`]
/// passed first.
async fn wait_until_nodes_are_online(fleet: &Fleet) -> bool {
    let deadline = Instant::now() + NODES_ONLINE_TIMEOUT;
    loop {
        let mut all_online = true;
        for school in &fleet.schools {
            all_online &= client::sync_state(&school.base_url())
                .await
                .is_some_and(|state| client::is_online(&state));
        }
        if all_online {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(NODES_ONLINE_POLL_INTERVAL).await;
    }
}

/// The addresses, node ids, logins and operator token, then [`READY_LINE`]. Every detail line is
/// `  label  value`, so that the integration test (and a script) can read it.
fn print_ready(fleet: &Fleet, logins: &[DemoLogins], all_online: bool, elapsed: Duration) {
    let relay = &fleet.relay;
    let operations = format!("http://{}/", relay.operations_address);
    let mut text = String::new();
    text.push_str(&format!(
        "\nDigiOne Edge demo: a relay and two schools of municipality {} ({})\n",
        fleet::MUNICIPALITY_CODE,
        fleet::MUNICIPALITY_NAME
    ));
    text.push_str(&format!("Data directory: {}\n\n", fleet.data_dir.display()));
    text.push_str("Relay\n");
    text.push_str(&format!(
        "  operations     {operations}   (dashboard: any user name, the operator token as password)\n"
    ));
    text.push_str(&format!("  token          {}\n", fleet.operator_token));
    text.push_str(&format!("  sync           {} (QUIC)\n", relay.sync_address));
    text.push_str(&format!(
        "  fleet          curl -u ops:{} {operations}api/v1/fleet\n",
        fleet.operator_token
    ));
    for (school, login) in fleet.schools.iter().zip(logins) {
        let base = school.base_url();
        text.push_str(&format!("\nSchool {} {}\n", school.code, school.name));
        // The web UI first: it is what a pupil, a teacher, a guardian or school IT opens.
        text.push_str(&format!(
            "  web            {base}/   (open it in a browser; log in as a user below)\n"
        ));
        text.push_str(&format!(
            "  api            {base}/api/v1/   (OpenAPI: {base}/api/v1/openapi.json)\n"
        ));
        text.push_str(&format!("  node           {}\n", school.node_id));
        text.push_str(&format!("  pupil          {}\n", login.pupil));
        text.push_str(&format!("  teacher        {}\n", login.teacher));
        text.push_str(&format!("  guardian       {}\n", login.guardian));
        text.push_str(&format!("  admin          {}\n", login.admin));
    }
    let first = fleet.schools.first().map(|school| school.base_url());
    let first_pupil = logins.first().map(|login| login.pupil.as_str());
    text.push_str(&format!(
        "\nEvery user's password: {}\n",
        seed::DEMO_PASSWORD
    ));
    if let (Some(base), Some(pupil)) = (first, first_pupil) {
        text.push_str(&format!(
            "Open {base}/ in a browser and log in as {pupil}, or try the API:\n"
        ));
        text.push_str(&format!(
            "     curl -c cookies -H 'content-type: application/json' -d '{{\"username\":\"{pupil}\",\"password\":\"{}\"}}' {base}/api/v1/session\n     curl -b cookies {base}/api/v1/me\n",
            seed::DEMO_PASSWORD
        ));
    }
    if !all_online {
        text.push_str(&format!(
            "\nNot every node reached the relay within {} s; they keep retrying (see the log).\n",
            NODES_ONLINE_TIMEOUT.as_secs()
        ));
    }
    text.push_str(&format!(
        "\n{READY_LINE} Started in {:.1} s. Ctrl-C stops everything; run again to continue with the same data; delete {} to start over.\n",
        elapsed.as_secs_f64(),
        fleet.data_dir.display()
    ));
    print!("{text}");
    let _ = std::io::stdout().flush();
}

/// Ctrl-C (SIGINT) and SIGTERM, listened for from the start of the process.
struct Termination {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Termination {
    fn listen() -> Result<Self, String> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind| {
                signal(kind).map_err(|error| format!("cannot listen for signals: {error}"))
            };
            Ok(Self {
                interrupt: listen(SignalKind::interrupt())?,
                terminate: listen(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Returns once either signal arrived (at once when one arrived earlier and was not yet
    /// waited for).
    async fn wait(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Logs go to stderr, warnings and errors only unless `RUST_LOG` says otherwise, so that the
/// printed addresses and logins stay readable.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
