//! Property tests over the simulator: under a seeded schedule of loss, duplication, reordering,
//! partitions and crashes, all replicas converge and no acknowledged edit or blob is lost.
//!
//! `DIGIONE_SIM_CASES=1000` runs more seeds; `DIGIONE_SIM_SEED=N` replays one exactly.

use sync_protocol::sim::{SimConfig, Simulation, seeds_from_env};

#[test]
fn replicas_converge_and_keep_every_acknowledged_write_under_faults() {
    for seed in seeds_from_env(8) {
        let mut simulation = Simulation::new(SimConfig::with_faults(seed));
        let report = simulation.run();
        if let Err(problem) = simulation.check() {
            panic!("{problem}\nreplay with DIGIONE_SIM_SEED={seed}\n{report:?}");
        }
        assert!(
            report.edits_acknowledged > 0,
            "seed {seed} made no edits: {report:?}"
        );
        eprintln!("{report:?}");
    }
}
