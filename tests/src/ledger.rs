//! The writes a test saw acknowledged, and the check that every one of them survived: each entry
//! is the school whose node acknowledged it, the scope it wrote, and a string only that write put
//! into the scope's documents. The outage scenarios and the soak keep one each.

use sync_protocol::ids::Scope;

use crate::fleet::Replicas;

/// The writes the nodes acknowledged: for each, the school, the scope it wrote and its marker.
#[derive(Debug, Default)]
pub struct Ledger {
    entries: Vec<(String, Scope, String)>,
}

impl Ledger {
    /// Records a write acknowledged by `school`'s node (or, for a municipality document written
    /// through the relay, one that `school`'s replica must come to hold).
    pub fn record(&mut self, school: &str, scope: Scope, marker: impl Into<String>) {
        self.entries.push((school.to_owned(), scope, marker.into()));
    }

    /// Asserts that every acknowledged write is in its school's replica and in the relay's; returns
    /// how many were checked.
    pub fn assert_everywhere(&self, replicas: &Replicas) -> usize {
        for (school, scope, marker) in &self.entries {
            let node = &replicas.schools[school];
            assert!(
                node.holds(scope, marker),
                "school {school} acknowledged {marker:?} in {scope} but its replica lacks it"
            );
            assert!(
                replicas.relay.holds(scope, marker),
                "school {school} acknowledged {marker:?} in {scope} but the relay lacks it"
            );
        }
        self.entries.len()
    }
}

/// The wall clock in Unix milliseconds, as the node's API takes due dates.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}
