//! Routing: paths, query strings, and the bucket and key resources.

use super::*;

/// MochiWeb's `unquote`: `%XX` and `+` as a space.
pub(super) fn unquote(segment: &str) -> Vec<u8> {
    let b = segment.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len()
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit() =>
            {
                let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(b[i + 1]) * 16 + hex(b[i + 2]));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// MochiWeb's `quote_plus`, as used in `Link` headers.
pub(super) fn quote_plus(raw: &[u8]) -> String {
    let mut out = String::new();
    for &c in raw {
        match c {
            b' ' => out.push('+'),
            c if c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'~' | b'_') => {
                out.push(c as char)
            }
            c => out.push_str(&format!("%{c:02X}")),
        }
    }
    out
}

pub(super) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                String::from_utf8_lossy(&unquote(k)).into_owned(),
                String::from_utf8_lossy(&unquote(v)).into_owned(),
            )
        })
        .collect()
}

pub(super) fn handle(req: &Request, cluster: &Cluster) -> Response {
    let target = req.target.split('#').next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query_pairs(query);
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match segments.as_slice() {
        ["ping"] => Response::new(200, "OK")
            .h("Server", SERVER)
            .h("Date", http_date(SystemTime::now()))
            .h("Content-Type", "text/html")
            .with_body("OK"),
        ["stats"] => text(
            200,
            "OK",
            true,
            "application/json",
            r#"{"riak_kv_version":"0.0.0+d93755e","storage_backend":"riak_kv_multi_backend","ring_num_partitions":8}"#,
        ),
        ["buckets"] | ["types", _, "buckets"] if cluster.listing_fails.load(Ordering::Relaxed) => {
            cluster.bucket_listings.fetch_add(1, Ordering::Relaxed);
            crash(true, "{error,timeout}")
        }
        ["buckets"] => {
            cluster.bucket_listings.fetch_add(1, Ordering::Relaxed);
            list_buckets(cluster, "default", q("buckets"))
        }
        ["types", t, "buckets"] => {
            cluster.bucket_listings.fetch_add(1, Ordering::Relaxed);
            let t = String::from_utf8_lossy(&unquote(t)).into_owned();
            if !cluster.lock().types.contains_key(&t) {
                return not_found_html_vary("Accept-Encoding");
            }
            list_buckets(cluster, &t, q("buckets"))
        }
        ["types", t, "props"] if req.method == "GET" => {
            let t = String::from_utf8_lossy(&unquote(t)).into_owned();
            type_props(cluster, &t)
        }
        ["buckets", b, rest @ ..] => bucket_route(req, cluster, "default", b, rest, q),
        ["types", t, "buckets", b, rest @ ..] => {
            let t = String::from_utf8_lossy(&unquote(t)).into_owned();
            bucket_route(req, cluster, &t, b, rest, q)
        }
        _ => not_found_html(),
    }
}

pub(super) fn list_buckets(cluster: &Cluster, bucket_type: &str, param: Option<&str>) -> Response {
    let names: Vec<String> = {
        let state = cluster.lock();
        state
            .buckets
            .iter()
            .filter(|((t, _), data)| t == bucket_type && !data.objects.is_empty())
            .map(|((_, b), _)| json_ascii(b))
            .collect()
    };
    let body = format!("{{\"buckets\":[{}]}}", names.join(","));
    match param {
        Some("true") => text(200, "OK", true, "application/json", &body),
        Some("stream") => {
            let mut r = Response::new(200, "OK")
                .h("Vary", "Accept-Encoding")
                .h("Transfer-Encoding", "chunked")
                .h("Server", SERVER)
                .h("Date", http_date(SystemTime::now()))
                .h("Content-Type", "application/json");
            r.chunks = Some(vec![body.into_bytes(), b"{\"buckets\":[]}".to_vec()]);
            r
        }
        _ => crash(
            true,
            "[{webmachine_resource,do,3,[{file,\"<src>/webmachine/src/webmachine_resource.erl\"}]}]",
        ),
    }
}

pub(super) fn bucket_route<'q>(
    req: &Request,
    cluster: &Cluster,
    bucket_type: &str,
    bucket: &str,
    rest: &[&str],
    q: impl Fn(&str) -> Option<&'q str>,
) -> Response {
    let known_type = cluster.lock().types.contains_key(bucket_type);
    let bucket = unquote(bucket);
    let id = (bucket_type.to_owned(), bucket.clone());
    match rest {
        ["keys", key] if !known_type => {
            let _ = key;
            text(
                404,
                "Object Not Found",
                false,
                "text/plain",
                &format!("Unknown bucket type: {bucket_type}"),
            )
        }
        _ if !known_type => not_found_html_vary("Accept-Encoding"),
        ["keys"] | ["keys", ""] if req.method == "GET" => list_keys(cluster, &id, q("keys")),
        ["keys"] if req.method == "POST" => {
            // A server-assigned key; Location is not encoded at all.
            let key = {
                let mut state = cluster.lock();
                state.next_tag += 1;
                base62(mix(state.next_tag ^ 0x9057), 27)
            };
            let returnbody = q("returnbody") == Some("true");
            let mut response = put_object(req, cluster, &id, key.as_bytes(), returnbody);
            if !matches!(response.status, 200 | 204) {
                return response;
            }
            let prefix = if bucket_type == "default" {
                String::new()
            } else {
                format!("/types/{bucket_type}")
            };
            let location = format!(
                "{prefix}/buckets/{}/keys/{key}",
                String::from_utf8_lossy(&bucket)
            );
            if returnbody {
                // The object's own response, as 201 with Location after Server.
                response.status = 201;
                response.reason = "Created";
                let at = response
                    .headers
                    .iter()
                    .position(|(n, _)| n == "Server")
                    .map_or(0, |p| p + 1);
                response
                    .headers
                    .insert(at, ("Location".to_owned(), location));
                return response;
            }
            Response::new(201, "Created")
                .h("Vary", "Accept-Encoding")
                .h("Server", SERVER)
                .h("Location", location)
                .h("Date", http_date(SystemTime::now()))
                .h("Content-Type", req.header("content-type").unwrap_or(""))
                .with_body(Vec::new())
        }
        ["keys", key] => {
            let key = unquote(key);
            if let Some(refusal) = check_request_params(req, &q) {
                return refusal;
            }
            if let Some(answer) = key_fault_answer(req, cluster, &id, &key, &q) {
                return answer;
            }
            match req.method.as_str() {
                "GET" | "HEAD" => get_object(req, cluster, &id, &key, q("vtag"), false),
                "PUT" | "POST" => {
                    put_object(req, cluster, &id, &key, q("returnbody") == Some("true"))
                }
                "DELETE" => delete_object(req, cluster, &id, &key),
                other => text(
                    501,
                    "Not Implemented",
                    false,
                    "text/html",
                    &format!(
                        "<html><head><title>501 Not Implemented</title></head><body><h1>Not Implemented</h1>The server does not support the \"{other}\" method.<br><P><HR><ADDRESS>mochiweb+webmachine web server</ADDRESS></body></html>"
                    ),
                ),
            }
        }
        ["keys", _, _, ..] => text(400, "Bad Request", false, "text/plain", LINK_WALK),
        ["props"] => props(req, cluster, &id),
        ["index", name, values @ ..] => index_query(cluster, &id, name, values, q),
        _ => not_found_html(),
    }
}
