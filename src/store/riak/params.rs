//! Riak KV request parameters (quorums, `notfound_ok`, `basic_quorum`, `timeout`) and the
//! defaults this crate picks for a message store.
//!
//! Riak answers a `GET` as soon as `r` of the `n_val` replicas (3 by default) have answered, and
//! with Riak's own defaults (`r = quorum`, `notfound_ok = true`) a "not found" from a *fallback*
//! replica — an empty stand-in for a node that is down — counts as an answer. With one node of a
//! cluster down, such a read says "not found" for a message that the surviving primary replica
//! holds (measured on Riak KV 3.2.2, 3 nodes, `n_val` 3: 6 of 50 existing keys). For a message
//! store that is the worst possible answer: the engine would bounce or drop a receipt that should
//! have been rerouted. The defaults below make a read say "not found" only when *every* replica
//! it reached said so.

use std::fmt;
use std::time::Duration;

/// A Riak quorum value: how many replicas (`r`, `w`, `dw`) or primary replicas (`pr`, `pw`)
/// must answer (Riak KV HTTP API, "Fetch Object" / "Store Object" query parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Quorum {
    /// Not sent: the bucket's property (or Riak's default) applies.
    BucketDefault,
    /// `one`: a single replica.
    One,
    /// `quorum`: a majority of `n_val` (2 of 3).
    Quorum,
    /// `all`: every one of the `n_val` replicas.
    All,
    /// A number of replicas. `0` is meaningful for `pr` and `pw` (no primary required); Riak
    /// refuses a number above the bucket's `n_val` with a `400`.
    Count(u32),
}

impl Quorum {
    /// The query-string value, or `None` for [`Quorum::BucketDefault`].
    pub fn as_query_value(&self) -> Option<String> {
        match self {
            Quorum::BucketDefault => None,
            Quorum::One => Some("one".into()),
            Quorum::Quorum => Some("quorum".into()),
            Quorum::All => Some("all".into()),
            Quorum::Count(n) => Some(n.to_string()),
        }
    }
}

impl fmt::Display for Quorum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_query_value() {
            Some(v) => f.write_str(&v),
            None => f.write_str("default"),
        }
    }
}

/// The Riak request parameters of one kind of operation ([`RiakConfig::load`],
/// [`RiakConfig::save`], [`RiakConfig::delete`]), or of one call
/// ([`RiakStore::load_with`](super::RiakStore::load_with) and friends).
///
/// A `GET` (load) sends `r`, `pr`, `notfound_ok`, `basic_quorum` and `timeout`; a `PUT` (save)
/// sends `w`, `pw`, `dw` and `timeout`; a `DELETE` sends `r`, `pr`, `w`, `pw`, `dw` and
/// `timeout` (Riak reads the object before it writes the tombstone). `None` and
/// [`Quorum::BucketDefault`] send nothing, so the bucket's properties apply.
///
/// # The defaults, and what they cost
///
/// | parameter | default | why | cost |
/// | --- | --- | --- | --- |
/// | `r` | `one` | answer as soon as one replica returns the message: a single surviving replica is enough | a read may return an older version of an *updated* message (read repair fixes the replicas right after); the message's presence is what matters here |
/// | `pr` | `0` | do not require primaries: with a node down, the ring can put two of three replicas on it, and `pr = 2` then answers `503` for about half the keys (measured: 29 of 50) | none |
/// | `notfound_ok` | `false` | a "not found" from a fallback replica does not count as an answer | a read of a missing key waits for every replica before it answers `404` (one extra round trip inside the cluster, no extra HTTP request) |
/// | `basic_quorum` | `false` | do not stop after a majority of "not found"s: the one replica holding the message may answer last | same as above: misses are never cut short |
/// | `w` | `quorum` | a save is acknowledged by 2 of 3 replicas (fallbacks count, so saves keep working with a node down) | the save waits for the second-fastest replica |
/// | `pw` | `0` | fallbacks may take writes while a node is down (hinted handoff moves them home later) | none |
/// | `dw` | `quorum` | 2 replicas have handed the object to their storage backend before the save returns | the save waits for the backend write on 2 replicas |
/// | `timeout` | 4 s | Riak gives up on a slow quorum and answers `503` before the client's own [`RiakConfig::request_timeout`] (5 s) fires | none; keep it below `request_timeout` |
///
/// With these, `load` returns "not found" only when every replica it reached said so; when it
/// cannot tell (a `503` for an unmet quorum, a timeout, no server answering) it returns a
/// retryable [`StoreError::Unavailable`](crate::store::StoreError::Unavailable).
///
/// [`RiakConfig::load`]: super::RiakConfig::load
/// [`RiakConfig::save`]: super::RiakConfig::save
/// [`RiakConfig::delete`]: super::RiakConfig::delete
/// [`RiakConfig::request_timeout`]: super::RiakConfig::request_timeout
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestParams {
    /// `r`: replicas that must return the object (or a tombstone) before a read answers.
    pub r: Quorum,
    /// `pr`: of those, how many must be primary replicas; unmet gives `503 PR-value unsatisfied`.
    pub pr: Quorum,
    /// `w`: replicas that must acknowledge a write.
    pub w: Quorum,
    /// `pw`: of those, how many must be primaries; unmet gives `503 PW-value unsatisfied`.
    pub pw: Quorum,
    /// `dw`: replicas that must have written to their storage backend.
    pub dw: Quorum,
    /// `notfound_ok`: whether a replica's "not found" counts toward `r`.
    pub notfound_ok: Option<bool>,
    /// `basic_quorum`: whether a read stops with "not found" once a majority said so.
    pub basic_quorum: Option<bool>,
    /// `timeout`: how long Riak's coordinating node waits for the replicas before it answers
    /// `503` (sent in milliseconds).
    pub timeout: Option<Duration>,
}

