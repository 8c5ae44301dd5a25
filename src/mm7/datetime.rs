//! Lexical checks for the schema's `xs:dateTime` and `xs:duration` (XML Schema Part 2 §3.2.7,
//! §3.2.6), the types of MM7's date fields. Values are kept as text; these only decide whether
//! the text is one.

/// `n` ASCII digits at the front of `s`, as a number, and the rest.
fn digits(s: &[u8], n: usize) -> Option<(u32, &[u8])> {
    let d = s.get(..n)?;
    if !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = d.iter().fold(0u32, |v, b| v * 10 + u32::from(b - b'0'));
    Some((v, &s[n..]))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Whether `value` is an `xs:dateTime`: `[-]YYYY-MM-DDThh:mm:ss[.s+][Z|(+|-)hh:mm]`, with the
/// year of four or more digits (no leading zero beyond four), real month and day numbers, and
/// `24:00:00` as the only hour-24 time.
pub(crate) fn is_date_time(value: &str) -> bool {
    let s = value.as_bytes();
    let s = s.strip_prefix(b"-").unwrap_or(s);
    let year_len = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if !(4..=9).contains(&year_len) || (year_len > 4 && s[0] == b'0') {
        return false;
    }
    let year: i64 = value
        .trim_start_matches('-')
        .get(..year_len)
        .and_then(|y| y.parse().ok())
        .unwrap_or(0);
    let check = || -> Option<()> {
        let s = s[year_len..].strip_prefix(b"-")?;
        let (month, s) = digits(s, 2)?;
        let s = s.strip_prefix(b"-")?;
        let (day, s) = digits(s, 2)?;
        let s = s.strip_prefix(b"T")?;
        let (hour, s) = digits(s, 2)?;
        let s = s.strip_prefix(b":")?;
        let (minute, s) = digits(s, 2)?;
        let s = s.strip_prefix(b":")?;
        let (second, mut s) = digits(s, 2)?;
        let mut fraction_nonzero = false;
        if let Some(rest) = s.strip_prefix(b".") {
            let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            fraction_nonzero = rest[..n].iter().any(|b| *b != b'0');
            s = &rest[n..];
        }
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        let midnight = hour == 24 && minute == 0 && second == 0 && !fraction_nonzero;
        if (hour > 23 && !midnight) || minute > 59 || second > 59 {
            return None;
        }
        zone(s)
    };
    year != 0 && check().is_some()
}

/// A time zone: nothing, `Z`, or `(+|-)hh:mm` within ±14:00.
fn zone(s: &[u8]) -> Option<()> {
    match s {
        [] | [b'Z'] => Some(()),
        [b'+' | b'-', rest @ ..] => {
            let (h, rest) = digits(rest, 2)?;
            let rest = rest.strip_prefix(b":")?;
            let (m, rest) = digits(rest, 2)?;
            (rest.is_empty() && m <= 59 && (h < 14 || (h == 14 && m == 0))).then_some(())
        }
        _ => None,
    }
}

/// Whether `value` is an `xs:duration`: `[-]P[nY][nM][nD][T[nH][nM][n[.n]S]]` with at least
/// one component, and at least one after a `T`.
pub(crate) fn is_duration(value: &str) -> bool {
    let s = value.as_bytes();
    let s = s.strip_prefix(b"-").unwrap_or(s);
    let Some(mut s) = s.strip_prefix(b"P") else {
        return false;
    };
    let mut any = false;
    let mut in_time = false;
    let mut time_any = false;
    // Designators in the order they may appear; each at most once.
    let order: &[u8] = b"YMDTHMS";
    let mut next = 0;
    while !s.is_empty() {
        if s[0] == b'T' {
            if in_time || next > 3 {
                return false;
            }
            in_time = true;
            next = 4;
            s = &s[1..];
            continue;
        }
        let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        let mut rest = &s[n..];
        let mut fraction = false;
        if let Some(r) = rest.strip_prefix(b".") {
            let f = r.iter().take_while(|b| b.is_ascii_digit()).count();
            if f == 0 {
                return false;
            }
            fraction = true;
            rest = &r[f..];
        }
        let Some(&designator) = rest.first() else {
            return false;
        };
        let allowed = if in_time { &order[4..] } else { &order[..3] };
        let Some(pos) = allowed.iter().position(|d| *d == designator) else {
            return false;
        };
        let pos = pos + if in_time { 4 } else { 0 };
        if pos < next || (fraction && designator != b'S') || (fraction && !in_time) {
            return false;
        }
        next = pos + 1;
        any = true;
        time_any |= in_time;
        s = &rest[1..];
    }
    any && (!in_time || time_any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times() {
        for good in [
            "2026-11-22T06:00:00Z",
            "2026-11-22T06:00:00",
            "2026-11-22T06:00:00.123+05:30",
            "2024-02-29T23:59:59-14:00",
            "2026-12-31T24:00:00Z",
            "-0044-03-15T12:00:00Z",
            "12026-01-01T00:00:00Z",
        ] {
            assert!(is_date_time(good), "{good}");
        }
        for bad in [
            "",
            "2026-11-22",
            "2026-11-22 06:00:00",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-22T24:00:01Z",
            "2026-11-22T06:60:00Z",
            "2026-11-22T06:00:00.Z",
            "2026-11-22T06:00:00+15:00",
            "2026-11-22T06:00:00z",
            "0000-01-01T00:00:00Z",
            "02026-01-01T00:00:00Z",
            "P1D",
            "yesterday",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
    }

    #[test]
    fn durations() {
        for good in ["P1D", "PT36H", "P1Y2M3DT4H5M6.5S", "-P2M", "PT0S", "P0Y"] {
            assert!(is_duration(good), "{good}");
        }
        for bad in [
            "",
            "P",
            "PT",
            "1D",
            "P1H",
            "PT1D",
            "P1DT",
            "P1.5D",
            "P1M1Y",
            "P1D1D",
            "PT1S2M",
            "2026-11-22T06:00:00Z",
        ] {
            assert!(!is_duration(bad), "{bad}");
        }
    }
}
