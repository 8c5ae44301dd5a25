//! Objects: vclocks, siblings, preconditions, content negotiation, and GET/PUT/DELETE.

use super::*;

pub(super) fn allow_mult(state: &State, id: &(String, Vec<u8>)) -> bool {
    state
        .buckets
        .get(id)
        .and_then(|b| b.allow_mult)
        .unwrap_or_else(|| state.types.get(&id.0).copied().unwrap_or(false))
}

pub(super) fn props(req: &Request, cluster: &Cluster, id: &(String, Vec<u8>)) -> Response {
    let mut state = cluster.lock();
    match req.method.as_str() {
        "GET" => {
            let body = format!(
                r#"{{"props":{{"allow_mult":{},"basic_quorum":false,{}"dvv_enabled":{},"last_write_wins":false,"n_val":3,"name":{},"notfound_ok":true,"r":"quorum","w":"quorum"}}}}"#,
                allow_mult(&state, id),
                if is_consistent(&state, id) {
                    r#""consistent":true,"#
                } else {
                    ""
                },
                id.0 != "default",
                json_ascii(&id.1)
            );
            text(200, "OK", true, "application/json", &body)
        }
        "PUT" => {
            let ctype = req.header("content-type").unwrap_or("");
            if !ctype.starts_with("application/json") {
                return text(
                    415,
                    "Unsupported Media Type",
                    true,
                    "text/html",
                    "<html><head><title>415 Unsupported Media Type</title></head><body><h1>Unsupported Media Type</h1><p><hr><address>mochiweb+webmachine web server</address></body></html>",
                );
            }
            let parsed: Option<serde_json::Value> = serde_json::from_slice(&req.body).ok();
            let Some(props) = parsed
                .as_ref()
                .and_then(|v| v.get("props"))
                .and_then(|p| p.as_object())
            else {
                return text(
                    400,
                    "Bad Request",
                    false,
                    "text/plain",
                    "bucket PUT must be a JSON object of the form:\n{\"props\":{...bucket properties...}}",
                );
            };
            if let Some(v) = props.get("allow_mult") {
                let Some(flag) = v.as_bool() else {
                    return text(
                        400,
                        "Bad Request",
                        true,
                        "application/json",
                        r#"{"allow_mult":"not_boolean"}"#,
                    );
                };
                state.buckets.entry(id.clone()).or_default().allow_mult = Some(flag);
            }
            Response::new(204, "No Content")
                .h("Vary", "Accept-Encoding")
                .h("Server", SERVER)
                .h("Date", http_date(SystemTime::now()))
                .h("Content-Type", ctype)
        }
        "DELETE" => {
            if let Some(b) = state.buckets.get_mut(id) {
                b.allow_mult = None;
            }
            Response::new(204, "No Content")
                .h("Vary", "Accept-Encoding")
                .h("Server", SERVER)
                .h("Date", http_date(SystemTime::now()))
                .h("Content-Type", "application/json")
        }
        _ => not_found_html(),
    }
}

pub(super) fn list_keys(
    cluster: &Cluster,
    id: &(String, Vec<u8>),
    param: Option<&str>,
) -> Response {
    let keys: Vec<String> = {
        let mut state = cluster.lock();
        reap(&mut state, id);
        state
            .buckets
            .get(id)
            .map(|b| b.objects.keys().map(|k| json_ascii(k)).collect())
            .unwrap_or_default()
    };
    match param {
        Some("true") => text(
            200,
            "OK",
            true,
            "application/json",
            &format!("{{\"keys\":[{}]}}", keys.join(",")),
        ),
        Some("stream") => {
            let mut r = Response::new(200, "OK")
                .h("Vary", "Accept-Encoding")
                .h("Transfer-Encoding", "chunked")
                .h("Server", SERVER)
                .h("Date", http_date(SystemTime::now()))
                .h("Content-Type", "application/json");
            let mut chunks: Vec<Vec<u8>> = keys
                .chunks(100)
                .map(|c| format!("{{\"keys\":[{}]}}", c.join(",")).into_bytes())
                .collect();
            chunks.push(b"{\"keys\":[]}".to_vec());
            r.chunks = Some(chunks);
            r
        }
        _ => text(200, "OK", true, "application/json", "{}"),
    }
}

