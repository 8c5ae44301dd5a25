//! How a [`StoredMessage`] maps onto a Riak object (the header table is in the `riak` module
//! docs), and how Riak's responses are read.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::message::{Channel, Envelope, HistoryEntry, Resource, StoredMessage};

/// Longest header value written; longer JSON values are split.
pub(crate) const CHUNK: usize = 4000;
/// Most continuation headers read or written for one value (with [`CHUNK`], 256 KB).
pub(crate) const MAX_CHUNKS: usize = 64;
/// Most siblings accepted in one 300 response.
pub(crate) const MAX_SIBLINGS: usize = 1000;

pub(crate) const META: &str = "x-riak-meta-";
pub(crate) const EXPIRES_INDEX: &str = "expires_int";

/// Percent-encodes a path segment: everything but RFC 3986 unreserved characters. A literal `+`
/// must be `%2B` (Riak decodes `+` as a space) and `/` must be `%2F` (a raw `/` is a link walk).
pub(crate) fn encode_segment(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len() * 3);
    for &b in raw {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The Riak key for a msgid. `.` and `..` cannot be sent in a URL path by URL-normalising clients
/// (they are dot segments), so they are stored as `\0.` and `\0..`; no msgid contains NUL, so
/// the mapping is one-to-one.
pub(crate) fn riak_key(msgid: &str) -> String {
    if msgid == "." || msgid == ".." {
        format!("\0{msgid}")
    } else {
        msgid.to_owned()
    }
}

/// The msgid of a Riak key (the inverse of [`riak_key`]).
pub(crate) fn msgid_of_key(key: &str) -> &str {
    match key.strip_prefix('\0') {
        Some(rest @ ("." | "..")) => rest,
        _ => key,
    }
}

/// Percent-encodes what a header value cannot carry as-is.
pub(crate) fn encode_value(raw: &str) -> String {
    let safe = |b: u8| (0x21..=0x7e).contains(&b) && b != b'%';
    if raw.bytes().all(safe) {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len() + 16);
    for &b in raw.as_bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reverses [`encode_value`].
pub(crate) fn decode_value(encoded: &str) -> Result<String, String> {
    if !encoded.contains('%') {
        return Ok(encoded.to_owned());
    }
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape at byte {i}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent-decoded value is not UTF-8".to_owned())
}

/// `<seconds>.<nanoseconds>` since the epoch, with a `-` for times before it.
pub(crate) fn format_time(t: SystemTime) -> String {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => format!("{}.{:09}", d.as_secs(), d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            format!("-{}.{:09}", d.as_secs(), d.subsec_nanos())
        }
    }
}

/// Reverses [`format_time`].
pub(crate) fn parse_time(text: &str) -> Result<SystemTime, String> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (secs, nanos) = rest
        .split_once('.')
        .ok_or_else(|| format!("time {text:?} is not <seconds>.<nanoseconds>"))?;
    let secs: u64 = secs
        .parse()
        .map_err(|_| format!("time {text:?}: bad seconds"))?;
    let nanos: u32 = nanos
        .parse()
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .ok_or_else(|| format!("time {text:?}: bad nanoseconds"))?;
    let d = Duration::new(secs, nanos);
    let t = if negative {
        UNIX_EPOCH.checked_sub(d)
    } else {
        UNIX_EPOCH.checked_add(d)
    };
    t.ok_or_else(|| format!("time {text:?} is out of range"))
}

/// Whole seconds since the epoch for the expiry index (0 for times before the epoch).
pub(crate) fn index_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The nanosecond stamp of a save.
pub(crate) fn nanos_since_epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A Riak object as the store writes it: header names (lowercase) and values, the
/// Content-Type header, and the body.
#[derive(Debug, Clone)]
pub(crate) struct Encoded {
    /// Every header but Content-Type and the vclock.
    pub headers: HeaderMap,
    pub content_type: HeaderValue,
    pub body: Bytes,
}

fn value(text: String) -> Result<HeaderValue, String> {
    HeaderValue::try_from(text).map_err(|e| format!("header value: {e}"))
}

fn push_json(headers: &mut HeaderMap, name: &'static str, json: &[u8]) -> Result<(), String> {
    let what = &name[META.len()..];
    let json = std::str::from_utf8(json).map_err(|_| format!("{what} JSON is not UTF-8"))?;
    let encoded = encode_value(json);
    let chunks = encoded.len().div_ceil(CHUNK).max(1);
    if chunks > MAX_CHUNKS {
        return Err(format!(
            "{what} is {} bytes encoded, more than the {} that fit in Riak headers",
            encoded.len(),
            CHUNK * MAX_CHUNKS
        ));
    }
    if chunks == 1 {
        headers.insert(HeaderName::from_static(name), value(encoded)?);
        return Ok(());
    }
    let mut rest = encoded.as_str();
    for n in 1..=chunks {
        // The encoding is ASCII, so any byte offset is a char boundary.
        let (head, tail) = rest.split_at(rest.len().min(CHUNK));
        rest = tail;
        let header = if n == 1 {
            HeaderName::from_static(name)
        } else {
            HeaderName::try_from(format!("{name}-{n}")).map_err(|e| format!("header name: {e}"))?
        };
        headers.insert(header, value(head.to_owned())?);
    }
    Ok(())
}

