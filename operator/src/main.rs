//! `digione-operator`: the program is [`operator::cli`], so that the end-to-end tests can build the
//! same program as a binary of their own package (see `tests/src/bin/`).

fn main() -> std::process::ExitCode {
    operator::cli::main()
}
