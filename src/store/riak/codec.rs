//! How a [`StoredMessage`] maps onto a Riak object (the header table is in the `riak` module
//! docs), and how Riak's responses are read.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
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
/// The secondary index of records with a due time (`redeliver.due`, milliseconds).
pub(crate) const DUE_INDEX: &str = "due_int";

/// Percent-encodes a path segment: everything but RFC 3986 unreserved characters. A literal `+`
/// must be `%2B` (Riak decodes `+` as a space) and `/` must be `%2F` (a raw `/` is a link walk).
pub(crate) fn encode_segment(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len() + 16);
    push_segment(&mut out, raw);
    out
}

/// [`encode_segment`] appended to `out`.
pub(crate) fn push_segment(out: &mut String, raw: &[u8]) {
    crate::util::push_percent_encoded(out, raw, crate::util::Space::Percent);
}

/// The Riak key for a msgid. `.` and `..` cannot be sent in a URL path by URL-normalising clients
/// (they are dot segments), so they are stored as `\0.` and `\0..`; no msgid contains NUL, so
/// the mapping is one-to-one.
pub(crate) fn riak_key(msgid: &str) -> Cow<'_, str> {
    if msgid == "." || msgid == ".." {
        Cow::Owned(format!("\0{msgid}"))
    } else {
        Cow::Borrowed(msgid)
    }
}

/// The msgid of a Riak key (the inverse of [`riak_key`]).
pub(crate) fn msgid_of_key(key: &str) -> &str {
    match key.strip_prefix('\0') {
        Some(rest @ ("." | "..")) => rest,
        _ => key,
    }
}

/// Whether a byte goes into a header value as it is: visible ASCII but `%`.
const VALUE_SAFE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x21;
    while b <= 0x7e {
        table[b] = b != b'%' as usize;
        b += 1;
    }
    table
};

/// Appends `raw` to `out`, percent-encoding what a header value cannot carry as it is
/// (controls, spaces, `%`, non-ASCII).
fn push_value(out: &mut BytesMut, raw: &[u8]) {
    let mut rest = raw;
    while !rest.is_empty() {
        let safe = safe_prefix(rest);
        out.extend_from_slice(&rest[..safe]);
        if let Some(&b) = rest.get(safe) {
            out.extend_from_slice(&crate::util::percent_escape(b));
            rest = &rest[safe + 1..];
        } else {
            rest = &[];
        }
    }
}

/// How many bytes at the start of `raw` go into a header value as they are. Eight bytes at a
/// time while none of them needs escaping, then byte by byte.
fn safe_prefix(raw: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Non-zero if some byte of `x` is below `n` (`n` at most 0x80); bytes with the high bit
    // set are caught separately.
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGH;
    let mut start = 0;
    for chunk in raw.chunks_exact(8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("chunks of eight"));
        let unsafe_bytes = below(x, 0x21)
            | (x & HIGH)
            | below(x ^ (ONES * 0x7f), 1)
            | below(x ^ (ONES * u64::from(b'%')), 1);
        if unsafe_bytes != 0 {
            break;
        }
        start += 8;
    }
    start
        + raw[start..]
            .iter()
            .position(|&b| !VALUE_SAFE[usize::from(b)])
            .unwrap_or(raw.len() - start)
}

/// Reverses [`push_value`].
pub(crate) fn decode_value(encoded: &str) -> Result<Cow<'_, str>, String> {
    if !encoded.contains('%') {
        return Ok(Cow::Borrowed(encoded));
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
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| "percent-decoded value is not UTF-8".to_owned())
}

/// `<seconds>.<nanoseconds>` since the epoch, with a `-` for times before it.
#[cfg(test)]
pub(crate) fn format_time(t: SystemTime) -> String {
    let mut out = String::new();
    write_time(&mut out, t).expect("writing to a String cannot fail");
    out
}

