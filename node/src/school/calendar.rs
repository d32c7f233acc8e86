//! The school's calendar: today's date and the local time in Finland, by node time.
//!
//! Finnish schools keep Finnish time: EET, and EEST from the last Sunday of March to the last
//! Sunday of October (EU rules, switching at 01:00 UTC). It is computed here rather than read from
//! a time-zone database, which a node on an offline school LAN may lack or have outdated.
//!
//! A [`SchoolWeek`] is an ISO 8601 week, Monday to Sunday, written `YYYY-Www` as Finnish calendars
//! and timetables number their weeks.

use std::fmt;
use std::str::FromStr;

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

/// The earliest and latest years a [`SchoolWeek`] may name: its written form has four digits for
/// the year, so a week outside these has no address to link to.
const FIRST_WEEK_YEAR: i32 = 1;
const LAST_WEEK_YEAR: i32 = 9999;
/// The most characters of a refused week an error message quotes, so that a long query string
/// does not come back in the message whole.
const QUOTED_WEEK_CHARS: usize = 16;

/// An ISO 8601 week of the school's calendar, Monday to Sunday: the week a timetable page shows,
/// written `YYYY-Www` (`2026-W05`) in its address. Week 1 is the week with the year's first
/// Thursday, so a week's year may differ from the year of its Monday, and only some years have a
/// week 53.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchoolWeek {
    /// Kept as the week's Monday, so that every value is a week that exists.
    monday: time::Date,
}

impl SchoolWeek {
    /// The week that contains `date`.
    pub fn containing(date: CalendarDate) -> Self {
        let date = date.date();
        let back_to_monday = i64::from(date.weekday().number_days_from_monday());
        // Going back at most six days stays inside the calendar for every date but the first
        // days of year -9999, which no school date is; the date itself is the fallback.
        let monday = date
            .checked_sub(time::Duration::days(back_to_monday))
            .unwrap_or(date);
        Self { monday }
    }

    /// The school week to show when a page names none: the current week from Monday to Friday,
    /// and the coming week on Saturday and Sunday, when this week's school days are over and what
    /// a pupil wants to see is Monday.
    pub fn to_show_on(today: CalendarDate) -> Self {
        let this_week = Self::containing(today);
        match today.date().weekday() {
            time::Weekday::Saturday | time::Weekday::Sunday => {
                this_week.next().unwrap_or(this_week)
            }
            _ => this_week,
        }
    }

    /// [`Self::to_show_on`] today, by the school's calendar.
    pub fn current() -> Result<Self, ServiceError> {
        Ok(Self::to_show_on(school_today()?))
    }

    /// The ISO week-numbering year: the year of the week's Thursday.
    pub fn year(self) -> i32 {
        self.monday.to_iso_week_date().0
    }

    /// The week's number in its year, 1 to 52 or 53.
    pub fn number(self) -> u8 {
        self.monday.to_iso_week_date().1
    }

    pub fn monday(self) -> CalendarDate {
        CalendarDate::new(self.monday)
    }

    /// Monday to Sunday.
    pub fn days(self) -> Vec<CalendarDate> {
        let mut days = Vec::with_capacity(7);
        let mut day = self.monday;
        for _ in 0..7 {
            days.push(CalendarDate::new(day));
            match day.next_day() {
                Some(next) => day = next,
                None => break,
            }
        }
        days
    }

    pub fn contains(self, date: CalendarDate) -> bool {
        Self::containing(date) == self
    }

    /// The week before, when it can still be written with a four-digit year.
    pub fn previous(self) -> Option<Self> {
        Self::writable(self.monday.checked_sub(time::Duration::weeks(1))?)
    }

    /// The week after, when it can still be written with a four-digit year.
    pub fn next(self) -> Option<Self> {
        Self::writable(self.monday.checked_add(time::Duration::weeks(1))?)
    }

    fn writable(monday: time::Date) -> Option<Self> {
        let week = Self { monday };
        (FIRST_WEEK_YEAR..=LAST_WEEK_YEAR)
            .contains(&week.year())
            .then_some(week)
    }
}

impl FromStr for SchoolWeek {
    type Err = ServiceError;

