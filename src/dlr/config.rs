//! `DlrThrowerConfig`: Jasmin's `[dlr-thrower]` settings plus what its users asked for.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::policy::DestinationPolicy;

/// When a response counts as the receiver's acknowledgement.
///
/// Jasmin's rule ("Receiving DLR") is status 200 and a body of exactly `ACK/Jasmin` once
/// surrounding whitespace is stripped; receivers that answer otherwise are Jasmin's most frequent
/// complaint, so the rule can be relaxed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckRule {
    /// This status and this body (compared after stripping surrounding whitespace).
    StatusAndBody {
        /// The status the receiver must answer with.
        status: u16,
        /// The body the receiver must answer with.
        body: String,
    },
    /// Any 2xx status, whatever the body.
    Any2xx,
}

impl Default for AckRule {
    fn default() -> Self {
        Self::StatusAndBody {
            status: 200,
            body: "ACK/Jasmin".to_owned(),
        }
    }
}

impl AckRule {
    /// Whether a response with `status` and `body` acknowledges the DLR.
    pub fn is_ack(&self, status: u16, body: &[u8]) -> bool {
        match self {
            Self::Any2xx => (200..300).contains(&status),
            Self::StatusAndBody {
                status: want,
                body: want_body,
            } => {
                status == *want
                    && std::str::from_utf8(body).is_ok_and(|b| b.trim() == want_body.as_str())
            }
        }
    }
}

/// Exponential growth of the delay between attempts, with jitter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Backoff {
    /// Each retry waits `factor` times the previous delay (the first waits `retry_delay`).
    /// Valid range 1 to 10.
    pub factor: f64,
    /// The delay never grows past this. Valid range 0 to 86 400 s (one day).
    #[serde(with = "secs")]
    pub max_delay: Duration,
    /// Spread each delay uniformly over `[delay/2, delay]` so that DLRs failed together by one
    /// outage do not all come back at the same instant.
    pub jitter: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            factor: 2.0,
            max_delay: Duration::from_secs(600),
            jitter: true,
        }
    }
}

/// The thrower's configuration, with Jasmin's defaults (`timeout` 30 s, `retry_delay` 30 s,
/// `max_retries` 3; "jasmin.cfg / dlr-thrower"). Durations are seconds in serde form.
///
/// Every duration, count and rate has a valid range, given on its field;
/// [`validate`](Self::validate) refuses a value outside it with
/// [`DlrConfigError::OutOfRange`], naming the key, the value and the range. The ranges keep
/// every time computed from them (next attempt, next rate slot, backoff) representable, and a
/// DLR's attempts finite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DlrThrowerConfig {
    /// Bound on one whole attempt: connect, request, response and body. Valid range 1 ms to
    /// 3 600 s.
    #[serde(with = "secs", alias = "http_timeout")]
    pub timeout: Duration,
    /// Wait before each retry. Valid range 0 to 86 400 s (one day).
    #[serde(with = "secs")]
    pub retry_delay: Duration,
    /// Retries after the first attempt: a DLR gets at most `1 + max_retries` attempts. Valid
    /// range 0 to 1 000.
    pub max_retries: u32,
    /// Grow the delay between retries; `None` waits `retry_delay` every time, as Jasmin does.
    pub backoff: Option<Backoff>,
    /// When a response is an acknowledgement.
    pub ack: AckRule,
    /// Statuses that end a DLR at once instead of being retried (e.g. 404, 410): retrying cannot
    /// fix them. Empty by default, as Jasmin retries every failure. Each in 100 to 599.
    pub give_up_on: Vec<u16>,
    /// DLRs in flight at once, over all destinations. Valid range 1 to 65 536.
    pub max_concurrency: usize,
    /// DLRs in flight at once to one destination (`scheme://host:port`). Keep it below
    /// `max_concurrency`, so that one slow receiver cannot take every slot. Valid range 1 to
    /// 65 536.
    pub max_per_host: usize,
    /// Attempts per second to one destination; `None` for no limit. Valid range 0.001 (one
    /// attempt every 1 000 s) to 1 000 000.
    pub rate_per_host: Option<f64>,
    /// How much of a response body is read; the ack is a few bytes, so the rest is not needed.
    /// Valid range 16 to 1 048 576 bytes, and at least the length of the ack body.
    pub max_body_bytes: usize,
    /// Idle keep-alive connections kept per destination. Valid range 0 to 65 536.
    pub pool_idle_per_host: usize,
    /// Which addresses a `dlr-url` may reach.
    pub destinations: DestinationPolicy,
}

