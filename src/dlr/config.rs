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
    pub factor: f64,
    /// The delay never grows past this.
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DlrThrowerConfig {
    /// Bound on one whole attempt: connect, request, response and body.
    #[serde(with = "secs", alias = "http_timeout")]
    pub timeout: Duration,
    /// Wait before each retry.
    #[serde(with = "secs")]
    pub retry_delay: Duration,
    /// Retries after the first attempt: a DLR gets at most `1 + max_retries` attempts.
    pub max_retries: u32,
    /// Grow the delay between retries; `None` waits `retry_delay` every time, as Jasmin does.
    pub backoff: Option<Backoff>,
    /// When a response is an acknowledgement.
    pub ack: AckRule,
    /// Statuses that end a DLR at once instead of being retried (e.g. 404, 410): retrying cannot
    /// fix them. Empty by default, as Jasmin retries every failure.
    pub give_up_on: Vec<u16>,
    /// DLRs in flight at once, over all destinations.
    pub max_concurrency: usize,
    /// DLRs in flight at once to one destination (`scheme://host:port`). Keep it below
    /// `max_concurrency`, so that one slow receiver cannot take every slot.
    pub max_per_host: usize,
    /// Attempts per second to one destination; `None` for no limit.
    pub rate_per_host: Option<f64>,
    /// How much of a response body is read; the ack is a few bytes, so the rest is not needed.
    pub max_body_bytes: usize,
    /// Idle keep-alive connections kept per destination.
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

impl DlrThrowerConfig {
    /// Attempts a DLR gets in all: the first and `max_retries` retries.
    pub fn max_attempts(&self) -> u32 {
        self.max_retries.saturating_add(1)
    }

    /// The wait after failed attempt number `attempt` (1-based): `retry_delay`, grown by the
    /// backoff if there is one.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let Some(b) = &self.backoff else {
            return self.retry_delay;
        };
        let exp = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let grown = self.retry_delay.as_secs_f64() * b.factor.powi(exp);
        let capped = if grown.is_finite() {
            Duration::try_from_secs_f64(grown).map_or(b.max_delay, |d| d.min(b.max_delay))
        } else {
            b.max_delay
        };
        if b.jitter {
            use rand::Rng;
            capped.mul_f64(rand::rng().random_range(0.5..=1.0))
        } else {
            capped
        }
    }

    /// Checks the values against each other; the loaders call it, hosts that build a config by
    /// hand should too.
    pub fn validate(&self) -> Result<(), DlrConfigError> {
        let bad = |key: &str, value: String, reason: &str| {
            Err(DlrConfigError::BadValue {
                key: key.to_owned(),
                value,
                reason: reason.to_owned(),
            })
        };
        if self.timeout.is_zero() {
            return bad("timeout", "0".into(), "must be more than zero");
        }
        if self.max_concurrency == 0 {
            return bad("max_concurrency", "0".into(), "must be at least 1");
        }
        if self.max_per_host == 0 {
            return bad("max_per_host", "0".into(), "must be at least 1");
        }
        if let Some(rate) = self.rate_per_host
            && !(rate.is_finite() && rate > 0.0)
        {
            return bad(
                "rate_per_host",
                rate.to_string(),
                "must be a positive number",
            );
        }
        if let Some(b) = &self.backoff
            && !(b.factor.is_finite() && b.factor >= 1.0)
        {
            return bad("backoff.factor", b.factor.to_string(), "must be at least 1");
        }
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
                "timeout" | "http_timeout" => config.timeout = seconds(&key, value)?,
                "retry_delay" => config.retry_delay = seconds(&key, value)?,
                "max_retries" => {
                    config.max_retries = value.parse().map_err(|_| DlrConfigError::BadValue {
                        key: key.clone(),
                        value: value.to_owned(),
                        reason: "must be a whole number of retries".into(),
                    })?
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

fn seconds(key: &str, value: &str) -> Result<Duration, DlrConfigError> {
    value
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| DlrConfigError::BadValue {
            key: key.to_owned(),
            value: value.to_owned(),
            reason: "must be a non-negative number of seconds".into(),
        })
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
            ("[dlr-thrower]\nhttp_timeout = 0", "timeout"),
            ("[dlr-thrower]\nretry_delay = NaN", "retry_delay"),
            ("[dlr-thrower]\nlog_level = LOUD", "log_level"),
        ] {
            match DlrThrowerConfig::from_jasmin_cfg(text) {
                Err(DlrConfigError::BadValue { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(
            DlrThrowerConfig::from_jasmin_cfg("[dlr-thrower\n"),
            Err(DlrConfigError::Syntax { line: 1, .. })
        ));
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
        fn values_round_trip(timeout in 1u32..100_000, delay in 0u32..100_000, retries: u32) {
            let text = format!("[dlr-thrower]\ntimeout={timeout}\nretry_delay = {delay}\nmax_retries : {retries}\n");
            let (c, _) = DlrThrowerConfig::from_jasmin_cfg(&text).unwrap();
            proptest::prop_assert_eq!(c.timeout, Duration::from_secs(timeout.into()));
            proptest::prop_assert_eq!(c.retry_delay, Duration::from_secs(delay.into()));
            proptest::prop_assert_eq!(c.max_retries, retries);
        }
    }
}
