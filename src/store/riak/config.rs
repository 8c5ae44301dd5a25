//! Settings of a [`RiakStore`](super::RiakStore).

use std::time::Duration;

use super::params::RequestParams;
use crate::message::BUCKET_PREFIX;

/// Where the Riak servers are and how to talk to them.
///
/// The defaults follow the seed (`seeds/momentum-mstore-retrying-messages.md`, "The mstore
/// Module"): one server, `127.0.0.1:8098`. Build it with [`RiakConfig::new`] or
/// [`RiakConfig::default`] and set the fields you need.
///
/// Every duration and count has a valid range, given on its field;
/// [`validate`](Self::validate) (which [`RiakStore::new`](super::RiakStore::new) calls) refuses
/// a value outside it with a [`RiakConfigError`] naming the field, the value and the range.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RiakConfig {
    /// The Riak HTTP endpoints, as `host:port` (the seed's form) or `http://host:port` /
    /// `https://host:port`. With several, every request goes to one picked at random (the seed's
    /// rule) and fails over to the others on connect errors, timeouts and `503`s. A server that
    /// refuses connections or times out is marked down and skipped (see
    /// [`down_backoff_min`](Self::down_backoff_min)). From 1 to 256 servers.
    pub servers: Vec<String>,
    /// The bucket type, if buckets live under one (`/types/{type}/buckets/…`). Bucket types are
    /// created with `allow_mult = true` by default; the store merges the siblings that gives.
    /// A type created with `{"props":{"consistent":true}}` (strong consistency) makes
    /// conditional saves atomic; see the [module documentation](super) for what holds where.
    pub bucket_type: Option<String>,
    /// Whether [`bucket_type`](Self::bucket_type) is strongly consistent (`consistent: true`).
    /// `None` (the default) asks Riak once, by `GET /types/{type}/props`, on the first save or
    /// delete; without a bucket type the default type is never consistent. The store writes
    /// differently on a consistent type: an overwrite reads the current vclock when Riak
    /// refuses a write without it, and a delete reads before it deletes.
    pub consistent: Option<bool>,
    /// Time limit for one HTTP request to one server, connection and body included. Valid
    /// range 1 ms to 3 600 s.
    pub request_timeout: Duration,
    /// Time limit for one store operation (one `load`, `save`, `delete`, one listing page),
    /// failovers and retries included. Each attempt gets the smaller of
    /// [`request_timeout`](Self::request_timeout) and what is left of this. Valid range 1 ms to
    /// 3 600 s.
    pub operation_timeout: Duration,
    /// Rounds over the servers after the first one fails everywhere, each after a jittered
    /// pause of [`retry_backoff`](Self::retry_backoff) doubled per round. Within a round, a
    /// failed server hands the request to the next one at once. Valid range 0 to 100.
    pub retries: u32,
    /// The pause before the first retry round (randomised between half and one and a half of it).
    /// Valid range 0 to 600 s.
    pub retry_backoff: Duration,
    /// How long a server that refused a connection or timed out is skipped before the first
    /// `/ping` probe; each failed probe doubles it, up to
    /// [`down_backoff_max`](Self::down_backoff_max). Valid range 1 ms to 3 600 s.
    pub down_backoff_min: Duration,
    /// The longest pause between two probes of a down server. Valid range
    /// [`down_backoff_min`](Self::down_backoff_min) to 86 400 s.
    pub down_backoff_max: Duration,
    /// Riak parameters of [`load`](crate::store::MessageStore::load) (and of the reads
    /// inside `sweep_expired`); see [`RequestParams`] for the defaults and their cost.
    pub load: RequestParams,
    /// Riak parameters of [`save`](crate::store::MessageStore::save) and of the write-back
    /// that resolves siblings.
    pub save: RequestParams,
    /// Riak parameters of [`delete`](crate::store::MessageStore::delete).
    pub delete: RequestParams,
    /// Time limit for opening a connection to one server. Valid range 1 ms to 3 600 s.
    pub connect_timeout: Duration,
    /// Idle connections kept open per server for reuse. Valid range 0 to 65 536.
    pub max_idle_per_server: usize,
    /// Largest response body read, in bytes. Riak's own object limit
    /// (`object.size.maximum`) is 50 MB by default; siblings can make a response bigger.
    /// Valid range 1 KiB to 1 GiB.
    pub max_response_bytes: usize,
    /// Msgids fetched per secondary-index page when listing and sweeping. Valid range 1 to
    /// 100 000.
    pub page_size: u32,
    /// [`sweep_expired`](crate::store::MessageStore::sweep_expired) sweeps the buckets whose
    /// name starts with this prefix (default `MADR-`, the seed's bucket prefix), so objects of
    /// other applications that happen to carry an `expires_int` index are never touched.
    pub sweep_bucket_prefix: String,
}

