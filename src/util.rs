//! Small helpers shared by the stores, the engine and the DLR thrower: percent-encoding, hex
//! and jittered delays. Crate-private; nothing here knows about the modules that use it. Each
//! helper is compiled with the features that use it (and for the tests).

/// `with_*` setters for a configuration struct's public fields, so every configuration in the
/// crate reads the same way: `Config::default().with_x(..).with_y(..)`, or a struct literal.
#[cfg(any(feature = "engine", feature = "dlr-http"))]
macro_rules! with_setters {
    ($ty:ty { $($with:ident => $field:ident: $fty:ty),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
                #[must_use]
                pub fn $with(mut self, value: $fty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

/// Uppercase hexadecimal digits, as percent-encoding writes them.
#[cfg(any(test, feature = "riak", feature = "dlr-http"))]
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// `%XX` for one byte, uppercase hex.
#[cfg(any(test, feature = "riak", feature = "dlr-http"))]
pub(crate) fn percent_escape(b: u8) -> [u8; 3] {
    [
        b'%',
        HEX_UPPER[usize::from(b >> 4)],
        HEX_UPPER[usize::from(b & 0xf)],
    ]
}

/// Whether `b` is an RFC 3986 unreserved character (kept as it is by percent-encoding).
#[cfg(any(test, feature = "riak", feature = "dlr-http"))]
pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// How [`push_percent_encoded`] writes a space.
#[cfg(any(test, feature = "riak", feature = "dlr-http"))]
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Space {
    /// `%20`, as in a URL path segment.
    #[cfg(any(test, feature = "riak"))]
    Percent,
    /// `+`, as in `application/x-www-form-urlencoded` (Python's `quote_plus`).
    Plus,
}

/// Appends `raw` to `out` with every byte but the unreserved ones percent-encoded.
#[cfg(any(test, feature = "riak", feature = "dlr-http"))]
pub(crate) fn push_percent_encoded(out: &mut String, raw: &[u8], space: Space) {
    for &b in raw {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else if b == b' ' && space == Space::Plus {
            out.push('+');
        } else {
            out.extend(percent_escape(b).map(char::from));
        }
    }
}

/// Lowercase hexadecimal of `bytes`.
#[cfg(any(test, feature = "engine"))]
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX_LOWER[usize::from(b >> 4)]));
        s.push(char::from(HEX_LOWER[usize::from(b & 0xf)]));
    }
    s
}

/// `base` times a random factor in `low..high`; `base` itself if the product is not a
/// duration.
#[cfg(any(feature = "riak", feature = "dlr-http"))]
pub(crate) fn jitter(base: std::time::Duration, low: f64, high: f64) -> std::time::Duration {
    use rand::Rng;
    std::time::Duration::try_from_secs_f64(base.as_secs_f64() * rand::rng().random_range(low..high))
        .unwrap_or(base)
}

/// `base · factor^step`, capped at `max` (and `max` when the product overflows).
#[cfg(any(test, feature = "dlr-http"))]
pub(crate) fn exponential(
    base: std::time::Duration,
    factor: f64,
    step: u32,
    max: std::time::Duration,
) -> std::time::Duration {
    let exp = i32::try_from(step).unwrap_or(i32::MAX);
    let grown = base.as_secs_f64() * factor.powi(exp);
    if grown.is_finite() {
        std::time::Duration::try_from_secs_f64(grown).map_or(max, |d| d.min(max))
    } else {
        max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn percent_encoding_keeps_unreserved_and_spaces_by_mode() {
        let mut path = String::new();
        push_percent_encoded(&mut path, "a b/+ü~".as_bytes(), Space::Percent);
        assert_eq!(path, "a%20b%2F%2B%C3%BC~");
        let mut form = String::new();
        push_percent_encoded(&mut form, b"a b&c=d", Space::Plus);
        assert_eq!(form, "a+b%26c%3Dd");
    }

    #[test]
    fn hex_and_growth() {
        assert_eq!(hex_lower(&[0x00, 0xab, 0xff]), "00abff");
        let s = Duration::from_secs(1);
        assert_eq!(
            exponential(s, 2.0, 3, Duration::from_secs(60)),
            Duration::from_secs(8)
        );
        assert_eq!(
            exponential(s, 2.0, u32::MAX, Duration::from_secs(60)),
            Duration::from_secs(60)
        );
        assert_eq!(exponential(s, 1.0, 10, Duration::from_secs(60)), s);
    }

    #[cfg(any(feature = "riak", feature = "dlr-http"))]
    #[test]
    fn jitter_stays_in_its_range() {
        let base = Duration::from_millis(1000);
        for _ in 0..1000 {
            let d = jitter(base, 0.5, 1.5);
            assert!(
                d >= Duration::from_millis(500) && d < Duration::from_millis(1500),
                "{d:?}"
            );
        }
    }
}
