//! Settings of a [`RiakStore`](super::RiakStore).

use std::time::Duration;

use super::params::RequestParams;
use crate::message::{BUCKET_PREFIX, Bucket};

/// Most entries in [`RiakConfig::buckets`].
pub const MAX_CONFIGURED_BUCKETS: usize = 65_536;

/// How often [`due`](crate::store::MessageStore::due) and
/// [`sweep_expired`](crate::store::MessageStore::sweep_expired) may ask Riak for its list of
/// buckets (`GET /buckets?buckets=true`), [`RiakConfig::bucket_listing`].
///
/// Riak builds that list by walking every key in the cluster, and its documentation says not to
/// use it in production; every gateway node's timer would ask for it. Naming the buckets in
/// [`RiakConfig::buckets`] makes it unnecessary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BucketListing {
    /// The default: at most once a minute when [`RiakConfig::buckets`] is empty (so a store
    /// configured with nothing but its servers finds the due records and expired messages that
    /// other nodes wrote, as it always did), never when it names buckets.
    #[default]
    UnlessBucketsConfigured,
    /// At most once per this interval, whether buckets are configured or not. Valid range 1 s
    /// to 86 400 s.
    Every(Duration),
    /// Never. `due` and `sweep_expired` ask only [`RiakConfig::buckets`] and the buckets this
    /// client has saved into.
    Never,
}

impl BucketListing {
    /// The interval of the default, [`UnlessBucketsConfigured`](Self::UnlessBucketsConfigured).
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

    /// How often the listing may be asked for under `config`, or `None` for never.
    pub fn interval(self, config: &RiakConfig) -> Option<Duration> {
        match self {
            Self::UnlessBucketsConfigured if config.buckets.is_empty() => {
                Some(Self::DEFAULT_INTERVAL)
            }
            Self::UnlessBucketsConfigured | Self::Never => None,
            Self::Every(every) => Some(every),
        }
    }
}

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
    /// [`due`](crate::store::MessageStore::due) asks the same buckets. The prefix picks among
    /// the buckets Riak lists and those this client saved into; the [`buckets`](Self::buckets)
    /// named in the configuration are asked whatever their name.
    pub sweep_bucket_prefix: String,
    /// The buckets [`due`](crate::store::MessageStore::due) and
    /// [`sweep_expired`](crate::store::MessageStore::sweep_expired) ask, besides those this
    /// client has saved into: for this crate `MADR-<shortcode>` for every shortcode the
    /// gateway serves and `MADR-MM7` (see
    /// [`Bucket::for_submission`](crate::message::Bucket::for_submission)). Default: none.
    ///
    /// Naming them lets every node find the due records (abandoned claims, parked receipts) and
    /// expired messages that other nodes wrote, without Riak's bucket listing, which walks
    /// every key in the cluster; with buckets named, the default
    /// [`bucket_listing`](Self::bucket_listing) never asks for it. Each must be a valid
    /// [`Bucket`] name; at most [`MAX_CONFIGURED_BUCKETS`].
    pub buckets: Vec<String>,
    /// Whether and how often Riak's list of buckets may be asked for, to find buckets neither
    /// configured nor saved into by this client. Default
    /// [`BucketListing::UnlessBucketsConfigured`]: once a minute without
    /// [`buckets`](Self::buckets), never with them.
    ///
    /// Without listing and without configured buckets, a node finds only what lies in buckets
    /// it saved into since it started: a claim left by a node that died in a bucket this node
    /// never wrote to is not recovered by it.
    pub bucket_listing: BucketListing,
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
            buckets: Vec::new(),
            bucket_listing: BucketListing::default(),
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

    /// Sets [`buckets`](Self::buckets): the buckets `due` and `sweep_expired` ask besides
    /// those this client saved into. With the default
    /// [`bucket_listing`](Self::bucket_listing), naming buckets also stops Riak's bucket
    /// listing.
    ///
    /// ```
    /// use redeliver::store::RiakConfig;
    ///
    /// let config = RiakConfig::new(["10.0.0.1:8098", "10.0.0.2:8098"])
    ///     .with_buckets(["MADR-12345", "MADR-67890", "MADR-MM7"]);
    /// assert_eq!(config.bucket_listing.interval(&config), None);
    /// ```
    pub fn with_buckets<S: Into<String>>(mut self, buckets: impl IntoIterator<Item = S>) -> Self {
        self.buckets = buckets.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`bucket_listing`](Self::bucket_listing).
    pub fn with_bucket_listing(mut self, listing: BucketListing) -> Self {
        self.bucket_listing = listing;
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
        count(
            "buckets (count)",
            as_u64(self.buckets.len()),
            0,
            as_u64(MAX_CONFIGURED_BUCKETS),
        )?;
        if let Some(bad) = self
            .buckets
            .iter()
            .find(|b| Bucket::new(b.as_str()).is_err())
        {
            return Err(RiakConfigError {
                key: "buckets",
                value: format!("{bad:?}"),
                range: format!(
                    "1 to {} bytes without control characters or '/'",
                    crate::message::MAX_BUCKET_LEN
                ),
            });
        }
        if let BucketListing::Every(every) = self.bucket_listing {
            secs(
                "bucket_listing",
                every,
                Duration::from_secs(1),
                Duration::from_secs(86_400),
            )?;
        }
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
        let at: [Set; 16] = [
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
            |c| c.buckets = vec!["MADR-12345".into(), "x".repeat(255)],
            |c| c.buckets = vec!["b".into(); MAX_CONFIGURED_BUCKETS],
            |c| c.bucket_listing = BucketListing::Every(Duration::from_secs(1)),
            |c| c.bucket_listing = BucketListing::Every(Duration::from_secs(86_400)),
        ];
        for (n, set) in at.into_iter().enumerate() {
            let mut c = RiakConfig::default();
            set(&mut c);
            assert_eq!(c.validate(), Ok(()), "case {n}");
        }
        let past: [(&str, Set); 22] = [
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
            ("buckets", |c| {
                c.buckets = vec!["MADR-1".into(), String::new()]
            }),
            ("buckets", |c| c.buckets = vec!["MADR-1/2".into()]),
            ("buckets (count)", |c| {
                c.buckets = vec!["b".into(); MAX_CONFIGURED_BUCKETS + 1]
            }),
            ("bucket_listing", |c| {
                c.bucket_listing = BucketListing::Every(Duration::from_millis(999))
            }),
            ("bucket_listing", |c| {
                c.bucket_listing = BucketListing::Every(Duration::from_secs(86_401))
            }),
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

    #[test]
    fn bucket_listing_is_off_by_default_once_buckets_are_named() {
        let plain = RiakConfig::default();
        assert_eq!(plain.bucket_listing, BucketListing::UnlessBucketsConfigured);
        assert_eq!(
            plain.bucket_listing.interval(&plain),
            Some(Duration::from_secs(60))
        );
        let named = RiakConfig::default().with_buckets(["MADR-12345", "MADR-MM7"]);
        assert_eq!(named.bucket_listing.interval(&named), None);
        let both = named
            .clone()
            .with_bucket_listing(BucketListing::Every(Duration::from_secs(600)));
        assert_eq!(
            both.bucket_listing.interval(&both),
            Some(Duration::from_secs(600))
        );
        let never = plain.with_bucket_listing(BucketListing::Never);
        assert_eq!(never.bucket_listing.interval(&never), None);
    }
}