/// Forgets the tombstone of one key if its time is up.
pub(super) fn reap_key(state: &mut State, id: &(String, Vec<u8>), key: &[u8]) {
    // Now and then the whole bucket, so tombstones of keys nobody touches again (a bench's)
    // do not pile up.
    if state.next_tag.is_multiple_of(4096) {
        reap(state, id);
        return;
    }
    let now = Instant::now();
    if let Some(bucket) = state.buckets.get_mut(id)
        && bucket
            .objects
            .get(key)
            .is_some_and(|o| o.is_deleted() && o.reap_at.is_some_and(|at| at <= now))
    {
        bucket.objects.remove(key);
    }
}

/// Forgets tombstones whose time is up, in a whole bucket.
pub(super) fn reap(state: &mut State, id: &(String, Vec<u8>)) {
    let now = Instant::now();
    if let Some(bucket) = state.buckets.get_mut(id) {
        bucket
            .objects
            .retain(|_, o| !(o.is_deleted() && o.reap_at.is_some_and(|at| at <= now)));
    }
}

pub(super) fn encode_vclock(tag: u64) -> String {
    let mut raw = VCLOCK_MAGIC.to_vec();
    raw.extend_from_slice(&tag.to_be_bytes());
    B64.encode(raw)
}

/// The tag a vclock has seen, or the Erlang crash Riak gives for a bad one.
pub(super) fn decode_vclock(text: &str) -> Result<u64, Response> {
    let bad = || {
        crash(
            true,
            "{error,\n    {error,badarg,\n        [{base64,decode_list,5,[{file,\"base64.erl\"}]},\n         {riak_kv_wm_object,decode_vclock_header,1,\n             [{file,\"<src>/riak_kv/src/riak_kv_wm_object.erl\"}]}]}}",
        )
    };
    let raw = B64.decode(text.trim()).map_err(|_| bad())?;
    let tag = raw
        .strip_prefix(VCLOCK_MAGIC)
        .and_then(|t| <[u8; 8]>::try_from(t).ok())
        .ok_or_else(bad)?;
    Ok(u64::from_be_bytes(tag))
}

pub(super) fn recase(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &cs.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The `Link` to the bucket; Riak 3.2.2 leaves the bucket type out (transcripts 13, 14).
pub(super) fn link_up(id: &(String, Vec<u8>)) -> String {
    format!("</buckets/{}>; rel=\"up\"", quote_plus(&id.1))
}

pub(super) fn content_type(s: &Sibling) -> String {
    match &s.charset {
        Some(c) => format!("{}; charset={c}", s.media_type),
        None => s.media_type.clone(),
    }
}

/// Riak keeps metadata in a dictionary and writes it back in reverse name order.
pub(super) fn meta_lines(s: &Sibling) -> Vec<&(String, String)> {
    let mut lines: Vec<&(String, String)> = s.meta.iter().collect();
    lines.sort_by(|a, b| b.0.cmp(&a.0));
    lines
}

pub(super) fn index_lines(s: &Sibling) -> Vec<(String, String)> {
    s.indexes
        .iter()
        .rev()
        .map(|(name, values)| {
            (
                format!("x-riak-index-{name}"),
                values.iter().map(Term::text).collect::<Vec<_>>().join(", "),
            )
        })
        .collect()
}

/// Media ranges of an Accept header, best first.
pub(super) fn accept_ranges(accept: Option<&str>) -> Vec<String> {
    let Some(accept) = accept else {
        return vec!["*/*".into()];
    };
    let mut ranges: Vec<(f32, usize, String)> = accept
        .split(',')
        .enumerate()
        .filter_map(|(i, r)| {
            let mut parts = r.split(';');
            let media = parts.next()?.trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|v| v.parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0 && !media.is_empty()).then_some((q, i, media))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.into_iter().map(|(_, _, m)| m).collect()
}

pub(super) fn matches_range(range: &str, media: &str) -> bool {
    range == "*/*"
        || range == media
        || range
            .strip_suffix("/*")
            .is_some_and(|major| media.split('/').next() == Some(major))
}

/// The first of `provided` the Accept header takes, webmachine-style.
pub(super) fn negotiate<'a>(accept: Option<&str>, provided: &[&'a str]) -> Option<&'a str> {
    accept_ranges(accept)
        .iter()
        .find_map(|range| provided.iter().find(|p| matches_range(range, p)).copied())
}

