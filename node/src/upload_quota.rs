//! How many bytes each user may upload per day.
//!
//! Every upload is stored whether or not a record ever names it (a pupil uploads, then attaches),
//! and stored files are part of the school's data that syncs to the relay. Without a bound, one user
//! (or a script with their session) could fill the node's disk and the school's share at the relay
//! with repeated uploads. So each user has a daily allowance of bytes, counted per UTC day of node
//! time (the day starts at 02:00 or 03:00 Finnish time), generous for classroom use: see
//! `http.max_upload_bytes_per_user_per_day` in `node.example.toml`.
//!
//! The counts live in the node-local sled tree `aux/upload_usage`, one entry per user who uploaded
//! (so bounded by the roster), and never sync. A refused upload stores nothing. Uploads of one user
//! that run at the same moment are checked one by one after their bytes arrived, so the allowance
//! holds exactly; only the bytes received before the refusal were transferred in vain.

use crate::model::UserId;

/// Milliseconds in a day of node time.
const MILLIS_PER_DAY: i64 = 86_400_000;

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct UploadQuota {
    usage: sled::Tree,
    bytes_per_user_per_day: u64,
}

/// An upload the allowance does not cover; nothing was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaExceeded {
    pub remaining_bytes: u64,
    pub bytes_per_user_per_day: u64,
}

impl UploadQuota {
    pub fn new(usage: sled::Tree, bytes_per_user_per_day: u64) -> Self {
        Self {
            usage,
            bytes_per_user_per_day,
        }
    }

    /// Bytes `user` may still upload on the day of `now_millis`.
    pub fn remaining(&self, user: &UserId, now_millis: i64) -> Result<u64, sled::Error> {
        let used = match self.usage.get(user.as_bytes())? {
            Some(value) => used_on(&value, day_of(now_millis)),
            None => 0,
        };
        Ok(self.bytes_per_user_per_day.saturating_sub(used))
    }

    /// Counts `bytes` against `user`'s allowance of the day of `now_millis`, or refuses them (and
    /// counts nothing) when they would pass it.
    pub fn record(
        &self,
        user: &UserId,
        bytes: u64,
        now_millis: i64,
    ) -> Result<Result<(), QuotaExceeded>, sled::Error> {
        let today = day_of(now_millis);
        let mut refusal = None;
        self.usage.fetch_and_update(user.as_bytes(), |old| {
            let used = old.map_or(0, |value| used_on(value, today));
            let remaining = self.bytes_per_user_per_day.saturating_sub(used);
            if bytes > remaining {
                refusal = Some(QuotaExceeded {
                    remaining_bytes: remaining,
                    bytes_per_user_per_day: self.bytes_per_user_per_day,
                });
                return old.map(<[u8]>::to_vec);
            }
            refusal = None;
            Some(encode(today, used + bytes))
        })?;
        Ok(match refusal {
            Some(exceeded) => Err(exceeded),
            None => Ok(()),
        })
    }
}

fn day_of(now_millis: i64) -> u64 {
    u64::try_from(now_millis.div_euclid(MILLIS_PER_DAY)).unwrap_or(0)
}

/// An entry is the day it counts (8 bytes, big-endian) and the bytes uploaded on it. An entry of an
/// earlier day, or one that does not decode, counts as nothing used today.
fn used_on(value: &[u8], today: u64) -> u64 {
    let (Some(day), Some(used)) = (value.get(..8), value.get(8..16)) else {
        return 0;
    };
    let day = u64::from_be_bytes(day.try_into().unwrap_or([0; 8]));
    if day == today {
        u64::from_be_bytes(used.try_into().unwrap_or([0; 8]))
    } else {
        0
    }
}

fn encode(day: u64, used: u64) -> Vec<u8> {
    let mut value = day.to_be_bytes().to_vec();
    value.extend_from_slice(&used.to_be_bytes());
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(bytes_per_day: u64) -> (tempfile::TempDir, UploadQuota) {
        let directory = tempfile::tempdir().expect("tempdir");
        let database = sled::open(directory.path()).expect("sled");
        let tree = database.open_tree("upload_usage").expect("tree");
        (directory, UploadQuota::new(tree, bytes_per_day))
    }

    #[test]
    fn the_allowance_is_per_user_and_per_day() {
        let (_directory, quota) = quota(1_000);
        let pupil: UserId = "P01".into();
        let other: UserId = "P02".into();
        let morning = 20_000 * MILLIS_PER_DAY + 8 * 3_600_000;
        assert_eq!(quota.record(&pupil, 600, morning).expect("sled"), Ok(()));
        assert_eq!(quota.remaining(&pupil, morning).expect("sled"), 400);
        assert_eq!(
            quota.record(&pupil, 401, morning).expect("sled"),
            Err(QuotaExceeded {
                remaining_bytes: 400,
                bytes_per_user_per_day: 1_000
            })
        );
        assert_eq!(
            quota.remaining(&pupil, morning).expect("sled"),
            400,
            "a refusal counts nothing"
        );
        assert_eq!(quota.record(&pupil, 400, morning).expect("sled"), Ok(()));
        assert_eq!(quota.record(&other, 1_000, morning).expect("sled"), Ok(()));
        let next_day = morning + MILLIS_PER_DAY;
        assert_eq!(quota.remaining(&pupil, next_day).expect("sled"), 1_000);
        assert_eq!(quota.record(&pupil, 1_000, next_day).expect("sled"), Ok(()));
    }
}