/// [`format_time`], written to `out`.
fn write_time(out: &mut impl fmt::Write, t: SystemTime) -> fmt::Result {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => write!(out, "{}.{:09}", d.as_secs(), d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            write!(out, "-{}.{:09}", d.as_secs(), d.subsec_nanos())
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

/// Header values written one after another into one buffer and handed out as slices of it:
/// one allocation for all the values of an object, and cloning its headers (once per attempt)
/// copies no bytes.
struct Values {
    buf: BytesMut,
    /// Where JSON is written before it is escaped into `buf`.
    json: Vec<u8>,
}

impl Values {
    /// What has been written since the last value, as a header value.
    fn take(&mut self) -> Result<HeaderValue, String> {
        HeaderValue::from_maybe_shared(self.buf.split().freeze())
            .map_err(|e| format!("header value: {e}"))
    }

    /// `raw`, percent-encoded where a header could not carry it.
    fn text(&mut self, raw: &str) -> Result<HeaderValue, String> {
        push_value(&mut self.buf, raw.as_bytes());
        self.take()
    }

    fn time(&mut self, t: SystemTime) -> Result<HeaderValue, String> {
        write_time(&mut self.buf, t).map_err(|e| format!("header value: {e}"))?;
        self.take()
    }

    fn number(&mut self, n: u64) -> Result<HeaderValue, String> {
        write!(self.buf, "{n}").map_err(|e| format!("header value: {e}"))?;
        self.take()
    }

    /// `value` as JSON, percent-encoded, under `header` and, past [`CHUNK`] bytes, its
    /// continuations `…-2`, `…-3`.
    fn json(
        &mut self,
        headers: &mut HeaderMap,
        header: Name,
        value: &impl serde::Serialize,
    ) -> Result<(), String> {
        let name = header.text;
        let what = &name[META.len()..];
        self.json.clear();
        serde_json::to_writer(&mut self.json, value)
            .map_err(|e| format!("cannot encode {what}: {e}"))?;
        push_value(&mut self.buf, &self.json);
        let mut encoded = self.buf.split().freeze();
        let chunks = encoded.len().div_ceil(CHUNK).max(1);
        if chunks > MAX_CHUNKS {
            return Err(format!(
                "{what} is {} bytes encoded, more than the {} that fit in Riak headers",
                encoded.len(),
                CHUNK * MAX_CHUNKS
            ));
        }
        for n in 1..=chunks {
            let part = encoded.split_to(encoded.len().min(CHUNK));
            let value =
                HeaderValue::from_maybe_shared(part).map_err(|e| format!("header value: {e}"))?;
            let header = if n == 1 {
                header.name.clone()
            } else {
                HeaderName::try_from(format!("{name}-{n}"))
                    .map_err(|e| format!("header name: {e}"))?
            };
            headers.insert(header, value);
        }
        Ok(())
    }
}

/// A header this crate reads and writes: its lowercase text and its parsed name (parsed at
/// compile time, so lookups and inserts skip parsing the name).
pub(crate) struct Name {
    pub text: &'static str,
    pub name: HeaderName,
}

impl Name {
    const fn new(text: &'static str) -> Self {
        Self {
            text,
            name: HeaderName::from_static(text),
        }
    }
}

const H_REDELIVER: Name = Name::new("x-riak-meta-redeliver");
const H_CHANNEL: Name = Name::new("x-riak-meta-channel");
const H_MAILFROM: Name = Name::new("x-riak-meta-mailfrom");
const H_RCPTTO: Name = Name::new("x-riak-meta-rcptto");
const H_CONTENT_TYPE: Name = Name::new("x-riak-meta-content-type");
const H_SUBMITTED_AT: Name = Name::new("x-riak-meta-submitted-at");
const H_EXPIRES_AT: Name = Name::new("x-riak-meta-expires-at");
const H_SAVED_AT: Name = Name::new("x-riak-meta-saved-at");
const H_METADATA: Name = Name::new("x-riak-meta-metadata");
const H_RESOURCE: Name = Name::new("x-riak-meta-resource");
const H_HISTORY: Name = Name::new("x-riak-meta-history");
const H_EXPIRES_INDEX: Name = Name::new("x-riak-index-expires_int");
const H_DUE_INDEX: Name = Name::new("x-riak-index-due_int");

/// Encodes a message as a Riak object, stamped with `saved_at`.
pub(crate) fn encode(msg: &StoredMessage, saved_at: u64) -> Result<Encoded, String> {
    // Room for every value in the usual case; more is allocated if it is not enough.
    let texts = msg.envelope.mailfrom.len() + msg.envelope.rcptto.len() + msg.content_type.len();
    let metadata: usize = msg
        .metadata
        .iter()
        .map(|(k, v)| k.len() + v.len() + 6)
        .sum();
    let mut values = Values {
        buf: BytesMut::with_capacity(384 + texts + metadata + 160 * msg.history.len()),
        json: Vec::with_capacity(256),
    };
    // The 12 headers written here, and Content-Type and the vclock added per request.
    let mut headers = HeaderMap::with_capacity(16);
    headers.insert(H_REDELIVER.name, HeaderValue::from_static("1"));
    let channel = match msg.channel {
        Channel::Smpp => "smpp",
        Channel::Mm7 => "mm7",
    };
    headers.insert(H_CHANNEL.name, HeaderValue::from_static(channel));
    headers.insert(H_MAILFROM.name, values.text(&msg.envelope.mailfrom)?);
    headers.insert(H_RCPTTO.name, values.text(&msg.envelope.rcptto)?);
    headers.insert(H_CONTENT_TYPE.name, values.text(&msg.content_type)?);
    headers.insert(H_SUBMITTED_AT.name, values.time(msg.submitted_at)?);
    headers.insert(H_EXPIRES_AT.name, values.time(msg.expires_at)?);
    headers.insert(H_SAVED_AT.name, values.number(saved_at)?);
    headers.insert(
        H_EXPIRES_INDEX.name,
        values.number(index_secs(msg.expires_at))?,
    );
    if let Some(due) = msg.due_millis() {
        headers.insert(H_DUE_INDEX.name, values.number(due)?);
    }
    values.json(&mut headers, H_METADATA, &msg.metadata)?;
    values.json(&mut headers, H_RESOURCE, &msg.resource)?;
    values.json(&mut headers, H_HISTORY, &msg.history)?;
    // Riak refuses a PUT without Content-Type; the exact type is in the meta header anyway.
    let content_type = if msg.content_type.is_empty()
        || !msg.content_type.bytes().all(|b| (0x20..0x7f).contains(&b))
    {
        HeaderValue::from_static("application/octet-stream")
    } else {
        values.buf.extend_from_slice(msg.content_type.as_bytes());
        values.take()?
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

    /// [`header`](Self::header) for one of this crate's headers.
    fn known(&self, name: &Name) -> Option<&str> {
        self.header(name.text)
    }
}

impl HeaderLookup for HeaderMap {
    fn header(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| v.to_str().ok())
    }

    fn known(&self, name: &Name) -> Option<&str> {
        self.get(&name.name).and_then(|v| v.to_str().ok())
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

fn meta<'a>(h: &'a (impl HeaderLookup + ?Sized), header: &Name) -> Result<&'a str, String> {
    h.known(header)
        .ok_or_else(|| format!("{} is missing", title(header.text)))
}

fn meta_json<T: serde::de::DeserializeOwned>(
    h: &(impl HeaderLookup + ?Sized),
    name: &Name,
) -> Result<T, String> {
    let header = name.text;
    let first = meta(h, name)?;
    let mut encoded = Cow::Borrowed(first);
    // Only a full first chunk can have continuations.
    if first.len() >= CHUNK {
        for n in 2..=MAX_CHUNKS {
            match h.header(&format!("{header}-{n}")) {
                Some(more) => encoded.to_mut().push_str(more),
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
    let version = h.known(&H_REDELIVER).ok_or(
        "not a stored message: X-Riak-Meta-Redeliver is missing (written by something else?)",
    )?;
    if version != "1" {
        return Err(format!(
            "X-Riak-Meta-Redeliver is {version:?}; this version reads format 1"
        ));
    }
    let channel = match meta(h, &H_CHANNEL)? {
        "smpp" => Channel::Smpp,
        "mm7" => Channel::Mm7,
        other => return Err(format!("X-Riak-Meta-Channel {other:?} is not smpp or mm7")),
    };
    let text = |header: &Name| -> Result<String, String> {
        decode_value(meta(h, header)?)
            .map(Cow::into_owned)
            .map_err(|e| format!("{}: {e}", title(header.text)))
    };
    let time = |header: &Name| -> Result<SystemTime, String> {
        parse_time(meta(h, header)?).map_err(|e| format!("{}: {e}", title(header.text)))
    };
    let saved_at = meta(h, &H_SAVED_AT)?
        .parse::<u64>()
        .map_err(|_| "X-Riak-Meta-Saved-At is not a number".to_owned())?;
    let metadata: BTreeMap<String, String> = meta_json(h, &H_METADATA)?;
    let resource: Resource = meta_json(h, &H_RESOURCE)?;
    let history: Vec<HistoryEntry> = meta_json(h, &H_HISTORY)?;
    let msg = StoredMessage {
        channel,
        envelope: Envelope {
            mailfrom: text(&H_MAILFROM)?,
            rcptto: text(&H_RCPTTO)?,
        },
        body,
        content_type: text(&H_CONTENT_TYPE)?,
        metadata,
        resource,
        submitted_at: time(&H_SUBMITTED_AT)?,
        expires_at: time(&H_EXPIRES_AT)?,
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

/// `{"props":{…}}` of a bucket type; only what the store reads.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TypeProps {
    pub props: Props,
}

/// The bucket-type properties the store reads.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Props {
    /// `true` on a strongly consistent type; absent on others.
    #[serde(default)]
    pub consistent: Option<bool>,
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

    proptest! {
        #[test]
        fn safe_prefix_stops_at_the_first_byte_to_escape(raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            let scalar = raw.iter().position(|&b| !VALUE_SAFE[usize::from(b)]).unwrap_or(raw.len());
            prop_assert_eq!(safe_prefix(&raw), scalar);
        }

        #[test]
        fn safe_prefix_finds_each_kind_of_byte_anywhere(prefix in 0usize..40, b in any::<u8>()) {
            let mut raw = vec![b'a'; prefix];
            raw.push(b);
            raw.extend_from_slice(b"bcdefghijk");
            let expected = if VALUE_SAFE[usize::from(b)] { raw.len() } else { prefix };
            prop_assert_eq!(safe_prefix(&raw), expected);
        }
    }

    #[test]
    fn header_values_escape_what_a_header_cannot_carry() {
        let mut value = BytesMut::new();
        push_value(&mut value, "a b%\u{fc}\r".as_bytes());
        assert_eq!(&value[..], b"a%20b%25%C3%BC%0D");
        assert_eq!(decode_value("a%20b%25%C3%BC%0D").unwrap(), "a b%\u{fc}\r");
        let mut plain = BytesMut::new();
        push_value(&mut plain, b"{\"a\":\"b\"}");
        assert_eq!(&plain[..], b"{\"a\":\"b\"}");
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
