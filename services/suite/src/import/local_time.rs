//! Local wall-clock times of an import file (`YYYY-MM-DD HH:MM[:SS]`, as Online Retail's
//! `InvoiceDate`) to UTC, in the time zone the file was written in (`--time-zone`, which
//! `--create-merchant` also gives the merchant). The zone rules are chrono-tz's, through
//! [`MerchantTimeZone::from_local`]: a time in the spring-forward gap is read with the offset
//! before it, a time that occurs twice is its first occurrence.

use caravan_core::time_zone::MerchantTimeZone;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// Parses `YYYY-MM-DD HH:MM:SS` (or `YYYY-MM-DD HH:MM`) as a local time of `zone` and
/// returns the UTC instant in seconds since the Unix epoch.
pub fn parse_local(text: &str, zone: MerchantTimeZone) -> Option<i64> {
    let local = parse_naive(text)?;
    Some(zone.from_local(local).timestamp())
}

fn parse_naive(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if !(b.len() == 19 || b.len() == 16) || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' {
        return None;
    }
    if b[13] != b':' || (b.len() == 19 && b[16] != b':') {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(num(0, 4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, num(5, 7)?, num(8, 10)?)?;
    let seconds = if b.len() == 19 { num(17, 19)? } else { 0 };
    let time = NaiveTime::from_hms_opt(num(11, 13)?, num(14, 16)?, seconds)?;
    Some(date.and_time(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc_in(text: &str, zone: &str) -> String {
        let zone = MerchantTimeZone::parse(zone).expect("zone");
        let secs = parse_local(text, zone).expect("parses");
        chrono::DateTime::from_timestamp(secs, 0)
            .expect("in range")
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }

    fn utc(text: &str) -> String {
        utc_in(text, "Europe/London")
    }

    #[test]
    fn winter_is_gmt_and_summer_is_bst() {
        assert_eq!(utc("2010-12-01 08:26:00"), "2010-12-01 08:26:00");
        assert_eq!(utc("2011-07-15 12:00:00"), "2011-07-15 11:00:00");
        assert_eq!(utc("2011-12-09 12:50"), "2011-12-09 12:50:00");
    }

    #[test]
    fn switch_days_of_2011() {
        // Clocks went forward on 27 March 2011 and back on 30 October 2011.
        assert_eq!(utc("2011-03-27 00:59:00"), "2011-03-27 00:59:00");
        assert_eq!(
            utc("2011-03-27 01:30:00"),
            "2011-03-27 01:30:00",
            "gap read as GMT"
        );
        assert_eq!(utc("2011-03-27 02:00:00"), "2011-03-27 01:00:00");
        assert_eq!(
            utc("2011-10-30 01:30:00"),
            "2011-10-30 00:30:00",
            "first occurrence"
        );
        assert_eq!(utc("2011-10-30 02:00:00"), "2011-10-30 02:00:00");
    }

    #[test]
    fn other_zones_and_utc() {
        assert_eq!(
            utc_in("2011-07-15 21:30:00", "America/Los_Angeles"),
            "2011-07-16 04:30:00"
        );
        assert_eq!(
            utc_in("2011-07-15 12:00:00", "Asia/Shanghai"),
            "2011-07-15 04:00:00"
        );
        assert_eq!(utc_in("2011-07-15 12:00:00", "UTC"), "2011-07-15 12:00:00");
    }

    #[test]
    fn rejects_other_shapes() {
        let london = MerchantTimeZone::parse("Europe/London").expect("zone");
        for bad in [
            "",
            "2011-13-01 10:00:00",
            "12/1/2010 8:26",
            "2011-02-30 10:00:00",
        ] {
            assert_eq!(parse_local(bad, london), None, "{bad}");
        }
    }
}