impl Default for RiakConfig {
    fn default() -> Self {
        Self {
            servers: vec!["127.0.0.1:8098".to_owned()],
            bucket_type: None,
            consistent: None,
            request_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(10),
            retries: 2,
            retry_backoff: Duration::from_millis(100),
            down_backoff_min: Duration::from_secs(1),
            down_backoff_max: Duration::from_secs(30),
            load: RequestParams::default(),
            save: RequestParams::default(),
            delete: RequestParams::default(),
            connect_timeout: Duration::from_secs(2),
            max_idle_per_server: 128,
            max_response_bytes: 128 * 1024 * 1024,
            page_size: 1000,
            sweep_bucket_prefix: BUCKET_PREFIX.to_owned(),
        }
    }
}

impl RiakConfig {
    /// The defaults, with these servers.
    pub fn new<S: Into<String>>(servers: impl IntoIterator<Item = S>) -> Self {
        Self {
            servers: servers.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Sets [`bucket_type`](Self::bucket_type).
    pub fn with_bucket_type(mut self, bucket_type: impl Into<String>) -> Self {
        self.bucket_type = Some(bucket_type.into());
        self
    }

    /// Sets [`consistent`](Self::consistent): whether the bucket type is strongly consistent,
    /// instead of asking Riak.
    pub fn with_consistent(mut self, consistent: bool) -> Self {
        self.consistent = Some(consistent);
        self
    }

    /// Sets [`request_timeout`](Self::request_timeout).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`operation_timeout`](Self::operation_timeout).
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Sets [`retries`](Self::retries) and [`retry_backoff`](Self::retry_backoff).
    pub fn with_retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.retries = retries;
        self.retry_backoff = backoff;
        self
    }

    /// Sets [`down_backoff_min`](Self::down_backoff_min) and
    /// [`down_backoff_max`](Self::down_backoff_max).
    pub fn with_down_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.down_backoff_min = min;
        self.down_backoff_max = max;
        self
    }

    /// Uses `params` for every operation (`load`, `save`, `delete`).
    pub fn with_params(mut self, params: RequestParams) -> Self {
        self.load = params.clone();
        self.save = params.clone();
        self.delete = params;
        self
    }

    /// Sets the parameters of [`load`](Self::load).
    pub fn with_load_params(mut self, params: RequestParams) -> Self {
        self.load = params;
        self
    }

    /// Sets the parameters of [`save`](Self::save).
    pub fn with_save_params(mut self, params: RequestParams) -> Self {
        self.save = params;
        self
    }

    /// Sets the parameters of [`delete`](Self::delete).
    pub fn with_delete_params(mut self, params: RequestParams) -> Self {
        self.delete = params;
        self
    }

