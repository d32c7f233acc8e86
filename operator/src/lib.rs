//! `digione-operator`: what a municipality's (or the nation's) operators use to write the
//! documents no school writes, through the relay, with an operator certificate. See `cli` for the
//! commands and `connection` for how an edit is made on the relay's current document and confirmed.

pub mod cli;
pub mod connection;
