//! End-to-end tests live in `tests/tests/`. This library holds what they share for running the real
//! binaries: the fault-injecting UDP proxy between nodes and the relay ([`fault_proxy`]) and the
//! harness that starts, stops and inspects a fleet of real processes ([`fleet`]), and the ledger of
//! acknowledged writes the scenarios check at the end ([`ledger`]).

pub mod fault_proxy;
pub mod fleet;
pub mod ledger;