impl Default for RequestParams {
    fn default() -> Self {
        Self {
            r: Quorum::One,
            pr: Quorum::Count(0),
            w: Quorum::Quorum,
            pw: Quorum::Count(0),
            dw: Quorum::Quorum,
            notfound_ok: Some(false),
            basic_quorum: Some(false),
            timeout: Some(Duration::from_secs(4)),
        }
    }
}

/// Which request a parameter set is applied to (the discriminant indexes per-verb arrays).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get = 0,
    Put = 1,
    Delete = 2,
}

impl RequestParams {
    /// Riak's own behaviour: no parameter is sent, the bucket's properties apply
    /// (`r = w = dw = quorum`, `notfound_ok = true`, `basic_quorum = false`, 60 s timeout).
    /// Reads can then say "not found" for a message a surviving replica holds.
    pub fn bucket_defaults() -> Self {
        Self {
            r: Quorum::BucketDefault,
            pr: Quorum::BucketDefault,
            w: Quorum::BucketDefault,
            pw: Quorum::BucketDefault,
            dw: Quorum::BucketDefault,
            notfound_ok: None,
            basic_quorum: None,
            timeout: None,
        }
    }

    /// Sets [`r`](Self::r).
    pub fn with_r(mut self, r: Quorum) -> Self {
        self.r = r;
        self
    }

    /// Sets [`pr`](Self::pr).
    pub fn with_pr(mut self, pr: Quorum) -> Self {
        self.pr = pr;
        self
    }

    /// Sets [`w`](Self::w).
    pub fn with_w(mut self, w: Quorum) -> Self {
        self.w = w;
        self
    }

    /// Sets [`pw`](Self::pw).
    pub fn with_pw(mut self, pw: Quorum) -> Self {
        self.pw = pw;
        self
    }

    /// Sets [`dw`](Self::dw).
    pub fn with_dw(mut self, dw: Quorum) -> Self {
        self.dw = dw;
        self
    }

    /// Sets [`notfound_ok`](Self::notfound_ok).
    pub fn with_notfound_ok(mut self, notfound_ok: Option<bool>) -> Self {
        self.notfound_ok = notfound_ok;
        self
    }

    /// Sets [`basic_quorum`](Self::basic_quorum).
    pub fn with_basic_quorum(mut self, basic_quorum: Option<bool>) -> Self {
        self.basic_quorum = basic_quorum;
        self
    }

    /// Sets [`timeout`](Self::timeout).
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The query string (without `?`, possibly empty) for a request of this kind.
    pub(crate) fn query(&self, verb: Verb) -> String {
        fn push(out: &mut String, name: &str, value: Option<&str>) {
            let Some(value) = value else { return };
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(name);
            out.push('=');
            out.push_str(value);
        }
        let word = |b: Option<bool>| b.map(|b| if b { "true" } else { "false" });
        let mut out = String::with_capacity(64);
        if matches!(verb, Verb::Get | Verb::Delete) {
            push(&mut out, "r", self.r.as_query_value().as_deref());
            push(&mut out, "pr", self.pr.as_query_value().as_deref());
        }
        if matches!(verb, Verb::Put | Verb::Delete) {
            push(&mut out, "w", self.w.as_query_value().as_deref());
            push(&mut out, "pw", self.pw.as_query_value().as_deref());
            push(&mut out, "dw", self.dw.as_query_value().as_deref());
        }
        if verb == Verb::Get {
            push(&mut out, "notfound_ok", word(self.notfound_ok));
            push(&mut out, "basic_quorum", word(self.basic_quorum));
        }
        // Riak takes whole milliseconds and treats 0 as "time out at once".
        let timeout = self.timeout.map(|t| t.as_millis().max(1).to_string());
        push(&mut out, "timeout", timeout.as_deref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_never_count_a_fallback_not_found() {
        let p = RequestParams::default();
        assert_eq!(
            p.query(Verb::Get),
            "r=one&pr=0&notfound_ok=false&basic_quorum=false&timeout=4000"
        );
        assert_eq!(p.query(Verb::Put), "w=quorum&pw=0&dw=quorum&timeout=4000");
        assert_eq!(
            p.query(Verb::Delete),
            "r=one&pr=0&w=quorum&pw=0&dw=quorum&timeout=4000"
        );
    }

    #[test]
    fn bucket_defaults_send_nothing() {
        let p = RequestParams::bucket_defaults();
        for verb in [Verb::Get, Verb::Put, Verb::Delete] {
            assert_eq!(p.query(verb), "");
        }
    }

    #[test]
    fn numbers_and_words_render_as_riak_expects() {
        let p = RequestParams::bucket_defaults()
            .with_r(Quorum::All)
            .with_pr(Quorum::Count(2))
            .with_notfound_ok(Some(true))
            .with_timeout(Some(Duration::from_micros(10)));
        assert_eq!(p.query(Verb::Get), "r=all&pr=2&notfound_ok=true&timeout=1");
        assert_eq!(Quorum::BucketDefault.to_string(), "default");
    }
}
