//! Money and exchange rates: amounts in ISO 4217 minor units, rates as exact decimals,
//! conversion into the merchant's base currency. Pure, no I/O.
//!
//! Conversion: `base_minor = amount_minor × rate × 10^(base exponent − from exponent)`,
//! computed exactly in 128-bit integers and rounded **half to even** (banker's rounding,
//! unbiased when many converted amounts are summed). A result that does not fit in an i64
//! is `None` (stored as NULL).

use caravan_core::iso;
use caravan_platform::FieldViolations;
use caravan_proto::caravan::common::v1::Money;

/// Largest absolute amount accepted in minor units (10^15: a quadrillion cents), so that
/// sums and conversions never overflow.
pub const MAX_ABS_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;
/// Fractional digits a rate may have.
pub const RATE_SCALE_DIGITS: u32 = 12;
const RATE_SCALE: u128 = 1_000_000_000_000;
const MAX_RATE_INTEGER_DIGITS: usize = 12;

/// A rate: base-currency major units per one major unit of the from-currency, scaled by
/// 10^12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate(u128);

impl Rate {
    /// Parses a positive decimal string with up to 12 fractional digits ("1.0825").
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("is required (a positive decimal such as \"1.0825\")".to_owned());
        }
        let (int_part, frac_part) = text.split_once('.').unwrap_or((text, ""));
        let digits_only = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if int_part.is_empty()
            || !digits_only(int_part)
            || !digits_only(frac_part)
            || (text.contains('.') && frac_part.is_empty())
        {
            return Err(format!(
                "{text:?} is not a decimal number (digits with an optional '.', e.g. \"1.0825\")"
            ));
        }
        if frac_part.len() > RATE_SCALE_DIGITS as usize {
            return Err(format!(
                "must have at most {RATE_SCALE_DIGITS} fractional digits"
            ));
        }
        let int_trimmed = int_part.trim_start_matches('0');
        if int_trimmed.len() > MAX_RATE_INTEGER_DIGITS {
            return Err(format!(
                "must be below 10^{MAX_RATE_INTEGER_DIGITS} (integer part too long)"
            ));
        }
        let int_value: u128 = if int_trimmed.is_empty() {
            0
        } else {
            int_trimmed
                .parse()
                .map_err(|_| "is not a decimal number".to_owned())?
        };
        let mut frac_value: u128 = 0;
        let mut scale = RATE_SCALE;
        for c in frac_part.chars() {
            scale /= 10;
            frac_value += u128::from(c.to_digit(10).unwrap_or(0)) * scale;
        }
        let scaled = int_value * RATE_SCALE + frac_value;
        if scaled == 0 {
            return Err("must be positive".to_owned());
        }
        Ok(Self(scaled))
    }

    /// The canonical decimal text (no trailing zeros): "1.0825", "150".
    pub fn to_text(self) -> String {
        let int_part = self.0 / RATE_SCALE;
        let frac = self.0 % RATE_SCALE;
        if frac == 0 {
            return int_part.to_string();
        }
        let frac_text = format!("{frac:012}");
        format!("{int_part}.{}", frac_text.trim_end_matches('0'))
    }
}

/// Divides rounding half to even.
fn div_round_half_even(numerator: i128, denominator: i128) -> i128 {
    let negative = (numerator < 0) != (denominator < 0);
    let (n, d) = (numerator.abs(), denominator.abs());
    let mut q = n / d;
    let r = n % d;
    if 2 * r > d || (2 * r == d && q % 2 == 1) {
        q += 1;
    }
    if negative { -q } else { q }
}

/// Converts `amount_minor` of a currency with `from_exponent` minor digits into minor units
/// of a currency with `to_exponent` digits at `rate`. `None` if the result overflows i64.
pub fn convert_minor(
    amount_minor: i64,
    from_exponent: u8,
    to_exponent: u8,
    rate: Rate,
) -> Option<i64> {
    let pow = |e: u8| 10i128.checked_pow(u32::from(e));
    let numerator = i128::from(amount_minor)
        .checked_mul(i128::try_from(rate.0).ok()?)?
        .checked_mul(pow(to_exponent)?)?;
    let denominator = i128::try_from(RATE_SCALE)
        .ok()?
        .checked_mul(pow(from_exponent)?)?;
    i64::try_from(div_round_half_even(numerator, denominator)).ok()
}

/// Converts a Money into `base_currency` at `rate` (`None` rate: only same currency works).
pub fn to_base(amount: &Money, base_currency: &str, rate: Option<Rate>) -> Option<i64> {
    if amount.currency_code == base_currency {
        return Some(amount.amount_minor);
    }
    let from = iso::currency_exponent(&amount.currency_code)?;
    let to = iso::currency_exponent(base_currency)?;
    convert_minor(amount.amount_minor, from, to, rate?)
}

