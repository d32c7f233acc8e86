//! `digione-operator` exactly (its whole program is `operator::cli`), built as a binary of this
//! package for the same reason as `e2e-digione-node`: cargo builds it, fresh, before this
//! package's tests run it as a process.

fn main() -> std::process::ExitCode {
    operator::cli::main()
}
