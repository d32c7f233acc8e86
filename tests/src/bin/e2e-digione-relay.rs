//! `digione-relay` exactly (its whole program is `cloud_relay::cli`), built as a binary of this
//! package so that cargo builds it, fresh, before this package's tests run them as processes.
//! Built by another package, it could be stale or need a build with other features.

fn main() -> std::process::ExitCode {
    cloud_relay::cli::main()
}
