//! The process's memory allocator, chosen by the node crate's features (see `node/Cargo.toml`).
//!
//! It lives in the library rather than in `main.rs` so that every program that runs a node gets the
//! same one: `digione-node`, the benchmark `node_load` (whose node is this library in a child
//! process), the end-to-end tests' copy of the program and the demo. The figures that chose the
//! default are in `node/README.md` ("Benchmark"); `node/compare-allocators.sh` measures them again.
//!
//! - `jemalloc` (the default): jemalloc with its background threads on, which hand pages that have
//!   been free for about a second (`dirty_decay_ms`, compiled in through `.cargo/config.toml`) back
//!   to the system even while the node is idle. With glibc's malloc the node kept most of the
//!   morning's peak for good: each password hash's 19 MiB block raised glibc's mmap threshold, so
//!   later blocks came from the hashing threads' arenas, which glibc does not shrink while other
//!   allocations sit above the freed space.
//! - `mimalloc`: Microsoft's mimalloc; it takes precedence when both are enabled, so that
//!   `--features mimalloc` alone selects it.
//! - neither (`--no-default-features`): the system's allocator, glibc's malloc on Debian.

#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The allocator this program was built with, for reports such as `node_load`'s.
pub const NAME: &str = if cfg!(feature = "mimalloc") {
    "mimalloc"
} else if cfg!(feature = "jemalloc") {
    "jemalloc"
} else {
    "system"
};
