//! Measures durable local writes per second with one writer thread and with sixteen sharing a store,
//! and how many flushes they needed; prints one JSON line.
//!
//! Run with `cargo run --release -p sync-store --example group_commit`. Each write is one automerge
//! change committed with `SledStore::commit_local_changes`, which returns only once it is on disk.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use automerge::transaction::Transactable as _;
use automerge::{AutoCommit, ROOT};
use sync_protocol::ids::DocId;
use sync_store::SledStore;

/// How long each configuration writes for.
const RUN_DURATION: Duration = Duration::from_secs(3);
const THREAD_COUNTS: [usize; 2] = [1, 16];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut runs = Vec::new();
    for writer_threads in THREAD_COUNTS {
        runs.push(measure(writer_threads)?);
    }
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "{}",
        serde_json::json!({ "benchmark": "group_commit", "cores": cores, "runs": runs })
    );
    Ok(())
}

fn measure(writer_threads: usize) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let directory = tempfile::tempdir()?;
    let store = SledStore::open(directory.path())?;
    let flushes_before = store.metrics().flushes_total;
    let start = Arc::new(Barrier::new(writer_threads + 1));
    let threads: Vec<_> = (0..writer_threads)
        .map(|thread| {
            let store = store.clone();
            let start = Arc::clone(&start);
            std::thread::spawn(move || -> Result<u64, String> {
                let doc: DocId = format!("school:30076/bench-{thread}")
                    .parse()
                    .map_err(|error| format!("{error}"))?;
                let mut editor = AutoCommit::new();
                start.wait();
                let began = Instant::now();
                let mut writes = 0u64;
                while began.elapsed() < RUN_DURATION {
                    editor
                        .put(ROOT, "counter", writes as i64)
                        .map_err(|error| error.to_string())?;
                    editor.commit();
                    let change = editor
                        .get_last_local_change()
                        .ok_or("no change was made")?
                        .raw_bytes()
                        .to_vec();
                    store
                        .commit_local_changes(&doc, vec![change])
                        .map_err(|error| error.to_string())?;
                    writes += 1;
                }
                Ok(writes)
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    let mut writes = 0;
    for thread in threads {
        writes += thread.join().map_err(|_| "a writer thread panicked")??;
    }
    let elapsed = began.elapsed().as_secs_f64();
    let flushes = store.metrics().flushes_total - flushes_before;
    Ok(serde_json::json!({
        "writer_threads": writer_threads,
        "writes": writes,
        "flushes": flushes,
        "writes_per_second": (writes as f64 / elapsed).round(),
        "writes_per_flush": (writes as f64 / flushes.max(1) as f64 * 10.0).round() / 10.0,
    }))
}