const H_REDELIVER: &str = "x-riak-meta-redeliver";
const H_CHANNEL: &str = "x-riak-meta-channel";
const H_MAILFROM: &str = "x-riak-meta-mailfrom";
const H_RCPTTO: &str = "x-riak-meta-rcptto";
const H_CONTENT_TYPE: &str = "x-riak-meta-content-type";
const H_SUBMITTED_AT: &str = "x-riak-meta-submitted-at";
const H_EXPIRES_AT: &str = "x-riak-meta-expires-at";
const H_SAVED_AT: &str = "x-riak-meta-saved-at";
const H_METADATA: &str = "x-riak-meta-metadata";
const H_RESOURCE: &str = "x-riak-meta-resource";
const H_HISTORY: &str = "x-riak-meta-history";
const H_EXPIRES_INDEX: &str = "x-riak-index-expires_int";

/// Encodes a message as a Riak object, stamped with `saved_at`.
pub(crate) fn encode(msg: &StoredMessage, saved_at: u64) -> Result<Encoded, String> {
    let json = |what: &str, r: Result<Vec<u8>, serde_json::Error>| {
        r.map_err(|e| format!("cannot encode {what}: {e}"))
    };
    let mut headers = HeaderMap::with_capacity(16);
    for (name, text) in [
        (H_REDELIVER, "1".to_owned()),
        (H_CHANNEL, msg.channel.to_string()),
        (H_MAILFROM, encode_value(&msg.envelope.mailfrom)),
        (H_RCPTTO, encode_value(&msg.envelope.rcptto)),
        (H_CONTENT_TYPE, encode_value(&msg.content_type)),
        (H_SUBMITTED_AT, format_time(msg.submitted_at)),
        (H_EXPIRES_AT, format_time(msg.expires_at)),
        (H_SAVED_AT, saved_at.to_string()),
        (H_EXPIRES_INDEX, index_secs(msg.expires_at).to_string()),
    ] {
        headers.insert(HeaderName::from_static(name), value(text)?);
    }
    push_json(
        &mut headers,
        H_METADATA,
        &json("metadata", serde_json::to_vec(&msg.metadata))?,
    )?;
    push_json(
        &mut headers,
        H_RESOURCE,
        &json("resource", serde_json::to_vec(&msg.resource))?,
    )?;
    push_json(
        &mut headers,
        H_HISTORY,
        &json("history", serde_json::to_vec(&msg.history))?,
    )?;
    // Riak refuses a PUT without Content-Type; the exact type is in the meta header anyway.
    let content_type = if msg.content_type.is_empty()
        || !msg.content_type.bytes().all(|b| (0x20..0x7f).contains(&b))
    {
        HeaderValue::from_static("application/octet-stream")
    } else {
        value(msg.content_type.clone())?
    };
    Ok(Encoded {
        headers,
        content_type,
        body: msg.body.clone(),
    })
}

/// Case-insensitive access to the headers of one object (a response or a multipart part).
pub(crate) trait HeaderLookup {
    /// The value of header `name` (given lowercase), if present and text.
    fn header(&self, name: &str) -> Option<&str>;
}

impl HeaderLookup for HeaderMap {
    fn header(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| v.to_str().ok())
    }
}