pub(super) fn single_response(
    id: &(String, Vec<u8>),
    obj: &Object,
    s: &Sibling,
    status: u16,
) -> Response {
    let mut r = Response::new(status, if status == 200 { "OK" } else { "Created" })
        .h("X-Riak-Vclock", encode_vclock(obj.vclock_tag()));
    for (name, value) in meta_lines(s) {
        r = r.h(&format!("X-Riak-Meta-{}", recase(name)), value.clone());
    }
    for (name, value) in index_lines(s) {
        r = r.h(&name, value);
    }
    let link = match &s.links {
        Some(user) => format!("{user}, {}", link_up(id)),
        None => link_up(id),
    };
    r.h("Vary", "Accept-Encoding")
        .h("Server", SERVER)
        .h("Link", link)
        .h("Last-Modified", http_date(s.modified))
        .h("ETag", format!("\"{}\"", s.vtag()))
        .h("Date", http_date(SystemTime::now()))
        .h("Content-Type", content_type(s))
        .with_body(s.body.clone())
}

pub(super) fn siblings_response(
    req: &Request,
    id: &(String, Vec<u8>),
    obj: &Object,
    vary: &str,
) -> Response {
    let newest = obj
        .siblings
        .iter()
        .map(|s| s.modified)
        .max()
        .unwrap_or(UNIX_EPOCH);
    let head = Response::new(300, "Multiple Choices")
        .h("X-Riak-Vclock", encode_vclock(obj.vclock_tag()))
        .h("Vary", vary)
        .h("Server", SERVER)
        .h("Last-Modified", http_date(newest))
        .h("ETag", format!("\"{}\"", base62(mix(obj.vclock_tag()), 22)))
        .h("Date", http_date(SystemTime::now()));
    // Riak keeps siblings ordered by their contents.
    let mut siblings: Vec<&Sibling> = obj.siblings.iter().collect();
    siblings.sort_by(|a, b| a.body.cmp(&b.body));
    match negotiate(req.header("accept"), &["text/plain", "multipart/mixed"]) {
        Some("multipart/mixed") => {
            let boundary = base62(mix(obj.vclock_tag() ^ 0xb0b0), 27);
            let mut body = Vec::new();
            for s in &siblings {
                body.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
                let ctype = if s.deleted {
                    "application/octet-stream".to_owned()
                } else {
                    content_type(s)
                };
                let mut h = format!(
                    "Content-Type: {ctype}\r\nLink: {}\r\nEtag: {}\r\nLast-Modified: {}\r\n",
                    link_up(id),
                    s.vtag(),
                    http_date(s.modified)
                );
                for (name, value) in meta_lines(s) {
                    h.push_str(&format!("X-Riak-Meta-{}: {value}\r\n", recase(name)));
                }
                for (name, value) in index_lines(s) {
                    h.push_str(&format!("{name}: {value}\r\n"));
                }
                if s.deleted {
                    h.push_str("X-Riak-Deleted: true\r\n");
                }
                body.extend_from_slice(h.as_bytes());
                body.extend_from_slice(b"\r\n");
                body.extend_from_slice(&s.body);
            }
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            head.h(
                "Content-Type",
                format!("multipart/mixed; boundary={boundary}"),
            )
            .with_body(body)
        }
        Some(_) => {
            let mut list = "Siblings:\n".to_owned();
            for s in &siblings {
                list.push_str(&s.vtag());
                list.push('\n');
            }
            head.h("Content-Type", "text/plain").with_body(list)
        }
        None => text(
            406,
            "Not Acceptable",
            false,
            "text/html",
            NOT_ACCEPTABLE_HTML,
        ),
    }
}

