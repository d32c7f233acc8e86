//! The school's calendar: today's date and the local time in Finland, by node time.
//!
//! Finnish schools keep Finnish time: EET, and EEST from the last Sunday of March to the last
//! Sunday of October (EU rules, switching at 01:00 UTC). It is computed here rather than read from
//! a time-zone database, which a node on an offline school LAN may lack or have outdated.

use crate::model::common::{CalendarDate, NodeTime};
use crate::school::error::ServiceError;
use crate::school::runtime::node_now;

/// Finland's offset from UTC in winter (EET), in hours.
const HELSINKI_WINTER_OFFSET_HOURS: i8 = 2;
/// Finland's offset from UTC in summer (EEST), in hours.
const HELSINKI_SUMMER_OFFSET_HOURS: i8 = 3;
/// EU summer time begins and ends at this hour (UTC) on the last Sunday of March and of October.
const SUMMER_TIME_SWITCH_HOUR_UTC: u8 = 1;

/// Today in the school's local calendar (Europe/Helsinki), by node time.
pub fn school_today() -> Result<CalendarDate, ServiceError> {
    school_date_at(node_now())
}

/// The school's local date at `moment`.
pub fn school_date_at(moment: NodeTime) -> Result<CalendarDate, ServiceError> {
    Ok(CalendarDate::new(school_local_time_at(moment)?.date()))
}

/// The school's local date and time at `moment` (Europe/Helsinki); the web
/// UI shows times in it.
pub fn school_local_time_at(moment: NodeTime) -> Result<time::OffsetDateTime, ServiceError> {
    let out_of_range = |what: &str| ServiceError::Internal(format!("node time {moment} {what}"));
    let utc = time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(moment.unix_millis()) * 1_000_000,
    )
    .map_err(|_| out_of_range("is out of range"))?;
    let summer_begins = summer_time_switch(utc.year(), time::Month::March)
        .ok_or_else(|| out_of_range("has no summer time start"))?;
    let summer_ends = summer_time_switch(utc.year(), time::Month::October)
        .ok_or_else(|| out_of_range("has no summer time end"))?;
    let hours = if summer_begins <= utc && utc < summer_ends {
        HELSINKI_SUMMER_OFFSET_HOURS
    } else {
        HELSINKI_WINTER_OFFSET_HOURS
    };
    let offset =
        time::UtcOffset::from_hms(hours, 0, 0).map_err(|_| out_of_range("has no valid offset"))?;
    utc.checked_to_offset(offset)
        .ok_or_else(|| out_of_range("is out of range in local time"))
}

/// 01:00 UTC on the last Sunday of `month` (March or October, which both have 31 days).
fn summer_time_switch(year: i32, month: time::Month) -> Option<time::OffsetDateTime> {
    let last_day = time::Date::from_calendar_date(year, month, 31).ok()?;
    let back_to_sunday =
        time::Duration::days(i64::from(last_day.weekday().number_days_from_sunday()));
    let sunday = last_day.checked_sub(back_to_sunday)?;
    Some(
        sunday
            .with_hms(SUMMER_TIME_SWITCH_HOUR_UTC, 0, 0)
            .ok()?
            .assume_utc(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date_at(iso_utc: &str) -> String {
        let moment =
            time::OffsetDateTime::parse(iso_utc, &time::format_description::well_known::Rfc3339)
                .expect("test time");
        let millis = i64::try_from(moment.unix_timestamp_nanos() / 1_000_000).expect("millis");
        school_date_at(NodeTime::from_unix_millis(millis))
            .expect("in range")
            .to_string()
    }

    #[test]
    fn the_school_date_follows_finnish_time_with_summer_time() {
        // Winter: UTC+2, so 22:30 UTC is already the next day in Helsinki.
        assert_eq!(date_at("2026-01-14T21:59:00Z"), "2026-01-14");
        assert_eq!(date_at("2026-01-14T22:30:00Z"), "2026-01-15");
        // Summer: UTC+3.
        assert_eq!(date_at("2026-06-10T20:59:00Z"), "2026-06-10");
        assert_eq!(date_at("2026-06-10T21:00:00Z"), "2026-06-11");
        // Summer time began on Sunday 2026-03-29 at 01:00 UTC and ends on Sunday 2026-10-25.
        assert_eq!(date_at("2026-03-28T21:30:00Z"), "2026-03-28");
        assert_eq!(date_at("2026-03-29T21:30:00Z"), "2026-03-30");
        assert_eq!(date_at("2026-10-25T21:30:00Z"), "2026-10-25");
        assert_eq!(date_at("2026-10-24T21:30:00Z"), "2026-10-25");
    }
}
