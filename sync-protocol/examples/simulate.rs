//! The fleet simulation as a program: one relay and five school nodes under a seeded schedule of
//! lost, duplicated and reordered frames, cut links and crashes, then a healing phase.
//!
//! `cargo run --release -p sync-protocol --example simulate [-- SEED [CASES]]` prints one JSON line per
//! seed with what happened and whether every replica converged with every acknowledged write present.
//! It exits non-zero if any seed fails, naming the seed to replay.

use sync_protocol::sim::{SimConfig, Simulation};

fn main() {
    let mut arguments = std::env::args().skip(1);
    let first_seed: u64 = arguments
        .next()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1);
    let cases: u64 = arguments
        .next()
        .and_then(|text| text.parse().ok())
        .unwrap_or(5);
    let mut failures = 0;
    for seed in first_seed..first_seed + cases {
        let mut simulation = Simulation::new(SimConfig::with_faults(seed));
        let report = simulation.run();
        let verdict = simulation.check();
        let line = serde_json::json!({
            "seed": seed,
            "converged": verdict.is_ok(),
            "problem": verdict.as_ref().err(),
            "edits_acknowledged": report.edits_acknowledged,
            "blobs_acknowledged": report.blobs_acknowledged,
            "crashes": report.crashes,
            "partitions": report.partitions,
            "frames_sent": report.frames_sent,
            "frames_lost": report.frames_lost,
            "frames_duplicated": report.frames_duplicated,
            "sessions_started": report.sessions_started,
            "simulated_heal_millis": report.heal_millis,
        });
        println!("{line}");
        failures += u32::from(verdict.is_err());
    }
    if failures > 0 {
        eprintln!(
            "{failures} seed(s) failed; replay one with: cargo run --release -p sync-protocol --example simulate -- SEED 1"
        );
        std::process::exit(1);
    }
}
