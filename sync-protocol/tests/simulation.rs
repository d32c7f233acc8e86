//! Property tests over the simulator: under a seeded schedule of loss, duplication, reordering,
//! partitions and crashes, all replicas converge and no acknowledged edit or blob is lost.
//!
//! Both scenarios also replace stores: a node's disk is lost and it is rebuilt empty under its old
//! identity, a node or the relay is restored from an older snapshot. Writes only the replaced store
//! held are gone with it (the report counts them); every other acknowledged write must still reach
//! every replica of its scope. One focused test per kind plans exactly that fault, with
//! `DIGIONE_SIM_STORE_CASES`, `DIGIONE_SIM_STORE_FIRST_SEED` and `DIGIONE_SIM_STORE_SEED`.
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
    DAY_MILLIS, LossyPeriods, Occurrences, PlannedStoreFault, SimConfig, SimReport, Simulation,
    StoreFault, Workload, seeds_from_env, seeds_from_env_named,
};

/// Seeds of the twenty-second scenario run by default (in CI).
const DEFAULT_FAULT_SEEDS: u64 = 8;

/// Seeds of the school-week scenario run by default (in CI). One seed costs about 14 s of CPU in
/// the debug build with optimised dependencies (2.5 s in release), so two keep this test's share of
/// the suite near half a minute on one core, and below the twenty-second scenario's on two.
const DEFAULT_SCHOOL_WEEK_SEEDS: u64 = 2;

/// Seeds of each focused store-fault test run by default (in CI); each costs well under a second.
const DEFAULT_STORE_FAULT_SEEDS: u64 = 2;

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
            let verdict = verdict
                .and_then(|()| {
                    if report.edits_acknowledged == 0 {
                        Err(format!("seed {seed} made no edits"))
                    } else {
                        Ok(())
                    }
                })
                .and_then(|()| check_losses_came_with_replaced_stores(&report));
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
            let verdict = verdict
                .and_then(|()| check_school_week_report(&report, fault_millis))
                .and_then(|()| check_losses_came_with_replaced_stores(&report));
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
        planned_store_faults: vec![
            PlannedStoreFault {
                at_millis: 1_500,
                kind: StoreFault::NodeDiskLost { node: 0 },
                down_millis: 300,
            },
            PlannedStoreFault {
                at_millis: 2_000,
                kind: StoreFault::NodeRestoredFromSnapshot {
                    node: 1,
                    snapshot_at_millis: 1_000,
                },
                down_millis: 300,
            },
            PlannedStoreFault {
                at_millis: 2_500,
                kind: StoreFault::RelayRestoredFromSnapshot {
                    snapshot_at_millis: 1_200,
                },
                down_millis: 300,
            },
        ],
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
        node_disk_losses: Occurrences::NEVER,
        node_snapshot_restores: Occurrences::NEVER,
        relay_snapshot_restores: Occurrences::NEVER,
        snapshots_per_replica_per_hour: 0.0,
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

#[test]
fn a_node_rebuilt_empty_under_its_old_identity_gets_everything_back() {
    // The relay remembers what it shared with node-1 under that name; the rebuilt node holds
    // nothing and has a new epoch. It must get back every document and blob of its scopes.
    run_store_fault_seeds("a_node_rebuilt_empty", |seed| {
        let config = one_store_fault(seed, StoreFault::NodeDiskLost { node: FAULTY_NODE });
        let (report, verdict) = run_seed(config);
        verdict?;
        expect_one_fault(&report, report.node_disk_losses, "node disk loss")?;
        check_losses_came_with_replaced_stores(&report)
    });
}

#[test]
fn a_node_restored_from_an_older_snapshot_converges() {
    // node-1 goes back to what its disk held at the snapshot, epoch and all: it lacks what it wrote
    // and received since, while the relay's cursor and shared heads say it has them, and the
    // sequence numbers it hands out next repeat ones the relay has already seen.
    run_store_fault_seeds("a_node_restored_from_an_older_snapshot", |seed| {
        let config = one_store_fault(
            seed,
            StoreFault::NodeRestoredFromSnapshot {
                node: FAULTY_NODE,
                snapshot_at_millis: SNAPSHOT_AT_MILLIS,
            },
        );
        let (report, verdict) = run_seed(config);
        verdict?;
        expect_one_fault(&report, report.node_snapshot_restores, "node restore")?;
        expect_rollback(&report)?;
        check_losses_came_with_replaced_stores(&report)
    });
}

