//! Settings of a [`RiakStore`](super::RiakStore).

use std::time::Duration;

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
    /// rule) and fails over to the others on connect errors, timeouts and `503`s.
    pub servers: Vec<String>,
    /// The bucket type, if buckets live under one (`/types/{type}/buckets/…`). Bucket types are
    /// created with `allow_mult = true` by default; the store resolves the siblings that gives.
    pub bucket_type: Option<String>,
    /// Time limit for one HTTP request to one server, connection and body included.
    pub request_timeout: Duration,
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
            request_timeout: Duration::from_secs(5),
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
}