impl Default for DlrThrowerConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            retry_delay: Duration::from_secs(30),
            max_retries: 3,
            backoff: None,
            ack: AckRule::default(),
            give_up_on: Vec::new(),
            max_concurrency: 256,
            max_per_host: 64,
            rate_per_host: None,
            max_body_bytes: 4096,
            pool_idle_per_host: 64,
            destinations: DestinationPolicy::default(),
        }
    }
}

/// A configuration value that cannot be used, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DlrConfigError {
    /// A value of the wrong form or out of range.
    #[error("dlr-thrower: {key} = {value:?}: {reason}")]
    BadValue {
        /// The key, as spelled in the source.
        key: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A value outside its valid range.
    #[error("dlr-thrower: {key} = {value}: outside the valid range {range}")]
    OutOfRange {
        /// The key, as spelled in the source (`backoff.factor` for a nested one).
        key: String,
        /// The value given.
        value: String,
        /// The valid range, with its unit.
        range: String,
    },
    /// A line of a `jasmin.cfg` that is neither a section, a `key = value` nor a comment.
    #[error("jasmin.cfg line {line}: {reason}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// What [`DlrThrowerConfig::from_jasmin_cfg`] did with the keys that are not thrower settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JasminCfgNotes {
    /// `log_level`, mapped from Python's logging level names onto a `tracing` level.
    pub log_level: Option<tracing::Level>,
    /// Keys that were accepted and ignored (`log_file`, `log_format`, … and unknown keys):
    /// logging here is the host's `tracing` subscriber.
    pub ignored: Vec<String>,
}

with_setters!(DlrThrowerConfig {
    with_timeout => timeout: Duration,
    with_retry_delay => retry_delay: Duration,
    with_max_retries => max_retries: u32,
    with_backoff => backoff: Option<Backoff>,
    with_ack => ack: AckRule,
    with_give_up_on => give_up_on: Vec<u16>,
    with_max_concurrency => max_concurrency: usize,
    with_max_per_host => max_per_host: usize,
    with_rate_per_host => rate_per_host: Option<f64>,
    with_max_body_bytes => max_body_bytes: usize,
    with_pool_idle_per_host => pool_idle_per_host: usize,
    with_destinations => destinations: DestinationPolicy,
});

impl DlrThrowerConfig {
    /// Attempts a DLR gets in all: the first and `max_retries` retries.
    pub fn max_attempts(&self) -> u32 {
        self.max_retries.saturating_add(1)
    }

    /// The longest wait [`delay_after`](Self::delay_after) can give.
    pub(crate) fn longest_delay(&self) -> Duration {
        match &self.backoff {
            Some(b) => b.max_delay.max(self.retry_delay),
            None => self.retry_delay,
        }
    }