    /// Strictly `YYYY-Www`: four ASCII digits, `-W` (a capital W, as ISO 8601 writes it), two
    /// digits, and a week the year has. Anything else is refused with a message that says what
    /// was expected.
    fn from_str(text: &str) -> Result<Self, ServiceError> {
        let quoted: String = text.chars().take(QUOTED_WEEK_CHARS).collect();
        let malformed = || {
            ServiceError::invalid(
                "week",
                format!("expected a week as YYYY-Www, for example 2026-W05, got {quoted:?}"),
            )
        };
        let bytes = text.as_bytes();
        let shape_ok = bytes.len() == 8
            && bytes[4] == b'-'
            && bytes[5] == b'W'
            && bytes
                .iter()
                .enumerate()
                .all(|(index, byte)| index == 4 || index == 5 || byte.is_ascii_digit());
        if !shape_ok {
            return Err(malformed());
        }
        let year: i32 = text[0..4].parse().map_err(|_| malformed())?;
        let number: u8 = text[6..8].parse().map_err(|_| malformed())?;
        if !(FIRST_WEEK_YEAR..=LAST_WEEK_YEAR).contains(&year) {
            return Err(ServiceError::invalid(
                "week",
                format!("the year must be from {FIRST_WEEK_YEAR:04} to {LAST_WEEK_YEAR}"),
            ));
        }
        let weeks = time::util::weeks_in_year(year);
        if number == 0 || number > weeks {
            return Err(ServiceError::invalid(
                "week",
                format!("{year} has weeks 1 to {weeks}, not week {number}"),
            ));
        }
        let monday = time::Date::from_iso_week_date(year, number, time::Weekday::Monday)
            .map_err(|_| malformed())?;
        Ok(Self { monday })
    }
}

impl fmt::Display for SchoolWeek {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:04}-W{:02}", self.year(), self.number())
    }
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

#[cfg(test)]
mod week_tests {
    use super::*;

    fn date(text: &str) -> CalendarDate {
        text.parse().expect("test date")
    }

    fn week(text: &str) -> SchoolWeek {
        text.parse().expect("test week")
    }

    #[test]
    fn weeks_are_read_and_written_as_iso_8601_weeks() {
        assert_eq!(week("2025-W37").monday(), date("2025-09-08"));
        assert_eq!(week("2025-W37").to_string(), "2025-W37");
        // Week 1 of 2026 begins in 2025; the last days of 2024 belong to week 1 of 2025.
        assert_eq!(week("2026-W01").monday(), date("2025-12-29"));
        assert_eq!(
            SchoolWeek::containing(date("2024-12-31")).to_string(),
            "2025-W01"
        );
        // 2026 begins on a Thursday and so has a week 53; 2020 was a leap year that began on a
        // Wednesday, and has one too.
        assert_eq!(week("2026-W53").monday(), date("2026-12-28"));
        assert_eq!(week("2020-W53").monday(), date("2020-12-28"));
        assert_eq!(week("2026-W53").next(), Some(week("2027-W01")));
        assert_eq!(week("2027-W01").previous(), Some(week("2026-W53")));
        let days = week("2025-W37").days();
        assert_eq!(days.len(), 7);
        assert_eq!(days[6], date("2025-09-14"));
        assert!(week("2025-W37").contains(date("2025-09-14")));
        assert!(!week("2025-W37").contains(date("2025-09-15")));
    }

    #[test]
    fn anything_but_an_existing_week_is_refused() {
        for bad in [
            "",
            "2025",
            "2025-37",
            "2025W37",
            "2025-w37",
            "2025-W7",
            "2025-W037",
            " 2025-W37",
            "2025-W37 ",
            "2025-W00",
            "2025-W53",
            "2025-W99",
            "0000-W01",
            "+202-W01",
            "2025-W3a",
            "２０２５-W37",
            "2025-W37x",
        ] {
            let refused = bad.parse::<SchoolWeek>();
            assert!(
                matches!(
                    refused,
                    Err(ServiceError::Invalid {
                        field: Some("week"),
                        ..
                    })
                ),
                "{bad:?} was not refused: {refused:?}"
            );
        }
    }

    #[test]
    fn the_first_and_last_writable_weeks_have_no_neighbour_beyond() {
        assert_eq!(week("0001-W01").previous(), None);
        assert_eq!(week("9999-W52").next(), None);
        assert_eq!(week("9999-W51").next(), Some(week("9999-W52")));
    }

    #[test]
    fn on_a_weekend_the_week_to_show_is_the_coming_one() {
        // 2026-12-07 is a Monday, 2026-12-11 a Friday and 2026-12-12 a Saturday.
        assert_eq!(SchoolWeek::to_show_on(date("2026-12-07")), week("2026-W50"));
        assert_eq!(SchoolWeek::to_show_on(date("2026-12-11")), week("2026-W50"));
        assert_eq!(SchoolWeek::to_show_on(date("2026-12-12")), week("2026-W51"));
        assert_eq!(SchoolWeek::to_show_on(date("2026-12-13")), week("2026-W51"));
    }
}