/// Checks a Money field: known ISO 4217 code, amount within limits, and (unless
/// `allow_negative`) not negative.
pub fn check_money(
    money: &Money,
    field: &str,
    allow_negative: bool,
    violations: &mut FieldViolations,
) {
    if !iso::is_currency(&money.currency_code) {
        violations.add(
            format!("{field}.currency_code"),
            format!(
                "{:?} is not an ISO 4217 currency code (upper case, e.g. \"EUR\")",
                money.currency_code
            ),
        );
    }
    if !allow_negative && money.amount_minor < 0 {
        violations.add(format!("{field}.amount_minor"), "must not be negative");
    } else if money.amount_minor.unsigned_abs() > MAX_ABS_AMOUNT_MINOR.unsigned_abs() {
        violations.add(
            format!("{field}.amount_minor"),
            format!("must be at most {MAX_ABS_AMOUNT_MINOR} in absolute value"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(text: &str) -> Rate {
        Rate::parse(text).expect("valid rate")
    }

    #[test]
    fn parses_and_prints_rates_exactly() {
        assert_eq!(rate("1.0825").to_text(), "1.0825");
        assert_eq!(rate("150").to_text(), "150");
        assert_eq!(rate("0150.500").to_text(), "150.5");
        assert_eq!(rate("0.000000000001").to_text(), "0.000000000001");
        for bad in [
            "",
            "0",
            "0.0",
            "-1",
            "1.",
            ".5",
            "1,5",
            "abc",
            "1e3",
            "0.0000000000001",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad:?} must be rejected");
        }
        assert!(Rate::parse(&"9".repeat(13)).is_err());
    }

    #[test]
    fn converts_between_exponents() {
        // 1999 JPY (exponent 0) at 0.0062 EUR/JPY = 12.3938 EUR -> 1239 cents.
        assert_eq!(convert_minor(1999, 0, 2, rate("0.0062")), Some(1239));
        // 19.99 EUR -> JPY at 161.25: 3223.3875 -> 3223.
        assert_eq!(convert_minor(1999, 2, 0, rate("161.25")), Some(3223));
        // 1.999 KWD (exponent 3) -> USD at 3.25: 6.49675 -> 6.50 USD.
        assert_eq!(convert_minor(1999, 3, 2, rate("3.25")), Some(650));
        // 10.00 USD -> KWD at 0.307: 3.070 KWD.
        assert_eq!(convert_minor(1000, 2, 3, rate("0.307")), Some(3070));
        // Negative amounts (refunds) convert symmetrically.
        assert_eq!(convert_minor(-1999, 0, 2, rate("0.0062")), Some(-1239));
    }

    #[test]
    fn rounds_half_to_even() {
        // 0.5 cent cases: 1 JPY at 0.005 = 0.5 cent -> 0; 3 JPY at 0.005 = 1.5 -> 2.
        assert_eq!(convert_minor(1, 0, 2, rate("0.005")), Some(0));
        assert_eq!(convert_minor(3, 0, 2, rate("0.005")), Some(2));
        assert_eq!(convert_minor(5, 0, 2, rate("0.005")), Some(2));
        assert_eq!(convert_minor(-3, 0, 2, rate("0.005")), Some(-2));
        // Just above half rounds up.
        assert_eq!(convert_minor(1, 0, 2, rate("0.0051")), Some(1));
    }

    #[test]
    fn overflow_is_none_and_same_currency_needs_no_rate() {
        assert_eq!(convert_minor(i64::MAX, 0, 3, rate("999999999999")), None);
        let eur = Money {
            currency_code: "EUR".to_owned(),
            amount_minor: 1234,
        };
        assert_eq!(to_base(&eur, "EUR", None), Some(1234));
        assert_eq!(to_base(&eur, "USD", None), None);
        assert_eq!(to_base(&eur, "USD", Some(rate("1.1"))), Some(1357));
    }

    #[test]
    fn money_checks_name_the_field() {
        let mut violations = FieldViolations::new();
        check_money(
            &Money {
                currency_code: "EURO".to_owned(),
                amount_minor: -1,
            },
            "order.total",
            false,
            &mut violations,
        );
        check_money(
            &Money {
                currency_code: "USD".to_owned(),
                amount_minor: -5,
            },
            "refund",
            true,
            &mut violations,
        );
        check_money(
            &Money {
                currency_code: "USD".to_owned(),
                amount_minor: MAX_ABS_AMOUNT_MINOR + 1,
            },
            "price",
            false,
            &mut violations,
        );
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "order.total.currency_code",
                "order.total.amount_minor",
                "price.amount_minor"
            ]
        );
    }
}
