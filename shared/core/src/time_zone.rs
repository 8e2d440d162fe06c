//! A merchant's time zone: the calendar its days are counted in. Purchases of the same local
//! day are one purchase in the value models, and a calibration end date ends at the local
//! midnight, so an order placed late in the evening in Los Angeles belongs to that day, not
//! to the UTC day it falls on. The one parser of zone names and the one owner of "which day
//! is this instant" for a merchant.

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// An IANA time zone (`Europe/London`, `America/Los_Angeles`, `UTC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MerchantTimeZone(Tz);

impl Default for MerchantTimeZone {
    fn default() -> Self {
        Self::UTC
    }
}

impl MerchantTimeZone {
    /// UTC: the zone of a merchant that names none.
    pub const UTC: Self = Self(Tz::UTC);

    /// Parses an IANA zone name, case-sensitively as the database spells it.
    pub fn parse(name: &str) -> Result<Self, String> {
        name.parse::<Tz>().map(Self).map_err(|_| {
            format!(
                "{name:?} is not an IANA time zone name (e.g. \"Europe/London\", \
                 \"America/Los_Angeles\", \"UTC\")"
            )
        })
    }

    /// The stored zone of a merchant; a missing or unknown name (which validation never
    /// lets in) reads as UTC.
    pub fn from_stored(name: Option<&str>) -> Self {
        name.and_then(|n| Self::parse(n).ok()).unwrap_or_default()
    }

    /// The latest calendar date any zone is in at `now` (UTC+14): a date after it is in
    /// the future for every merchant, whatever its zone.
    pub fn latest_date_anywhere(now: DateTime<Utc>) -> NaiveDate {
        (now + chrono::Duration::hours(14)).date_naive()
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The merchant's calendar day of an instant.
    pub fn local_date(self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.0).date_naive()
    }

    /// The last instant of a local day: just before the next local midnight (which may not
    /// be 24 hours later on a daylight-saving day).
    pub fn end_of_day(self, day: NaiveDate) -> DateTime<Utc> {
        let next = day.checked_add_days(Days::new(1)).unwrap_or(day);
        self.start_of_day(next) - chrono::Duration::nanoseconds(1)
    }

    /// The first instant of a local day. Where midnight does not exist (a zone that springs
    /// forward at 00:00) the day starts at the first instant after the gap.
    pub fn start_of_day(self, day: NaiveDate) -> DateTime<Utc> {
        let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        // Gaps are at most a day long (Samoa skipped 30 December 2011).
        for minutes in (0..=48 * 60).step_by(30) {
            let local = midnight + chrono::Duration::minutes(minutes);
            if let Some(at) = self.0.from_local_datetime(&local).earliest() {
                return at.with_timezone(&Utc);
            }
        }
        midnight.and_utc()
    }

