//! Decimal prices (`2.55`, `0.001`, `-11062.06`) to integer minor units.

/// A price in minor units, and whether it had to be rounded to get there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinorUnits {
    pub amount: i64,
    pub rounded: bool,
}

/// Parses a plain decimal (optional sign, digits, optional `.` and digits) into minor units
/// of a currency with `exponent` decimals, rounding half to even when the text has more
/// decimals than the currency (GBP 0.001 -> 0 pence, 0.005 -> 0, 0.015 -> 2).
pub fn to_minor_units(text: &str, exponent: u32) -> Option<MinorUnits> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole
        .bytes()
        .chain(fraction.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut amount: i64 = 0;
    for b in whole.bytes() {
        amount = amount.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    let exponent = exponent as usize;
    let (kept, dropped) = fraction.split_at(fraction.len().min(exponent));
    for i in 0..exponent {
        let digit = kept.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
        amount = amount.checked_mul(10)?.checked_add(digit)?;
    }
    let rounded = dropped.bytes().any(|b| b != b'0');
    if rounded {
        let first = dropped.as_bytes()[0] - b'0';
        let rest_non_zero = dropped.bytes().skip(1).any(|b| b != b'0');
        let up = first > 5 || (first == 5 && (rest_non_zero || amount % 2 == 1));
        if up {
            amount = amount.checked_add(1)?;
        }
    }
    Some(MinorUnits {
        amount: if negative { -amount } else { amount },
        rounded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minor(text: &str) -> (i64, bool) {
        let m = to_minor_units(text, 2).expect(text);
        (m.amount, m.rounded)
    }

    #[test]
    fn exact_prices() {
        assert_eq!(minor("2.55"), (255, false));
        assert_eq!(minor("0.0"), (0, false));
        assert_eq!(minor("1"), (100, false));
        assert_eq!(minor("4.1"), (410, false));
        assert_eq!(minor("-11062.06"), (-1_106_206, false));
        assert_eq!(minor("3.390"), (339, false));
    }

    #[test]
    fn rounds_half_to_even() {
        assert_eq!(minor("0.001"), (0, true));
        assert_eq!(minor("0.005"), (0, true));
        assert_eq!(minor("0.015"), (2, true));
        assert_eq!(minor("0.025"), (2, true));
        assert_eq!(minor("0.0251"), (3, true));
        assert_eq!(minor("0.019"), (2, true));
        assert_eq!(minor("-0.015"), (-2, true));
    }

    #[test]
    fn rejects_non_numbers() {
        for bad in [
            "",
            "-",
            ".",
            "1,5",
            "abc",
            "1.2.3",
            "1e3",
            "99999999999999999999",
        ] {
            assert_eq!(to_minor_units(bad, 2), None, "{bad}");
        }
    }
}