pub(super) fn get_object(
    req: &Request,
    cluster: &Cluster,
    id: &(String, Vec<u8>),
    key: &[u8],
    vtag: Option<&str>,
    _returnbody: bool,
) -> Response {
    let mut state = cluster.lock();
    reap_key(&mut state, id, key);
    let Some(obj) = state.buckets.get(id).and_then(|b| b.objects.get(key)) else {
        return not_found_object();
    };
    if let Some(vtag) = vtag {
        return match obj.siblings.iter().find(|s| s.vtag() == vtag) {
            Some(s) => single_response(id, obj, s, 200),
            None => not_found_html_vary("Accept, Accept-Encoding"),
        };
    }
    if let Some(etag) = object_etag(obj) {
        let unchanged = match req.header("if-none-match") {
            Some(list) => etag_listed(list, &etag),
            None => req
                .header("if-modified-since")
                .and_then(parse_http_date)
                .is_some_and(|since| last_modified_secs(obj) <= since),
        };
        if unchanged {
            return Response::new(304, "Not Modified")
                .h("Vary", "Accept-Encoding")
                .h("Server", SERVER)
                .h("ETag", etag)
                .h("Date", http_date(SystemTime::now()));
        }
    }
    object_response(req, id, obj, "Accept, Accept-Encoding")
}

/// The object's ETag as a response carries it (quoted), if it exists (tombstones do not).
pub(super) fn object_etag(obj: &Object) -> Option<String> {
    match obj.siblings.as_slice() {
        _ if obj.is_deleted() => None,
        [only] => Some(format!("\"{}\"", only.vtag())),
        _ => Some(format!("\"{}\"", base62(mix(obj.vclock_tag()), 22))),
    }
}

pub(super) fn last_modified_secs(obj: &Object) -> u64 {
    obj.siblings
        .iter()
        .map(|s| s.modified)
        .max()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// Whether an If-Match / If-None-Match list names `etag` (or is `*`). Unquoted values do not
/// match, as on Riak.
pub(super) fn etag_listed(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|v| v == "*" || v == etag)
}

/// Webmachine's precondition checks for PUT and DELETE (If-Match, If-Unmodified-Since,
/// If-None-Match), against the object as it is; `None` means go ahead. Like Riak's, the check is
/// not atomic with the write that follows it across connections.
pub(super) fn precondition(req: &Request, obj: Option<&Object>) -> Option<Response> {
    let failed = || Some(precondition_failed());
    let existing = obj.filter(|o| !o.is_deleted());
    let etag = existing.and_then(object_etag);
    if let Some(list) = req.header("if-match") {
        match &etag {
            None => return failed(),
            Some(etag) if !etag_listed(list, etag) => return failed(),
            Some(_) => {}
        }
    }
    if let (Some(obj), Some(since)) = (
        existing,
        req.header("if-unmodified-since").and_then(parse_http_date),
    ) && last_modified_secs(obj) > since
    {
        return failed();
    }
    if let (Some(list), Some(etag)) = (req.header("if-none-match"), &etag)
        && etag_listed(list, etag)
    {
        return failed();
    }
    None
}