    /// A local wall-clock time as an instant: the earlier one when it occurs twice (the
    /// hour the clocks go back), the offset before the gap when it does not occur (the hour
    /// they go forward), as a clerk who forgot to change the clock would have written it.
    pub fn from_local(self, local: chrono::NaiveDateTime) -> DateTime<Utc> {
        match self.0.from_local_datetime(&local) {
            chrono::LocalResult::Single(at) => at.with_timezone(&Utc),
            chrono::LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
            chrono::LocalResult::None => {
                // The offset in force before the gap: the first valid local time going back
                // (gaps are at most a day long).
                let offset = (1..=48)
                    .filter_map(|hours| {
                        let before = local - chrono::Duration::hours(hours);
                        self.0.from_local_datetime(&before).earliest()
                    })
                    .next()
                    .map_or(0, |at| chrono::Offset::fix(at.offset()).local_minus_utc());
                (local - chrono::Duration::seconds(i64::from(offset))).and_utc()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("an RFC 3339 instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn parses_iana_names_and_refuses_others() {
        assert_eq!(
            MerchantTimeZone::parse("Europe/London").map(MerchantTimeZone::name),
            Ok("Europe/London")
        );
        assert_eq!(MerchantTimeZone::parse("UTC"), Ok(MerchantTimeZone::UTC));
        for bad in [
            "",
            "Mars/Olympus",
            "europe/london",
            "GMT+25",
            "Europe/London ",
        ] {
            let err = MerchantTimeZone::parse(bad).expect_err(bad);
            assert!(err.contains("IANA"), "{err}");
        }
        assert_eq!(MerchantTimeZone::from_stored(None), MerchantTimeZone::UTC);
        assert_eq!(
            MerchantTimeZone::from_stored(Some("nonsense")),
            MerchantTimeZone::UTC
        );
    }

    #[test]
    fn a_late_evening_order_belongs_to_the_merchants_day() {
        let la = MerchantTimeZone::parse("America/Los_Angeles").expect("zone");
        // 21:30 in Los Angeles on 1 March is 05:30 UTC on 2 March.
        let at = utc("2024-03-02T05:30:00Z");
        assert_eq!(
            at.date_naive(),
            NaiveDate::from_ymd_opt(2024, 3, 2).expect("date")
        );
        assert_eq!(
            la.local_date(at),
            NaiveDate::from_ymd_opt(2024, 3, 1).expect("date")
        );
        let day = NaiveDate::from_ymd_opt(2024, 3, 1).expect("date");
        assert_eq!(la.start_of_day(day), utc("2024-03-01T08:00:00Z"));
        assert!(la.end_of_day(day) < utc("2024-03-02T08:00:00Z"));
        assert!(la.end_of_day(day) > utc("2024-03-02T07:59:59Z"));
    }

    #[test]
    fn daylight_saving_days_are_23_and_25_hours_long() {
        let london = MerchantTimeZone::parse("Europe/London").expect("zone");
        let spring = NaiveDate::from_ymd_opt(2011, 3, 27).expect("date");
        let length = london.end_of_day(spring) - london.start_of_day(spring);
        assert_eq!(length.num_minutes(), 23 * 60 - 1);
        let autumn = NaiveDate::from_ymd_opt(2011, 10, 30).expect("date");
        let length = london.end_of_day(autumn) - london.start_of_day(autumn);
        assert_eq!(length.num_minutes(), 25 * 60 - 1);
    }

    /// Samoa moved across the date line: 30 December 2011 did not exist in Apia.
    #[test]
    fn a_day_that_does_not_exist_starts_after_the_gap() {
        let apia = MerchantTimeZone::parse("Pacific/Apia").expect("zone");
        let skipped = NaiveDate::from_ymd_opt(2011, 12, 30).expect("date");
        let next = NaiveDate::from_ymd_opt(2011, 12, 31).expect("date");
        // 31 December 00:00 at UTC+14 is 30 December 10:00 UTC.
        assert_eq!(apia.start_of_day(next), utc("2011-12-30T10:00:00Z"));
        assert_eq!(apia.start_of_day(skipped), apia.start_of_day(next));
        let local = chrono::NaiveDateTime::parse_from_str("2011-12-30 12:00", "%Y-%m-%d %H:%M")
            .expect("local time");
        // Read with the offset before the gap (UTC−10).
        assert_eq!(apia.from_local(local), utc("2011-12-30T22:00:00Z"));
        assert_eq!(
            MerchantTimeZone::latest_date_anywhere(utc("2024-03-01T10:00:00Z")),
            NaiveDate::from_ymd_opt(2024, 3, 2).expect("date")
        );
    }

    #[test]
    fn wall_clock_times_in_the_gap_and_the_overlap() {
        let london = MerchantTimeZone::parse("Europe/London").expect("zone");
        let local = |text: &str| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("local time")
        };
        // Summer: BST, UTC+1.
        assert_eq!(
            london.from_local(local("2011-06-01 12:00")),
            utc("2011-06-01T11:00:00Z")
        );
        // 01:30 on 27 March 2011 does not exist: read as GMT.
        assert_eq!(
            london.from_local(local("2011-03-27 01:30")),
            utc("2011-03-27T01:30:00Z")
        );
        // 01:30 on 30 October 2011 occurs twice: the first (BST).
        assert_eq!(
            london.from_local(local("2011-10-30 01:30")),
            utc("2011-10-30T00:30:00Z")
        );
    }
}