#[test]
fn a_relay_restored_from_an_older_snapshot_gets_everything_back_from_the_nodes() {
    // The relay goes back to its snapshot with its old epoch: every node's shared heads and cursor
    // say the relay holds what it has lost, and only the nodes still hold it.
    run_store_fault_seeds("a_relay_restored_from_an_older_snapshot", |seed| {
        let config = one_store_fault(
            seed,
            StoreFault::RelayRestoredFromSnapshot {
                snapshot_at_millis: SNAPSHOT_AT_MILLIS,
            },
        );
        let (report, verdict) = run_seed(config);
        verdict?;
        expect_one_fault(&report, report.relay_snapshot_restores, "relay restore")?;
        expect_rollback(&report)?;
        check_losses_came_with_replaced_stores(&report)
    });
}

/// The node whose store the focused tests replace, and when: in the middle of the edits, with a
/// snapshot taken well before, so that the restore really goes back over acknowledged writes.
const FAULTY_NODE: usize = 1;
const STORE_FAULT_AT_MILLIS: u64 = 6_000;
const SNAPSHOT_AT_MILLIS: u64 = 2_500;

/// Three schools editing densely on a clean network for ten seconds, with exactly one store fault
/// and no other fault of any kind, so that what the test sees is that fault's doing.
fn one_store_fault(seed: u64, kind: StoreFault) -> SimConfig {
    SimConfig {
        nodes: 3,
        fault_millis: 10_000,
        max_blob_bytes: 40_000,
        lossy_periods: LossyPeriods::Sometimes(Occurrences::NEVER),
        link_cuts: Vec::new(),
        node_crashes: Occurrences::NEVER,
        relay_crashes: Occurrences::NEVER,
        node_disk_losses: Occurrences::NEVER,
        node_snapshot_restores: Occurrences::NEVER,
        relay_snapshot_restores: Occurrences::NEVER,
        snapshots_per_replica_per_hour: 0.0,
        planned_store_faults: vec![PlannedStoreFault {
            at_millis: STORE_FAULT_AT_MILLIS,
            kind,
            down_millis: 1_000,
        }],
        ..SimConfig::with_faults(seed)
    }
}

/// Runs the focused test's seeds and fails with every failing one and how to replay it.
fn run_store_fault_seeds(test_name: &str, run: impl Fn(u64) -> Result<(), String>) {
    let failures: Vec<String> =
        seeds_from_env_named("DIGIONE_SIM_STORE", DEFAULT_STORE_FAULT_SEEDS)
            .into_iter()
            .filter_map(|seed| {
                run(seed).err().map(|problem| {
                format!(
                    "{problem}\n  replay with: DIGIONE_SIM_STORE_SEED={seed} cargo nextest run -p \
                     sync-protocol --test simulation {test_name}"
                )
            })
            })
            .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn expect_one_fault(report: &SimReport, happened: usize, what: &str) -> Result<(), String> {
    if happened != 1 || report.edits_acknowledged == 0 {
        return Err(format!(
            "seed {}: expected exactly one {what} in a run with edits, got {happened}: {report:?}",
            report.seed
        ));
    }
    Ok(())
}

fn expect_rollback(report: &SimReport) -> Result<(), String> {
    let expected = STORE_FAULT_AT_MILLIS - SNAPSHOT_AT_MILLIS;
    if report.restored_snapshots_age_millis != expected {
        return Err(format!(
            "seed {}: the restore should have gone {expected} ms back, went {}: {report:?}",
            report.seed, report.restored_snapshots_age_millis
        ));
    }
    Ok(())
}

/// Writes lost with a store can only come from a replaced store (the simulator has checked each
/// one was in the replaced store's durable state), and never outnumber what was acknowledged.
fn check_losses_came_with_replaced_stores(report: &SimReport) -> Result<(), String> {
    let replacements =
        report.node_disk_losses + report.node_snapshot_restores + report.relay_snapshot_restores;
    let lost = report.edits_lost_with_store + report.blobs_lost_with_store;
    if (replacements == 0 && lost > 0)
        || report.edits_lost_with_store > report.edits_acknowledged
        || report.blobs_lost_with_store > report.blobs_acknowledged
    {
        return Err(format!(
            "seed {}: {lost} writes counted as lost with a store after {replacements} store \
             replacements: {report:?}",
            report.seed
        ));
    }
    Ok(())
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
