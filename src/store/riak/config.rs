//! Settings of a [`RiakStore`](super::RiakStore).

use std::time::Duration;

use super::params::RequestParams;
use crate::message::BUCKET_PREFIX;

/// Where the Riak servers are and how to talk to them.
///
/// The defaults follow the seed (`seeds/momentum-mstore-retrying-messages.md`, "The mstore
/// Module"): one server, `127.0.0.1:8098`. Build it with [`RiakConfig::new`] or
/// [`RiakConfig::default`] and set the fields you need.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RiakConfig {
    /// The Riak HTTP endpoints, as `host:port` (the seed's form) or `http://host:port` /
    /// `https://host:port`. With several, every request goes to one picked at random (the seed's
    /// rule) and fails over to the others on connect errors, timeouts and `503`s. A server that
    /// refuses connections or times out is marked down and skipped (see
    /// [`down_backoff_min`](Self::down_backoff_min)).
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
    /// Time limit for one HTTP request to one server, connection and body included.
    pub request_timeout: Duration,
    /// Time limit for one store operation (one `load`, `save`, `delete`, one listing page),
    /// failovers and retries included. Each attempt gets the smaller of
    /// [`request_timeout`](Self::request_timeout) and what is left of this.
    pub operation_timeout: Duration,
    /// Rounds over the servers after the first one fails everywhere, each after a jittered
    /// pause of [`retry_backoff`](Self::retry_backoff) doubled per round. Within a round, a
    /// failed server hands the request to the next one at once.
    pub retries: u32,
    /// The pause before the first retry round (randomised between half and one and a half of it).
    pub retry_backoff: Duration,
    /// How long a server that refused a connection or timed out is skipped before the first
    /// `/ping` probe; each failed probe doubles it, up to
    /// [`down_backoff_max`](Self::down_backoff_max).
    pub down_backoff_min: Duration,
    /// The longest pause between two probes of a down server.
    pub down_backoff_max: Duration,
    /// Riak parameters of [`load`](crate::store::MessageStore::load) (and of the reads
    /// inside `sweep_expired`); see [`RequestParams`] for the defaults and their cost.
    pub load: RequestParams,
    /// Riak parameters of [`save`](crate::store::MessageStore::save) and of the write-back
    /// that resolves siblings.
    pub save: RequestParams,
    /// Riak parameters of [`delete`](crate::store::MessageStore::delete).
    pub delete: RequestParams,
    /// Time limit for opening a connection to one server.
    pub connect_timeout: Duration,
    /// Idle connections kept open per server for reuse.
    pub max_idle_per_server: usize,
    /// Largest response body read, in bytes. Riak's own object limit
    /// (`object.size.maximum`) is 50 MB by default; siblings can make a response bigger.
    pub max_response_bytes: usize,
    /// Msgids fetched per secondary-index page when listing and sweeping.
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
}