    /// The wait after failed attempt number `attempt` (1-based): `retry_delay`, grown by the
    /// backoff if there is one.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let Some(b) = &self.backoff else {
            return self.retry_delay;
        };
        let capped = crate::util::exponential(
            self.retry_delay,
            b.factor,
            attempt.saturating_sub(1),
            b.max_delay,
        );
        if b.jitter {
            crate::util::jitter(capped, 0.5, 1.0)
        } else {
            capped
        }
    }

    /// Checks every value against its valid range (given on each field) and the values against
    /// each other; the loaders call it, hosts that build a config by hand should too (the
    /// thrower's builder does).
    pub fn validate(&self) -> Result<(), DlrConfigError> {
        in_secs("timeout", self.timeout, limits::TIMEOUT)?;
        in_secs("retry_delay", self.retry_delay, limits::RETRY_DELAY)?;
        in_range("max_retries", self.max_retries, limits::MAX_RETRIES, "")?;
        if let Some(b) = &self.backoff {
            if !(b.factor.is_finite()
                && (limits::BACKOFF_FACTOR.0..=limits::BACKOFF_FACTOR.1).contains(&b.factor))
            {
                return Err(out_of_range(
                    "backoff.factor",
                    b.factor,
                    limits::BACKOFF_FACTOR,
                    "",
                ));
            }
            in_secs("backoff.max_delay", b.max_delay, limits::MAX_DELAY)?;
        }
        if let AckRule::StatusAndBody { status, body } = &self.ack {
            in_range("ack.status", *status, limits::STATUS, "")?;
            if body.len() > self.max_body_bytes {
                return Err(DlrConfigError::BadValue {
                    key: "ack.body".to_owned(),
                    value: body.clone(),
                    reason: format!(
                        "longer than max_body_bytes ({}), so it could never be read whole",
                        self.max_body_bytes
                    ),
                });
            }
        }
        for status in &self.give_up_on {
            in_range("give_up_on", *status, limits::STATUS, "")?;
        }
        in_range(
            "max_concurrency",
            self.max_concurrency,
            limits::CONCURRENCY,
            "",
        )?;
        in_range("max_per_host", self.max_per_host, limits::CONCURRENCY, "")?;
        if let Some(rate) = self.rate_per_host
            && !(rate.is_finite() && (limits::RATE.0..=limits::RATE.1).contains(&rate))
        {
            return Err(out_of_range(
                "rate_per_host",
                rate,
                limits::RATE,
                " attempts per second",
            ));
        }
        in_range(
            "max_body_bytes",
            self.max_body_bytes,
            limits::BODY_BYTES,
            " bytes",
        )?;
        in_range(
            "pool_idle_per_host",
            self.pool_idle_per_host,
            limits::POOL_IDLE,
            "",
        )?;
        Ok(())
    }

    /// Reads the `[dlr-thrower]` section of a Jasmin `jasmin.cfg` (INI) over Jasmin's defaults.
    ///
    /// `timeout` and `http_timeout`, `retry_delay` (seconds) and `max_retries` are read; `log_level`
    /// is mapped onto a `tracing` level and the other `log_*` keys are reported as ignored.
    /// Other sections are skipped. A bad value is an error naming the key.
    pub fn from_jasmin_cfg(text: &str) -> Result<(Self, JasminCfgNotes), DlrConfigError> {
        let mut config = Self::default();
        let mut notes = JasminCfgNotes::default();
        let mut in_section = false;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest
                    .strip_suffix(']')
                    .ok_or_else(|| DlrConfigError::Syntax {
                        line: n + 1,
                        reason: format!("section header {line:?} has no closing ']'"),
                    })?;
                in_section = name.trim() == "dlr-thrower";
                continue;
            }
            if !in_section {
                continue;
            }
            // Continuation lines (indented) belong to a multi-line value; only log_format
            // could have one, and it is ignored anyway.
            if raw.starts_with([' ', '\t']) {
                continue;
            }
            let split = line
                .find(['=', ':'])
                .ok_or_else(|| DlrConfigError::Syntax {
                    line: n + 1,
                    reason: format!("{line:?} is not `key = value`"),
                })?;
            let key = line[..split].trim().to_ascii_lowercase();
            let value = line[split + 1..].trim();
            match key.as_str() {
                "timeout" | "http_timeout" => {
                    config.timeout = seconds(&key, value, limits::TIMEOUT)?
                }
                "retry_delay" => config.retry_delay = seconds(&key, value, limits::RETRY_DELAY)?,
                "max_retries" => {
                    let n: u64 = value.parse().map_err(|_| DlrConfigError::BadValue {
                        key: key.clone(),
                        value: value.to_owned(),
                        reason: "must be a whole number of retries".into(),
                    })?;
                    let (min, max) = limits::MAX_RETRIES;
                    config.max_retries = u32::try_from(n)
                        .ok()
                        .filter(|n| (min..=max).contains(n))
                        .ok_or_else(|| out_of_range(&key, value, (min, max), ""))?;
                }
                "log_level" => notes.log_level = Some(python_log_level(&key, value)?),
                _ => {
                    if !key.starts_with("log_") {
                        tracing::warn!(key = %key, "jasmin.cfg [dlr-thrower]: unknown key ignored");
                    }
                    notes.ignored.push(key);
                }
            }
        }
        config.validate()?;
        Ok((config, notes))
    }
}

fn seconds(
    key: &str,
    value: &str,
    range: (Duration, Duration),
) -> Result<Duration, DlrConfigError> {
    let secs = value
        .parse::<f64>()
        .ok()
        .filter(|s| !s.is_nan())
        .ok_or_else(|| DlrConfigError::BadValue {
            key: key.to_owned(),
            value: value.to_owned(),
            reason: "must be a number of seconds".into(),
        })?;
    let outside = || DlrConfigError::OutOfRange {
        key: key.to_owned(),
        value: value.to_owned(),
        range: secs_range(range),
    };
    let d = Duration::try_from_secs_f64(secs).map_err(|_| outside())?;
    if d < range.0 || d > range.1 {
        return Err(outside());
    }
    Ok(d)
}

