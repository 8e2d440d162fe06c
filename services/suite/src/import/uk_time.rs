//! UK local time (Europe/London) to UTC, for the `InvoiceDate` column of Online Retail.
//!
//! The file records wall-clock time in the UK. British Summer Time (UTC+1) runs from the last
//! Sunday of March, 01:00 UTC, to the last Sunday of October, 01:00 UTC (the EU rule, in force
//! for the whole 2010-2011 range of the data); the rest of the year is GMT (UTC+0).
//! * A wall-clock time that does not exist (01:00-01:59 on the spring-forward Sunday) is
//!   read as GMT.
//! * A wall-clock time that occurs twice (01:00-01:59 on the fall-back Sunday) is read as
//!   its first occurrence (BST).

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Weekday};

/// Parses `YYYY-MM-DD HH:MM:SS` (or `YYYY-MM-DD HH:MM`) as UK local time and returns the
/// UTC instant in seconds since the Unix epoch.
pub fn parse_uk_local(text: &str) -> Option<i64> {
    let local = parse_naive(text)?;
    Some(uk_local_to_utc(local).and_utc().timestamp())
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

/// Converts a Europe/London wall-clock time to UTC (see the module docs for the edge cases).
pub fn uk_local_to_utc(local: NaiveDateTime) -> NaiveDateTime {
    let year = local.year();
    let (Some(start), Some(end)) = (last_sunday(year, 3), last_sunday(year, 10)) else {
        return local;
    };
    let two = NaiveTime::from_hms_opt(2, 0, 0).unwrap_or(NaiveTime::MIN);
    // Local BST window: [spring Sunday 02:00 local, autumn Sunday 02:00 local).
    let bst = local >= start.and_time(two) && local < end.and_time(two);
    if bst {
        local - Duration::hours(1)
    } else {
        local
    }
}

fn last_sunday(year: i32, month: u32) -> Option<NaiveDate> {
    let first_of_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let last = first_of_next.pred_opt()?;
    let back = last.weekday().num_days_from_sunday();
    let sunday = last - Duration::days(i64::from(back));
    (sunday.weekday() == Weekday::Sun).then_some(sunday)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> String {
        let secs = parse_uk_local(text).expect("parses");
        chrono::DateTime::from_timestamp(secs, 0)
            .expect("in range")
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
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
        assert_eq!(last_sunday(2011, 3), NaiveDate::from_ymd_opt(2011, 3, 27));
        assert_eq!(last_sunday(2011, 10), NaiveDate::from_ymd_opt(2011, 10, 30));
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
    fn rejects_other_shapes() {
        for bad in [
            "",
            "2011-13-01 10:00:00",
            "12/1/2010 8:26",
            "2011-02-30 10:00:00",
        ] {
            assert_eq!(parse_uk_local(bad), None, "{bad}");
        }
    }
}