    /// Checks every field against its valid range (given on each field) and the Riak request
    /// `timeout` of [`load`](Self::load), [`save`](Self::save) and [`delete`](Self::delete)
    /// (1 ms to 3 600 s when set).
    pub fn validate(&self) -> Result<(), RiakConfigError> {
        let count = |key: &'static str, value: u64, min: u64, max: u64| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(RiakConfigError {
                    key,
                    value: value.to_string(),
                    range: format!("{min} to {max}"),
                })
            }
        };
        let secs = |key: &'static str, value: Duration, min: Duration, max: Duration| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(RiakConfigError {
                    key,
                    value: format!("{:?}", value),
                    range: format!("{min:?} to {max:?}"),
                })
            }
        };
        let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let ms = Duration::from_millis(1);
        let hour = Duration::from_secs(3600);
        count("servers (count)", as_u64(self.servers.len()), 1, 256)?;
        secs("request_timeout", self.request_timeout, ms, hour)?;
        secs("operation_timeout", self.operation_timeout, ms, hour)?;
        secs("connect_timeout", self.connect_timeout, ms, hour)?;
        count("retries", self.retries.into(), 0, 100)?;
        secs(
            "retry_backoff",
            self.retry_backoff,
            Duration::ZERO,
            Duration::from_secs(600),
        )?;
        secs("down_backoff_min", self.down_backoff_min, ms, hour)?;
        secs(
            "down_backoff_max",
            self.down_backoff_max,
            self.down_backoff_min,
            Duration::from_secs(86_400),
        )?;
        count(
            "max_idle_per_server",
            as_u64(self.max_idle_per_server),
            0,
            65_536,
        )?;
        count(
            "max_response_bytes",
            as_u64(self.max_response_bytes),
            1024,
            1 << 30,
        )?;
        count("page_size", self.page_size.into(), 1, 100_000)?;
        for (key, params) in [
            ("load.timeout", &self.load),
            ("save.timeout", &self.save),
            ("delete.timeout", &self.delete),
        ] {
            if let Some(t) = params.timeout {
                secs(key, t, ms, hour)?;
            }
        }
        Ok(())
    }
}

/// A [`RiakConfig`] value outside its valid range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("riak: {key} = {value}: outside the valid range {range}")]
pub struct RiakConfigError {
    /// The field (`load.timeout` for a nested one).
    pub key: &'static str,
    /// The value given.
    pub value: String,
    /// The valid range, with its unit.
    pub range: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_at_and_past_its_boundaries() {
        type Set = fn(&mut RiakConfig);
        let at: [Set; 12] = [
            |c| c.servers = vec!["a:1".into(); 256],
            |c| c.request_timeout = Duration::from_millis(1),
            |c| c.operation_timeout = Duration::from_secs(3600),
            |c| c.connect_timeout = Duration::from_secs(3600),
            |c| c.retries = 100,
            |c| c.retry_backoff = Duration::from_secs(600),
            |c| {
                c.down_backoff_min = Duration::from_secs(3600);
                c.down_backoff_max = Duration::from_secs(3600);
            },
            |c| c.down_backoff_max = Duration::from_secs(86_400),
            |c| c.max_idle_per_server = 65_536,
            |c| c.max_response_bytes = 1024,
            |c| c.page_size = 100_000,
            |c| c.load.timeout = Some(Duration::from_secs(3600)),
        ];
        for (n, set) in at.into_iter().enumerate() {
            let mut c = RiakConfig::default();
            set(&mut c);
            assert_eq!(c.validate(), Ok(()), "case {n}");
        }
        let past: [(&str, Set); 17] = [
            ("servers (count)", |c| c.servers.clear()),
            ("servers (count)", |c| c.servers = vec!["a:1".into(); 257]),
            ("request_timeout", |c| c.request_timeout = Duration::ZERO),
            ("request_timeout", |c| c.request_timeout = Duration::MAX),
            ("operation_timeout", |c| {
                c.operation_timeout = Duration::new(3600, 1)
            }),
            ("connect_timeout", |c| c.connect_timeout = Duration::ZERO),
            ("retries", |c| c.retries = 101),
            ("retry_backoff", |c| c.retry_backoff = Duration::new(600, 1)),
            ("down_backoff_min", |c| c.down_backoff_min = Duration::ZERO),
            ("down_backoff_max", |c| {
                c.down_backoff_max = Duration::from_millis(999)
            }),
            ("down_backoff_max", |c| {
                c.down_backoff_max = Duration::from_secs(86_401)
            }),
            ("max_idle_per_server", |c| c.max_idle_per_server = 65_537),
            ("max_response_bytes", |c| c.max_response_bytes = 1023),
            ("max_response_bytes", |c| c.max_response_bytes = usize::MAX),
            ("page_size", |c| c.page_size = 0),
            ("page_size", |c| c.page_size = 100_001),
            ("save.timeout", |c| c.save.timeout = Some(Duration::ZERO)),
        ];
        for (key, set) in past {
            let mut c = RiakConfig::default();
            set(&mut c);
            let err = c.validate().unwrap_err();
            assert_eq!(err.key, key, "{err}");
            let shown = err.to_string();
            assert!(
                shown.contains(key) && shown.contains(&err.value) && shown.contains(" to "),
                "{shown}"
            );
        }
    }
}
