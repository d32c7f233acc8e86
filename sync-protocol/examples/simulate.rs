//! The fleet simulation as a program: one relay and school nodes under a seeded schedule of lost,
//! duplicated and reordered frames, cut links and crashes, then a healing phase.
//!
//! `cargo run --release -p sync-protocol --example simulate [-- [--days] [SEED [CASES]]]` prints one
//! JSON line per seed with what happened, how long it took, and whether every replica converged with
//! every acknowledged write present. Without `--days` it runs twenty simulated seconds of dense
//! edits with five schools (`SimConfig::with_faults`); with `--days`, a simulated school week of six
//! schools in two municipalities (`SimConfig::school_days`). It exits non-zero if any seed fails,
//! naming the command that replays it.

use std::time::Instant;

use sync_protocol::sim::{SimConfig, Simulation};

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
