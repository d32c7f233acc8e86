//! Property tests over the simulator: under a seeded schedule of loss, duplication, reordering,
//! partitions and crashes, all replicas converge and no acknowledged edit or blob is lost.
//!
//! Two scenarios, each with its own seeds:
//!
//! * twenty simulated seconds of dense edits under constant faults: `DIGIONE_SIM_CASES=1000` runs
//!   more seeds, `DIGIONE_SIM_FIRST_SEED=N` starts elsewhere, `DIGIONE_SIM_SEED=N` replays one;
//! * a simulated school week: `DIGIONE_SIM_DAYS_CASES`, `DIGIONE_SIM_DAYS_FIRST_SEED` and
//!   `DIGIONE_SIM_DAYS_SEED` likewise.
//!
//! Every seed runs; a failure lists each failing seed with the command that replays it exactly.
//! Each seed prints one JSON line (shown with `--nocapture`, or by nextest for a failing test).

use std::time::Instant;

use sync_protocol::sim::{
    DAY_MILLIS, LossyPeriods, Occurrences, SimConfig, SimReport, Simulation, Workload,
    seeds_from_env, seeds_from_env_named,
};

/// Seeds of the twenty-second scenario run by default (in CI).
const DEFAULT_FAULT_SEEDS: u64 = 8;

/// Seeds of the school-week scenario run by default (in CI). One seed costs about 14 s of CPU in
/// the debug build with optimised dependencies (2.5 s in release), so two keep this test's share of
/// the suite near half a minute on one core, and below the twenty-second scenario's on two.
const DEFAULT_SCHOOL_WEEK_SEEDS: u64 = 2;

/// The most steps the clock may take per simulated hour of the school week. Six connected schools
/// heartbeat every thirty seconds from both ends, which with deliveries and lessons makes 1 100 to
/// 1 500 steps an hour; a fixed 10 ms tick would take 360 000. The bound keeps the clock skipping.
const MOST_STEPS_PER_SIMULATED_HOUR: u64 = 4_000;

#[test]
fn replicas_converge_and_keep_every_acknowledged_write_under_faults() {
    let failures: Vec<String> = seeds_from_env(DEFAULT_FAULT_SEEDS)
        .into_iter()
        .filter_map(|seed| {
            let (report, verdict) = run_seed(SimConfig::with_faults(seed));
            let verdict = verdict.and_then(|()| {
                if report.edits_acknowledged == 0 {
                    Err(format!("seed {seed} made no edits"))
                } else {
                    Ok(())
                }
            });
            verdict.err().map(|problem| {
                format!(
                    "{problem}\n  replay with: DIGIONE_SIM_SEED={seed} cargo nextest run -p sync-protocol \
                     --test simulation replicas_converge"
                )
            })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_school_week_of_outages_and_crashes_converges_and_loses_nothing_acknowledged() {
    let failures: Vec<String> = seeds_from_env_named("DIGIONE_SIM_DAYS", DEFAULT_SCHOOL_WEEK_SEEDS)
        .into_iter()
        .filter_map(|seed| {
            let config = SimConfig::school_days(seed);
            let fault_millis = config.fault_millis;
            let (report, verdict) = run_seed(config);
            let verdict = verdict.and_then(|()| check_school_week_report(&report, fault_millis));
            verdict.err().map(|problem| {
                format!(
                    "{problem}\n  replay with: DIGIONE_SIM_DAYS_SEED={seed} cargo nextest run -p \
                     sync-protocol --test simulation a_school_week"
                )
            })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_seed_replays_exactly() {
    // Every kind of fault, shortened and with small files (blob chunks are the debug build's
    // slowest frames): what matters is that two runs of one seed agree in every count, which they
    // could not if anything but the seed (a hash map's order, the clock) steered them.
    let config = || SimConfig {
        fault_millis: 4_000,
        max_blob_bytes: 40_000,
        ..SimConfig::with_faults(3)
    };
    let first = Simulation::new(config()).run();
    let second = Simulation::new(config()).run();
    assert_eq!(first, second, "one seed ran differently the second time");
}

#[test]
fn a_quiet_day_costs_its_heartbeats_and_nothing_per_tick() {
    // Two schools, no edits and no faults, for a whole simulated day: all that happens is the
    // heartbeats. Both ends of a link start together, so per heartbeat interval the clock stops
    // once for the timers and once for the deliveries; a fixed 10 ms tick would stop 8 640 000
    // times.
    let config = SimConfig {
        nodes: 2,
        fault_millis: DAY_MILLIS,
        link_cuts: Vec::new(),
        whole_day_outages: 0,
        relay_partitions: Occurrences::NEVER,
        node_crashes: Occurrences::NEVER,
        relay_crashes: Occurrences::NEVER,
        lossy_periods: LossyPeriods::Sometimes(Occurrences::NEVER),
        workload: Workload::Steady {
            edits_per_node_per_hour: 0.0,
            blobs_per_node_per_hour: 0.0,
            operator_edits_per_hour: 0.0,
        },
        ..SimConfig::school_days(1)
    };
    let heartbeat_intervals = DAY_MILLIS / config.heartbeat_interval_millis;
    let mut simulation = Simulation::new(config);
    let report = simulation.run();
    simulation
        .check()
        .unwrap_or_else(|problem| panic!("{problem}"));
    eprintln!("{}", serde_json::to_value(&report).unwrap_or_default());
    let startup_steps = 20;
    assert!(
        report.steps <= 2 * heartbeat_intervals + startup_steps,
        "a quiet day took {} steps for {heartbeat_intervals} heartbeat intervals: {report:?}",
        report.steps
    );
}

/// Runs one seed, prints its JSON line, and returns the report with the simulator's verdict.
fn run_seed(config: SimConfig) -> (SimReport, Result<(), String>) {
    let started = Instant::now();
    let mut simulation = Simulation::new(config);
    let report = simulation.run();
    let verdict = simulation.check();
    let mut line = serde_json::to_value(&report).unwrap_or_default();
    line["ok"] = verdict.is_ok().into();
    line["wall_millis"] = (started.elapsed().as_millis() as u64).into();
    eprintln!("{line}");
    (report, verdict)
}

/// The school week must really be a week of school, with the faults it promises, and cost work in
/// proportion to what happened rather than to how long it lasted.
fn check_school_week_report(report: &SimReport, fault_millis: u64) -> Result<(), String> {
    let seed = report.seed;
    if fault_millis < 4 * DAY_MILLIS || report.simulated_millis < fault_millis {
        return Err(format!(
            "seed {seed} did not simulate a school week: {report:?}"
        ));
    }
    if report.edits_acknowledged == 0 || report.partitions == 0 {
        return Err(format!(
            "seed {seed} made no edits or cut no link: {report:?}"
        ));
    }
    let simulated_hours = report.simulated_millis.div_ceil(60 * 60 * 1_000);
    if report.steps > MOST_STEPS_PER_SIMULATED_HOUR * simulated_hours {
        return Err(format!(
            "seed {seed} took {} steps for {simulated_hours} simulated hours, more than \
             {MOST_STEPS_PER_SIMULATED_HOUR} an hour: the clock is not skipping: {report:?}",
            report.steps
        ));
    }
    Ok(())
}
