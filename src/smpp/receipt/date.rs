//! The dates of a receipt text (`submit date:`, `done date:`).

use std::fmt;

use super::ReceiptError;

/// A receipt date (SMPP 3.4 Appendix B: `YYMMDDhhmm`). SMSCs also send `YYMMDDhhmmss` and
/// `YYYYMMDDhhmmss`; all three are read. Two-digit years are 20YY. The time zone is the SMSC's,
/// which the text does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReceiptDate {
    /// Four-digit year.
    pub year: u16,
    /// 1-12.
    pub month: u8,
    /// 1-31.
    pub day: u8,
    /// 0-23.
    pub hour: u8,
    /// 0-59.
    pub minute: u8,
    /// 0-60, `None` in the 10-digit form.
    pub second: Option<u8>,
}

impl ReceiptDate {
    /// Reads a 10-, 12- or 14-digit date. `field` names it in the error.
    pub fn parse(field: &'static str, value: &str) -> Result<ReceiptDate, ReceiptError> {
        let bad = |reason: &'static str| ReceiptError::BadDate {
            field,
            value: value.chars().take(32).collect(),
            reason,
        };
        let b = value.as_bytes();
        if !b.iter().all(u8::is_ascii_digit) {
            return Err(bad("not all digits"));
        }
        let two = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
        let (year, rest) = match b.len() {
            10 | 12 => (2000 + u16::from(two(0)), 2),
            14 => (u16::from(two(0)) * 100 + u16::from(two(2)), 4),
            _ => return Err(bad("expected 10 (YYMMDDhhmm), 12 or 14 digits")),
        };
        let date = ReceiptDate {
            year,
            month: two(rest),
            day: two(rest + 2),
            hour: two(rest + 4),
            minute: two(rest + 6),
            second: (b.len() > 10).then(|| two(rest + 8)),
        };
        if !(1..=12).contains(&date.month) {
            return Err(bad("month is not 01-12"));
        }
        if !(1..=31).contains(&date.day) {
            return Err(bad("day is not 01-31"));
        }
        if date.hour > 23 || date.minute > 59 || date.second.is_some_and(|s| s > 60) {
            return Err(bad("time of day out of range"));
        }
        Ok(date)
    }
}

impl fmt::Display for ReceiptDate {
    /// The spec's `YYMMDDhhmm`, with `ss` appended when seconds are known.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}{:02}{:02}{:02}{:02}",
            self.year % 100,
            self.month,
            self.day,
            self.hour,
            self.minute
        )?;
        if let Some(second) = self.second {
            write!(f, "{second:02}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_lengths() {
        let d10 = ReceiptDate::parse("done date", "2411221530");
        assert_eq!(
            d10.map(|d| (d.year, d.month, d.day, d.hour, d.minute, d.second)),
            Ok((2024, 11, 22, 15, 30, None))
        );
        let d12 = ReceiptDate::parse("done date", "241122153045");
        assert_eq!(d12.map(|d| d.second), Ok(Some(45)));
        let d14 = ReceiptDate::parse("done date", "20241122153045");
        assert_eq!(
            d14.clone().map(|d| (d.year, d.second)),
            Ok((2024, Some(45)))
        );
        assert_eq!(d14.map(|d| d.to_string()), Ok("241122153045".to_owned()));
        assert!(ReceiptDate::parse("done date", "24112215").is_err());
        assert!(ReceiptDate::parse("done date", "2413221530").is_err());
        assert!(ReceiptDate::parse("done date", "24112215x0").is_err());
    }
}