/// The valid ranges of the settings, inclusive at both ends.
mod limits {
    use std::time::Duration;

    pub(super) const TIMEOUT: (Duration, Duration) =
        (Duration::from_millis(1), Duration::from_secs(3600));
    pub(super) const RETRY_DELAY: (Duration, Duration) =
        (Duration::ZERO, Duration::from_secs(86_400));
    pub(super) const MAX_DELAY: (Duration, Duration) = RETRY_DELAY;
    pub(super) const MAX_RETRIES: (u32, u32) = (0, 1000);
    pub(super) const BACKOFF_FACTOR: (f64, f64) = (1.0, 10.0);
    pub(super) const STATUS: (u16, u16) = (100, 599);
    pub(super) const CONCURRENCY: (usize, usize) = (1, 65_536);
    pub(super) const RATE: (f64, f64) = (0.001, 1_000_000.0);
    pub(super) const BODY_BYTES: (usize, usize) = (16, 1 << 20);
    pub(super) const POOL_IDLE: (usize, usize) = (0, 65_536);
}

fn secs_range(range: (Duration, Duration)) -> String {
    format!(
        "{} to {} seconds",
        range.0.as_secs_f64(),
        range.1.as_secs_f64()
    )
}

fn out_of_range(
    key: &str,
    value: impl std::fmt::Display,
    range: (impl std::fmt::Display, impl std::fmt::Display),
    unit: &str,
) -> DlrConfigError {
    DlrConfigError::OutOfRange {
        key: key.to_owned(),
        value: value.to_string(),
        range: format!("{} to {}{unit}", range.0, range.1),
    }
}

fn in_range<T: PartialOrd + std::fmt::Display>(
    key: &str,
    value: T,
    range: (T, T),
    unit: &str,
) -> Result<(), DlrConfigError> {
    if value < range.0 || value > range.1 {
        return Err(out_of_range(key, value, range, unit));
    }
    Ok(())
}

fn in_secs(key: &str, value: Duration, range: (Duration, Duration)) -> Result<(), DlrConfigError> {
    if value < range.0 || value > range.1 {
        return Err(DlrConfigError::OutOfRange {
            key: key.to_owned(),
            value: value.as_secs_f64().to_string(),
            range: secs_range(range),
        });
    }
    Ok(())
}