pub(super) fn object_response(
    req: &Request,
    id: &(String, Vec<u8>),
    obj: &Object,
    vary: &str,
) -> Response {
    if obj.is_deleted() {
        return Response::new(404, "Object Not Found")
            .h("X-Riak-Vclock", encode_vclock(obj.vclock_tag()))
            .h("X-Riak-Deleted", "true")
            .h("Server", SERVER)
            .h("Date", http_date(SystemTime::now()))
            .h("Content-Type", "text/plain")
            .with_body("not found\n");
    }
    match obj.siblings.as_slice() {
        [only] => {
            let media = only.media_type.as_str();
            if negotiate(req.header("accept"), &[media]).is_none() {
                return text(
                    406,
                    "Not Acceptable",
                    false,
                    "text/html",
                    NOT_ACCEPTABLE_HTML,
                );
            }
            single_response(id, obj, only, 200)
        }
        _ => siblings_response(req, id, obj, vary),
    }
}

pub(super) fn put_object(
    req: &Request,
    cluster: &Cluster,
    id: &(String, Vec<u8>),
    key: &[u8],
    returnbody: bool,
) -> Response {
    let Some(ctype) = req.header("content-type") else {
        return text(
            400,
            "Bad Request",
            false,
            "text/plain",
            "Missing Content-Type request header",
        );
    };
    if req.body.len() > cluster.options.max_object_bytes {
        return text(
            500,
            "Internal Server Error",
            true,
            "text/plain",
            &format!("Error:\n{{too_large,{}}}\n", req.body.len() + 200),
        );
    }
    let mut params = ctype.split(';');
    let media_type = params.next().unwrap_or("").trim().to_owned();
    let charset = params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().to_owned())
    });
    let mut meta = Vec::new();
    let mut indexes: BTreeMap<String, Vec<Term>> = BTreeMap::new();
    for (name, value) in &req.headers {
        let lower = name.to_ascii_lowercase();
        if let Some(m) = lower.strip_prefix("x-riak-meta-") {
            meta.push((m.to_owned(), value.clone()));
        } else if let Some(field) = lower.strip_prefix("x-riak-index-") {
            for v in value.split(',').map(str::trim) {
                let term = if field.ends_with("_int") {
                    match v.parse::<i128>() {
                        Ok(n) => Term::Int(n),
                        Err(_) => {
                            return text(
                                400,
                                "Bad Request",
                                false,
                                "text/plain",
                                &format!("Could not parse field '{field}', value '{v}'.\n"),
                            );
                        }
                    }
                } else if field.ends_with("_bin") {
                    Term::Bin(v.as_bytes().to_vec())
                } else {
                    return text(
                        400,
                        "Bad Request",
                        false,
                        "text/plain",
                        &format!("Unknown field type for field: '{field}'.\n"),
                    );
                };
                let values = indexes.entry(field.to_owned()).or_default();
                if !values.contains(&term) {
                    values.push(term);
                }
            }
        }
    }
    for values in indexes.values_mut() {
        values.sort();
    }
    if returnbody && negotiate(req.header("accept"), &[media_type.as_str()]).is_none() {
        // Riak negotiates before it writes: nothing is stored.
        return text(
            406,
            "Not Acceptable",
            false,
            "text/html",
            NOT_ACCEPTABLE_HTML,
        );
    }
    let mut state = cluster.lock();
    reap_key(&mut state, id, key);
    let consistent = is_consistent(&state, id);
    let current = state.buckets.get(id).and_then(|b| b.objects.get(key));
    if !req.checked {
        if let Some(failed) = precondition(req, current) {
            return failed;
        }
        if !consistent && is_conditional(req) && !cluster.options.precondition_race.is_zero() {
            // Riak's check was a read; the write follows after a moment, unlocked.
            return Response::new(CHECKED, "Checked");
        }
    }
    let seen = match req.header("x-riak-vclock") {
        Some(v) => match decode_vclock(v) {
            Ok(tag) => Some(tag),
            Err(crash) => return crash,
        },
        None => None,
    };
    if consistent {
        // riak_ensemble: a PUT without a vclock is put_once, one with a vclock must name the
        // current version exactly.
        let live = current.filter(|o| !o.is_deleted());
        let holds = match (seen, live) {
            (None, None) => true,
            (Some(tag), Some(obj)) => obj.vclock_tag() == tag,
            _ => false,
        };
        if !holds {
            return precondition_failed();
        }
    }
    let mult = allow_mult(&state, id) && !consistent;
    let tag = state.next_tag;
    state.next_tag += 1;
    let sibling = Sibling {
        tag,
        deleted: false,
        media_type,
        charset,
        meta,
        indexes,
        links: req.header("link").map(str::to_owned),
        body: req.body.clone(),
        modified: SystemTime::now(),
    };
    let bucket = state.buckets.entry(id.clone()).or_default();
    let obj = bucket.objects.entry(key.to_vec()).or_default();
    if mult {
        // Siblings the writer has seen are replaced; the rest stay beside the new value.
        let seen = seen.unwrap_or(0);
        obj.siblings.retain(|s| s.tag > seen);
    } else {
        obj.siblings.clear();
    }
    obj.siblings.push(sibling);
    obj.reap_at = None;
    if returnbody {
        return object_response(req, id, obj, "Accept-Encoding");
    }
    Response::new(204, "No Content")
        .h("Vary", "Accept-Encoding")
        .h("Server", SERVER)
        .h("Date", http_date(SystemTime::now()))
        .h("Content-Type", ctype)
}