impl HeaderLookup for [(String, String)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `X-Riak-Meta-Saved-At` for `x-riak-meta-saved-at`, the way Riak writes the name back.
fn title(header: &str) -> String {
    let words: Vec<String> = header
        .split('-')
        .map(|w| {
            let mut cs = w.chars();
            cs.next()
                .map(|f| f.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect();
    words.join("-")
}

fn meta<'a>(h: &'a (impl HeaderLookup + ?Sized), header: &str) -> Result<&'a str, String> {
    h.header(header)
        .ok_or_else(|| format!("{} is missing", title(header)))
}

fn meta_json<T: serde::de::DeserializeOwned>(
    h: &(impl HeaderLookup + ?Sized),
    header: &str,
) -> Result<T, String> {
    let first = meta(h, header)?;
    let mut encoded = first.to_owned();
    // Only a full first chunk can have continuations.
    if first.len() >= CHUNK {
        for n in 2..=MAX_CHUNKS {
            match h.header(&format!("{header}-{n}")) {
                Some(more) => encoded.push_str(more),
                None => break,
            }
        }
    }
    let text = decode_value(&encoded).map_err(|e| format!("{}: {e}", title(header)))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", title(header)))
}

/// Decodes an object written by [`encode`]; returns the message and its save stamp. The error
/// says which header was wrong.
pub(crate) fn decode(
    h: &(impl HeaderLookup + ?Sized),
    body: Bytes,
) -> Result<(StoredMessage, u64), String> {
    let version = h.header(H_REDELIVER).ok_or(
        "not a stored message: X-Riak-Meta-Redeliver is missing (written by something else?)",
    )?;
    if version != "1" {
        return Err(format!(
            "X-Riak-Meta-Redeliver is {version:?}; this version reads format 1"
        ));
    }
    let channel = match meta(h, H_CHANNEL)? {
        "smpp" => Channel::Smpp,
        "mm7" => Channel::Mm7,
        other => return Err(format!("X-Riak-Meta-Channel {other:?} is not smpp or mm7")),
    };
    let text = |header: &str| -> Result<String, String> {
        decode_value(meta(h, header)?).map_err(|e| format!("{}: {e}", title(header)))
    };
    let time = |header: &str| -> Result<SystemTime, String> {
        parse_time(meta(h, header)?).map_err(|e| format!("{}: {e}", title(header)))
    };
    let saved_at = meta(h, H_SAVED_AT)?
        .parse::<u64>()
        .map_err(|_| "X-Riak-Meta-Saved-At is not a number".to_owned())?;
    let metadata: BTreeMap<String, String> = meta_json(h, H_METADATA)?;
    let resource: Resource = meta_json(h, H_RESOURCE)?;
    let history: Vec<HistoryEntry> = meta_json(h, H_HISTORY)?;
    let msg = StoredMessage {
        channel,
        envelope: Envelope {
            mailfrom: text(H_MAILFROM)?,
            rcptto: text(H_RCPTTO)?,
        },
        body,
        content_type: text(H_CONTENT_TYPE)?,
        metadata,
        resource,
        submitted_at: time(H_SUBMITTED_AT)?,
        expires_at: time(H_EXPIRES_AT)?,
        history,
    };
    Ok((msg, saved_at))
}

/// One part of a `multipart/mixed` sibling response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    /// Header names as sent, values as sent.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Part {
    /// Whether this sibling is a tombstone (`X-Riak-Deleted: true`).
    pub fn is_tombstone(&self) -> bool {
        self.headers
            .header("x-riak-deleted")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// The sibling's vtag (`Etag`, unquoted in parts).
    pub fn vtag(&self) -> &str {
        self.headers
            .header("etag")
            .map(|v| v.trim().trim_matches('"'))
            .unwrap_or("")
    }
}

/// The `boundary` parameter of a `multipart/mixed` Content-Type.
pub(crate) fn boundary(content_type: &str) -> Option<&str> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"'))
            .filter(|b| !b.is_empty() && b.len() <= 200)
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Splits a `multipart/mixed` body (RFC 2046 §5.1.1) into its parts.
pub(crate) fn parse_multipart(body: &Bytes, boundary: &str) -> Result<Vec<Part>, String> {
    let dash = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    // The first delimiter may open the body or follow a preamble.
    let mut pos = if body.starts_with(dash.as_bytes()) {
        dash.len()
    } else {
        find(body, delimiter.as_bytes(), 0).ok_or("multipart body has no boundary delimiter")?
            + delimiter.len()
    };
    let mut parts = Vec::new();
    loop {
        let rest = body.get(pos..).unwrap_or_default();
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        if parts.len() == MAX_SIBLINGS {
            return Err(format!("more than {MAX_SIBLINGS} siblings"));
        }
        let line_end = find(body, b"\r\n", pos).ok_or("multipart part has no header block")?;
        let header_start = line_end + 2;
        let (headers, body_start) = if body.get(header_start..header_start + 2) == Some(b"\r\n") {
            (Vec::new(), header_start + 2)
        } else {
            let end = find(body, b"\r\n\r\n", header_start)
                .ok_or("multipart part's headers do not end")?;
            let block = std::str::from_utf8(&body[header_start..end])
                .map_err(|_| "multipart part headers are not UTF-8")?;
            let headers = block
                .split("\r\n")
                .map(|line| {
                    line.split_once(':')
                        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                        .ok_or_else(|| format!("multipart header line {line:?} has no ':'"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            (headers, end + 4)
        };
        let body_end = find(body, delimiter.as_bytes(), body_start)
            .ok_or("multipart part is not closed by a delimiter")?;
        parts.push(Part {
            headers,
            body: body.slice(body_start..body_end),
        });
        pos = body_end + delimiter.len();
    }
}

/// A sibling that decoded into a message.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub msg: StoredMessage,
    pub saved_at: u64,
    pub vtag: String,
}

/// Picks the winning sibling: the latest save stamp, ties to the greatest vtag. Tombstones
/// and undecodable siblings never win over a decodable live one.
pub(crate) fn pick(candidates: Vec<Candidate>) -> Option<Candidate> {
    candidates
        .into_iter()
        .max_by(|a, b| (a.saved_at, &a.vtag).cmp(&(b.saved_at, &b.vtag)))
}

/// `{"keys":[…],"continuation":"…"}` from a 2i query.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct IndexPage {
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub continuation: Option<String>,
}

/// `{"buckets":[…]}` from a bucket listing.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct BucketList {
    pub buckets: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::HistoryEvent;
    use proptest::prelude::*;

    fn sample(body: Vec<u8>, meta: BTreeMap<String, String>, text: String) -> StoredMessage {
        let mut msg = StoredMessage::new(
            Channel::Smpp,
            Envelope {
                mailfrom: text.clone(),
                rcptto: format!("{text}@x"),
            },
            body,
        );
        msg.content_type = text.clone();
        msg.metadata = meta;
        msg.record(HistoryEvent::Note { text });
        msg
    }

    proptest! {
        #[test]
        fn message_round_trips_through_riak_headers(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            meta in proptest::collection::btree_map(".{0,10}", ".{0,30}", 0..5),
            text in ".{0,40}",
        ) {
            let msg = sample(body, meta, text);
            let enc = encode(&msg, 42).unwrap();
            for (name, value) in &enc.headers {
                prop_assert!(value.len() <= CHUNK && value.as_bytes().iter().all(|b| (0x21..0x7f).contains(b)), "{name}: {value:?}");
            }
            let (back, saved) = decode(&enc.headers, enc.body.clone()).unwrap();
            prop_assert_eq!(saved, 42);
            prop_assert_eq!(back, msg);
        }

        #[test]
        fn hostile_multipart_bodies_give_errors_not_panics(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_multipart(&Bytes::from(raw.clone()), "B");
            let mut framed = b"\r\n--B\r\n".to_vec();
            framed.extend_from_slice(&raw);
            let _ = parse_multipart(&Bytes::from(framed), "B");
        }

        #[test]
        fn hostile_values_give_errors_not_panics(text in ".{0,40}") {
            let _ = decode_value(&text);
            let _ = parse_time(&text);
        }

        #[test]
        fn keys_map_one_to_one(key in ".{1,20}") {
            prop_assume!(!key.contains('\0'));
            let stored = riak_key(&key);
            prop_assert_eq!(msgid_of_key(&stored), key.as_str());
        }
    }

    #[test]
    fn long_history_is_split_over_numbered_headers() {
        let mut msg = sample(vec![1], BTreeMap::new(), "x".into());
        for n in 0..400 {
            msg.record(HistoryEvent::Note {
                text: format!("note number {n} with some words in it"),
            });
        }
        let enc = encode(&msg, 1).unwrap();
        assert!(
            enc.headers
                .iter()
                .any(|(n, _)| n == "x-riak-meta-history-2")
        );
        assert_eq!(decode(&enc.headers, enc.body).unwrap().0, msg);
        let mut huge = msg.clone();
        huge.metadata
            .insert("big".into(), "x".repeat(CHUNK * MAX_CHUNKS));
        assert!(encode(&huge, 1).unwrap_err().contains("metadata"));
    }

    #[test]
    fn segments_encode_like_riak_needs() {
        assert_eq!(encode_segment(b"+plus"), "%2Bplus");
        assert_eq!(encode_segment(b"a/b"), "a%2Fb");
        assert_eq!(encode_segment("sp ace/ü".as_bytes()), "sp%20ace%2F%C3%BC");
        assert_eq!(encode_segment(b"a%2Fb"), "a%252Fb");
        assert_eq!(encode_segment(b"?q#x"), "%3Fq%23x");
        assert_eq!(encode_segment(riak_key("..").as_bytes()), "%00..");
    }

    #[test]
    fn times_keep_nanoseconds_on_both_sides_of_the_epoch() {
        for t in [
            UNIX_EPOCH + Duration::new(1_700_000_000, 5),
            UNIX_EPOCH - Duration::new(3, 999_999_999),
            UNIX_EPOCH,
        ] {
            assert_eq!(parse_time(&format_time(t)).unwrap(), t);
        }
        assert!(parse_time("12").is_err());
        assert!(parse_time("1.1000000000").is_err());
    }
}
