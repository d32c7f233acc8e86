//! The fleet simulation as a program: one relay and school nodes under a seeded schedule of lost,
//! duplicated and reordered frames, cut links and crashes, stores that go back in time (a node's
//! disk lost and the node rebuilt empty under its old identity, a node or the relay restored from an
//! older snapshot), then a healing phase.
//!
//! `cargo run --release -p sync-protocol --example simulate [-- [--days] [SEED [CASES]]]` prints one
//! JSON line per seed with what happened, how long it took, and whether every replica converged with
//! every acknowledged write present. Without `--days` it runs twenty simulated seconds of dense
//! edits with five schools (`SimConfig::with_faults`); with `--days`, a simulated school week of six
//! schools in two municipalities (`SimConfig::school_days`). Each line counts the store faults
//! (`node_disk_losses`, `node_snapshot_restores`, `relay_snapshot_restores`) and the acknowledged
//! writes that only a replaced store held and so were lost with it (`edits_lost_with_store`,
//! `blobs_lost_with_store`), which the final check no longer demands; a last line on stderr sums
//! them over the seeds. It exits non-zero if any seed fails, naming the command that replays it.

use std::time::Instant;

use sync_protocol::sim::{SimConfig, SimReport, Simulation};

fn main() {
    let mut arguments: Vec<String> = std::env::args().skip(1).collect();
    let days = arguments.iter().any(|argument| argument == "--days");
    arguments.retain(|argument| argument != "--days");
    let mut numbers = arguments.iter().map(|text| text.parse::<u64>());
    let first_seed = match numbers.next() {
        Some(Ok(seed)) => seed,
        Some(Err(_)) => usage(),
        None => 1,
    };
    let cases = match numbers.next() {
        Some(Ok(cases)) => cases,
        Some(Err(_)) => usage(),
        None => 5,
    };
    let mut failed_seeds = Vec::new();
    let mut totals = SimReport::default();
    for seed in first_seed..first_seed + cases {
        let config = if days {
            SimConfig::school_days(seed)
        } else {
            SimConfig::with_faults(seed)
        };
        let started = Instant::now();
        let mut simulation = Simulation::new(config);
        let report = simulation.run();
        let verdict = simulation.check();
        totals.node_disk_losses += report.node_disk_losses;
        totals.node_snapshot_restores += report.node_snapshot_restores;
        totals.relay_snapshot_restores += report.relay_snapshot_restores;
        totals.edits_acknowledged += report.edits_acknowledged;
        totals.edits_lost_with_store += report.edits_lost_with_store;
        totals.blobs_acknowledged += report.blobs_acknowledged;
        totals.blobs_lost_with_store += report.blobs_lost_with_store;
        let wall_millis = started.elapsed().as_millis() as u64;
        let mut line = serde_json::to_value(&report).unwrap_or_default();
        line["scenario"] = if days { "school_days" } else { "with_faults" }.into();
        line["ok"] = verdict.is_ok().into();
        line["problem"] = verdict.as_ref().err().cloned().into();
        line["wall_millis"] = wall_millis.into();
        println!("{line}");
        if verdict.is_err() {
            failed_seeds.push(seed);
        }
    }
    eprintln!(
        "{cases} seeds, {} failed; store faults: {} node disk losses, {} node restores, {} relay \
         restores; lost with a replaced store: {} of {} acknowledged edits, {} of {} blobs",
        failed_seeds.len(),
        totals.node_disk_losses,
        totals.node_snapshot_restores,
        totals.relay_snapshot_restores,
        totals.edits_lost_with_store,
        totals.edits_acknowledged,
        totals.blobs_lost_with_store,
        totals.blobs_acknowledged,
    );
    if !failed_seeds.is_empty() {
        let mode = if days { "--days " } else { "" };
        for seed in &failed_seeds {
            eprintln!(
                "seed {seed} failed; replay it with: cargo run --release -p sync-protocol --example simulate -- {mode}{seed} 1"
            );
        }
        std::process::exit(1);
    }
}

fn usage() -> ! {
    eprintln!("usage: simulate [--days] [FIRST_SEED [CASES]]");
    std::process::exit(2);
}