pub(super) fn delete_object(
    req: &Request,
    cluster: &Cluster,
    id: &(String, Vec<u8>),
    key: &[u8],
) -> Response {
    let mut state = cluster.lock();
    reap_key(&mut state, id, key);
    let consistent = is_consistent(&state, id);
    let current = state.buckets.get(id).and_then(|b| b.objects.get(key));
    if !req.checked {
        if let Some(failed) = precondition(req, current) {
            return failed;
        }
        if !consistent && is_conditional(req) && !cluster.options.precondition_race.is_zero() {
            return Response::new(CHECKED, "Checked");
        }
    }
    let seen = match req.header("x-riak-vclock").map(decode_vclock) {
        Some(Ok(tag)) => Some(tag),
        Some(Err(crash)) => return crash,
        None => None,
    };
    if consistent {
        // A vclock must name the current version; without one the delete is blind and always
        // answers 204. Nothing of the key is left to read.
        let live = current.filter(|o| !o.is_deleted());
        if let Some(tag) = seen
            && live.is_none_or(|o| o.vclock_tag() != tag)
        {
            return precondition_failed();
        }
        if let Some(bucket) = state.buckets.get_mut(id) {
            bucket.objects.remove(key);
        }
        return Response::new(204, "No Content")
            .h("Vary", "Accept-Encoding")
            .h("Server", SERVER)
            .h("Date", http_date(SystemTime::now()))
            .h("Content-Type", "text/html");
    }
    let tag = state.next_tag;
    state.next_tag += 1;
    let ttl = cluster.options.tombstone_ttl;
    let mult = allow_mult(&state, id);
    let Some(obj) = state
        .buckets
        .get_mut(id)
        .and_then(|b| b.objects.get_mut(key))
        .filter(|o| !o.is_deleted())
    else {
        return text(404, "Object Not Found", true, "text/plain", "not found\n");
    };
    // The tombstone replaces what the vclock covers (without one, Riak reads the object and
    // uses its vclock: everything); siblings written since stay beside it (transcript 14).
    let covered = seen.unwrap_or(u64::MAX);
    if mult {
        obj.siblings.retain(|s| s.tag > covered);
    } else {
        obj.siblings.clear();
    }
    obj.siblings.push(Sibling {
        tag,
        deleted: true,
        media_type: "application/octet-stream".into(),
        charset: None,
        meta: Vec::new(),
        indexes: BTreeMap::new(),
        links: None,
        body: Vec::new(),
        modified: SystemTime::now(),
    });
    obj.reap_at = Some(Instant::now() + ttl);
    Response::new(204, "No Content")
        .h("Vary", "Accept-Encoding")
        .h("Server", SERVER)
        .h("Date", http_date(SystemTime::now()))
        .h("Content-Type", "text/html")
}