fn python_log_level(key: &str, value: &str) -> Result<tracing::Level, DlrConfigError> {
    use tracing::Level;
    let level = match value.to_ascii_uppercase().as_str() {
        "CRITICAL" | "FATAL" | "ERROR" | "50" | "40" => Level::ERROR,
        "WARNING" | "WARN" | "30" => Level::WARN,
        "INFO" | "20" => Level::INFO,
        "DEBUG" | "10" => Level::DEBUG,
        "NOTSET" | "0" => Level::TRACE,
        _ => {
            return Err(DlrConfigError::BadValue {
                key: key.to_owned(),
                value: value.to_owned(),
                reason: "not a Python logging level (DEBUG, INFO, WARNING, ERROR, CRITICAL)".into(),
            });
        }
    };
    Ok(level)
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        if secs.is_finite() && secs > u64::MAX as f64 {
            // Too long to be a `Duration`: kept as the longest one, so that `validate` refuses
            // it naming the key and the valid range.
            return Ok(Duration::MAX);
        }
        Duration::try_from_secs_f64(secs).map_err(|_| {
            D::Error::custom(format!("{secs} is not a non-negative number of seconds"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jasmin_cfg_section_is_read() {
        let cfg = "[http-api]\ntimeout = 99\n\n[dlr-thrower]\nhttp_timeout = 5\nretry_delay: 2.5\n\
                   max_retries = 7\nlog_level = WARNING\nlog_file = /var/log/x.log\n\
                   log_format = %(asctime)s %(message)s\n";
        let (c, notes) = DlrThrowerConfig::from_jasmin_cfg(cfg).unwrap();
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.retry_delay, Duration::from_millis(2500));
        assert_eq!(c.max_retries, 7);
        assert_eq!(notes.log_level, Some(tracing::Level::WARN));
        assert_eq!(notes.ignored, vec!["log_file", "log_format"]);
    }

    #[test]
    fn defaults_are_jasmins() {
        let (c, _) = DlrThrowerConfig::from_jasmin_cfg("").unwrap();
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert_eq!(c.retry_delay, Duration::from_secs(30));
        assert_eq!(c.max_retries, 3);
        assert_eq!(c.ack, AckRule::default());
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, key) in [
            ("[dlr-thrower]\nmax_retries = -1", "max_retries"),
            ("[dlr-thrower]\ntimeout = soon", "timeout"),
            ("[dlr-thrower]\nretry_delay = NaN", "retry_delay"),
            ("[dlr-thrower]\nlog_level = LOUD", "log_level"),
        ] {
            match DlrThrowerConfig::from_jasmin_cfg(text) {
                Err(DlrConfigError::BadValue { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        match DlrThrowerConfig::from_jasmin_cfg("[dlr-thrower]\nhttp_timeout = 0") {
            Err(DlrConfigError::OutOfRange { key, value, range }) => {
                assert_eq!((key.as_str(), value.as_str()), ("http_timeout", "0"));
                assert_eq!(range, "0.001 to 3600 seconds");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            DlrThrowerConfig::from_jasmin_cfg("[dlr-thrower\n"),
            Err(DlrConfigError::Syntax { line: 1, .. })
        ));
    }

    /// The key, value and range of an out-of-range error, or a panic naming what came instead.
    fn refused(result: Result<(), DlrConfigError>, what: &str) -> (String, String, String) {
        match result {
            Err(DlrConfigError::OutOfRange { key, value, range }) => (key, value, range),
            other => panic!("{what}: expected OutOfRange, got {other:?}"),
        }
    }

    fn jasmin(text: &str) -> Result<(), DlrConfigError> {
        DlrThrowerConfig::from_jasmin_cfg(&format!("[dlr-thrower]\n{text}\n")).map(|_| ())
    }

    #[test]
    fn jasmin_cfg_values_at_and_past_every_boundary() {
        for ok in [
            "timeout = 0.001",
            "timeout = 3600",
            "http_timeout = 3600",
            "retry_delay = 0",
            "retry_delay = 86400",
            "max_retries = 0",
            "max_retries = 1000",
        ] {
            assert_eq!(jasmin(ok), Ok(()), "{ok}");
        }
        for (bad, key, value, range) in [
            (
                "timeout = 0.0009",
                "timeout",
                "0.0009",
                "0.001 to 3600 seconds",
            ),
            (
                "timeout = 3600.001",
                "timeout",
                "3600.001",
                "0.001 to 3600 seconds",
            ),
            ("timeout = 1e19", "timeout", "1e19", "0.001 to 3600 seconds"),
            (
                "http_timeout = inf",
                "http_timeout",
                "inf",
                "0.001 to 3600 seconds",
            ),
            (
                "retry_delay = -0.001",
                "retry_delay",
                "-0.001",
                "0 to 86400 seconds",
            ),
            (
                "retry_delay = 86400.001",
                "retry_delay",
                "86400.001",
                "0 to 86400 seconds",
            ),
            (
                "retry_delay = 1e19",
                "retry_delay",
                "1e19",
                "0 to 86400 seconds",
            ),
            (
                "retry_delay = 1e300",
                "retry_delay",
                "1e300",
                "0 to 86400 seconds",
            ),
            ("max_retries = 1001", "max_retries", "1001", "0 to 1000"),
            (
                "max_retries = 4294967295",
                "max_retries",
                "4294967295",
                "0 to 1000",
            ),
            (
                "max_retries = 99999999999",
                "max_retries",
                "99999999999",
                "0 to 1000",
            ),
        ] {
            let got = refused(jasmin(bad), bad);
            assert_eq!(got, (key.into(), value.into(), range.into()), "{bad}");
            let shown = jasmin(bad).unwrap_err().to_string();
            assert!(
                shown.contains(key) && shown.contains(value) && shown.contains(range),
                "{shown}"
            );
        }
    }

    #[test]
    fn validate_at_and_past_every_boundary() {
        type Set = fn(&mut DlrThrowerConfig);
        let at: [(&str, Set); 16] = [
            ("timeout min", |c| c.timeout = Duration::from_millis(1)),
            ("timeout max", |c| c.timeout = Duration::from_secs(3600)),
            ("retry_delay min", |c| c.retry_delay = Duration::ZERO),
            ("retry_delay max", |c| {
                c.retry_delay = Duration::from_secs(86_400)
            }),
            ("max_retries max", |c| c.max_retries = 1000),
            ("backoff", |c| {
                c.backoff = Some(Backoff {
                    factor: 10.0,
                    max_delay: Duration::from_secs(86_400),
                    jitter: true,
                })
            }),
            ("backoff min", |c| {
                c.backoff = Some(Backoff {
                    factor: 1.0,
                    max_delay: Duration::ZERO,
                    jitter: false,
                })
            }),
            ("concurrency min", |c| {
                c.max_concurrency = 1;
                c.max_per_host = 1;
            }),
            ("concurrency max", |c| {
                c.max_concurrency = 65_536;
                c.max_per_host = 65_536;
            }),
            ("rate min", |c| c.rate_per_host = Some(0.001)),
            ("rate max", |c| c.rate_per_host = Some(1_000_000.0)),
            ("body min", |c| c.max_body_bytes = 16),
            ("body max", |c| c.max_body_bytes = 1 << 20),
            ("pool", |c| c.pool_idle_per_host = 65_536),
            ("statuses", |c| c.give_up_on = vec![100, 599]),
            ("ack", |c| {
                c.ack = AckRule::StatusAndBody {
                    status: 599,
                    body: "x".repeat(4096),
                }
            }),
        ];
        for (what, set) in at {
            let mut c = DlrThrowerConfig::default();
            set(&mut c);
            assert_eq!(c.validate(), Ok(()), "{what}");
        }
        let past: [(&str, &str, Set); 20] = [
            ("timeout", "0", |c| c.timeout = Duration::ZERO),
            ("timeout", "3600.000000001", |c| {
                c.timeout = Duration::new(3600, 1)
            }),
            ("timeout", "10000000000000000000", |c| {
                c.timeout = Duration::from_secs(10_000_000_000_000_000_000)
            }),
            ("retry_delay", "86400.000000001", |c| {
                c.retry_delay = Duration::new(86_400, 1)
            }),
            ("retry_delay", "10000000000000000000", |c| {
                c.retry_delay = Duration::from_secs(10_000_000_000_000_000_000)
            }),
            ("max_retries", "1001", |c| c.max_retries = 1001),
            ("max_retries", "4294967295", |c| c.max_retries = u32::MAX),
            ("backoff.factor", "0.999", |c| {
                c.backoff = Some(Backoff {
                    factor: 0.999,
                    ..Backoff::default()
                })
            }),
            ("backoff.factor", "NaN", |c| {
                c.backoff = Some(Backoff {
                    factor: f64::NAN,
                    ..Backoff::default()
                })
            }),
            ("backoff.factor", "10.001", |c| {
                c.backoff = Some(Backoff {
                    factor: 10.001,
                    ..Backoff::default()
                })
            }),
            ("backoff.max_delay", "86401", |c| {
                c.backoff = Some(Backoff {
                    max_delay: Duration::from_secs(86_401),
                    ..Backoff::default()
                })
            }),
            ("max_concurrency", "0", |c| c.max_concurrency = 0),
            ("max_concurrency", "65537", |c| c.max_concurrency = 65_537),
            ("max_per_host", "0", |c| c.max_per_host = 0),
            ("max_per_host", "18446744073709551615", |c| {
                c.max_per_host = usize::MAX
            }),
            ("rate_per_host", "0.000999", |c| {
                c.rate_per_host = Some(0.000_999)
            }),
            ("rate_per_host", "0.000000000000000000000000000001", |c| {
                c.rate_per_host = Some(1e-30)
            }),
            ("rate_per_host", "1000000.1", |c| {
                c.rate_per_host = Some(1_000_000.1)
            }),
            ("max_body_bytes", "15", |c| c.max_body_bytes = 15),
            ("give_up_on", "600", |c| c.give_up_on = vec![404, 600]),
        ];
        for (key, value, set) in past {
            let mut c = DlrThrowerConfig::default();
            set(&mut c);
            let (k, v, range) = refused(c.validate(), key);
            assert_eq!((k.as_str(), v.as_str()), (key, value));
            assert!(range.contains(" to "), "{key}: {range}");
        }
        let mut c = DlrThrowerConfig {
            max_body_bytes: (1 << 20) + 1,
            ..DlrThrowerConfig::default()
        };
        assert_eq!(refused(c.validate(), "body").0, "max_body_bytes");
        c.max_body_bytes = 16;
        c.pool_idle_per_host = 65_537;
        assert_eq!(refused(c.validate(), "pool").0, "pool_idle_per_host");
        c.pool_idle_per_host = 0;
        c.ack = AckRule::StatusAndBody {
            status: 99,
            body: "ok".into(),
        };
        assert_eq!(refused(c.validate(), "ack").0, "ack.status");
        c.ack = AckRule::default();
        c.max_body_bytes = 16;
        assert_eq!(c.validate(), Ok(()));
        c.ack = AckRule::StatusAndBody {
            status: 200,
            body: "x".repeat(17),
        };
        assert!(
            matches!(c.validate(), Err(DlrConfigError::BadValue { key, .. }) if key == "ack.body")
        );
    }

    #[test]
    fn serde_values_past_their_range_are_refused_by_validate() {
        for (json, key) in [
            (r#"{"timeout": 1e19}"#, "timeout"),
            (r#"{"retry_delay": 1e300}"#, "retry_delay"),
            (r#"{"max_retries": 4294967295}"#, "max_retries"),
            (r#"{"rate_per_host": 1e-30}"#, "rate_per_host"),
        ] {
            let c: DlrThrowerConfig = serde_json::from_str(json).unwrap();
            assert_eq!(refused(c.validate(), json).0, key);
        }
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let mut c = DlrThrowerConfig {
            retry_delay: Duration::from_secs(1),
            ..Default::default()
        };
        assert_eq!(c.delay_after(5), Duration::from_secs(1));
        c.backoff = Some(Backoff {
            factor: 2.0,
            max_delay: Duration::from_secs(10),
            jitter: false,
        });
        assert_eq!(c.delay_after(1), Duration::from_secs(1));
        assert_eq!(c.delay_after(3), Duration::from_secs(4));
        assert_eq!(c.delay_after(60), Duration::from_secs(10));
        assert_eq!(c.delay_after(u32::MAX), Duration::from_secs(10));
        c.backoff = Some(Backoff::default());
        for attempt in 1..5 {
            let d = c.delay_after(attempt);
            let full = Duration::from_secs(1 << (attempt - 1));
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
    }

    #[test]
    fn ack_rule() {
        let jasmin = AckRule::default();
        assert!(jasmin.is_ack(200, b" ACK/Jasmin\r\n"));
        assert!(!jasmin.is_ack(200, b"ACK/jasmin"));
        assert!(!jasmin.is_ack(201, b"ACK/Jasmin"));
        assert!(!jasmin.is_ack(200, b"OK"));
        assert!(AckRule::Any2xx.is_ack(204, b""));
        assert!(!AckRule::Any2xx.is_ack(302, b"ACK/Jasmin"));
    }

    #[test]
    fn serde_round_trip_and_http_timeout_alias() {
        let c: DlrThrowerConfig =
            serde_json::from_str(r#"{"http_timeout": 2, "give_up_on": [404], "ack": "any2xx"}"#)
                .unwrap();
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.ack, AckRule::Any2xx);
        let back: DlrThrowerConfig =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert!(serde_json::from_str::<DlrThrowerConfig>(r#"{"retry_delay": -1}"#).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_a_config_or_an_error(text in "(\\[dlr-thrower\\]\n)?[ -~\n\t]{0,300}") {
            // Hostile input: never a panic; an error names a key or a line.
            if let Err(e) = DlrThrowerConfig::from_jasmin_cfg(&text) {
                proptest::prop_assert!(!e.to_string().is_empty());
            }
        }

        #[test]
        fn values_round_trip(timeout in 1u32..=3600, delay in 0u32..=86_400, retries in 0u32..=1000) {
            let text = format!("[dlr-thrower]\ntimeout={timeout}\nretry_delay = {delay}\nmax_retries : {retries}\n");
            let (c, _) = DlrThrowerConfig::from_jasmin_cfg(&text).unwrap();
            proptest::prop_assert_eq!(c.timeout, Duration::from_secs(timeout.into()));
            proptest::prop_assert_eq!(c.retry_delay, Duration::from_secs(delay.into()));
            proptest::prop_assert_eq!(c.max_retries, retries);
        }
    }
}
