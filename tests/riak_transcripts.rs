//! The in-tree Riak server and `RiakStore` against byte-exact transcripts recorded from a real
//! Riak KV 3.2.2 (`tests/riak_transcripts/`, see its README):
//!
//! * every recorded request is replayed, in order, against the in-tree server, and its
//!   response must match the recorded one — status line, header names in order and casing,
//!   header values and body — up to what changes on every run (dates, vclocks, vtags, multipart
//!   boundaries, Erlang stack traces, the order of unordered listings);
//! * `RiakStore` is pointed at a server that answers with the recorded responses, byte for byte.

#[path = "support/riak_server/mod.rs"]
mod riak_server;

use redeliver::store::PutMode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures::StreamExt;
use redeliver::message::{Bucket, MsgId};
use redeliver::store::{MessageStore, RiakConfig, RiakStore, StoreError, conformance};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn transcript(name: &str) -> Value {
    let path = format!(
        "{}/tests/riak_transcripts/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn body_bytes(body: &Value) -> Option<Vec<u8>> {
    if body.is_null() {
        return Some(Vec::new());
    }
    if let Some(b64) = body.get("base64").and_then(Value::as_str) {
        return Some(B64.decode(b64).unwrap());
    }
    body.get("text")
        .and_then(Value::as_str)
        .map(|t| t.as_bytes().to_vec())
}

fn headers_of(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap().to_owned(),
                h[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

struct Answer {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Sends raw request bytes on a new connection and reads one response.
async fn send_raw(addr: std::net::SocketAddr, raw: &[u8], head_only: bool) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(p) = find(&buf, b"\r\n\r\n") {
            break p;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before the response head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut rest = buf[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap();
            (n.to_owned(), v.to_owned())
        })
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let status: u16 = status_line[9..12].parse().unwrap();
    let mut body = Vec::new();
    if !head_only && status != 204 && status != 304 {
        if get("transfer-encoding").is_some() {
            loop {
                while find(&rest, b"0\r\n\r\n").is_none() {
                    let mut chunk = [0u8; 8192];
                    let n = stream.read(&mut chunk).await.unwrap();
                    assert!(n > 0);
                    rest.extend_from_slice(&chunk[..n]);
                }
                // Decode the chunks.
                let mut pos = 0;
                let mut complete = false;
                body.clear();
                while let Some(line_end) = find(&rest[pos..], b"\r\n") {
                    let size = usize::from_str_radix(
                        std::str::from_utf8(&rest[pos..pos + line_end]).unwrap(),
                        16,
                    )
                    .unwrap();
                    let start = pos + line_end + 2;
                    if size == 0 {
                        complete = true;
                        break;
                    }
                    if rest.len() < start + size + 2 {
                        break;
                    }
                    body.extend_from_slice(&rest[start..start + size]);
                    pos = start + size + 2;
                }
                if complete {
                    break;
                }
            }
        } else if let Some(len) = get("content-length") {
            let len: usize = len.parse().unwrap();
            while rest.len() < len {
                let mut chunk = [0u8; 65536];
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0);
                rest.extend_from_slice(&chunk[..n]);
            }
            body = rest[..len].to_vec();
        }
    }
    Answer {
        status_line,
        headers,
        body,
    }
}

const CLUSTER_SERVER: &str =
    "MochiWeb/3.0.0 WebMachine/1.11.1+build.695.ref7bdd27d (greased slide to failure)";
const SINGLE_NODE_SERVER: &str =
    "MochiWeb/3.0.0 WebMachine/0.0.0+7bdd27d (greased slide to failure)";

const VARYING: &[&str] = &["date", "x-riak-vclock", "etag", "last-modified", "location"];

fn normalize_headers(status: u16, headers: &[(String, String)]) -> Vec<String> {
    headers
        .iter()
        .map(|(n, v)| {
            let lower = n.to_ascii_lowercase();
            let value = if lower == "server" && v == CLUSTER_SERVER {
                // Cases 13 and 14 come from a cluster built with another webmachine tag.
                SINGLE_NODE_SERVER.to_owned()
            } else if VARYING.contains(&lower.as_str())
                || (lower == "content-length" && (status == 500 || status == 300))
            {
                "*".to_owned()
            } else if lower == "content-type" && v.starts_with("multipart/mixed") {
                "multipart/mixed; boundary=*".to_owned()
            } else {
                v.clone()
            };
            format!("{n}: {value}")
        })
        .collect()
}

fn sorted_json_lists(value: &mut Value) {
    if let Value::Object(map) = value {
        for key in ["keys", "buckets", "results"] {
            if let Some(Value::Array(items)) = map.get_mut(key) {
                items.sort_by_key(|v| v.to_string());
            }
        }
    }
}

fn normalize_body(status: u16, headers: &[(String, String)], body: &[u8]) -> String {
    let ctype = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let text = String::from_utf8_lossy(body).into_owned();
    if status == 500 && ctype == "text/html" {
        return text.split("<pre>").next().unwrap_or("").to_owned();
    }
    if let Some(boundary) = ctype.strip_prefix("multipart/mixed; boundary=") {
        return text
            .replace(boundary, "B")
            .split("\r\n")
            .map(|l| {
                if l.starts_with("Etag: ") || l.starts_with("Last-Modified: ") {
                    l.split(": ").next().unwrap_or("").to_owned() + ": *"
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\r\n");
    }
    if status == 300 && text.starts_with("Siblings:\n") {
        return format!("Siblings: {} vtags", text.lines().count() - 1);
    }
    if ctype == "application/json" {
        // Possibly several concatenated objects (keys=stream): merge their lists.
        let mut merged: Option<Value> = None;
        let mut all_keys = Vec::new();
        for value in serde_json::Deserializer::from_slice(body).into_iter::<Value>() {
            let Ok(mut value) = value else { return text };
            if value.get("continuation").is_some() {
                return text;
            }
            if let Some(Value::Array(keys)) = value.get("keys") {
                all_keys.extend(keys.iter().cloned());
            }
            sorted_json_lists(&mut value);
            merged.get_or_insert(value);
        }
        if let Some(mut merged) = merged {
            if merged.get("keys").is_some() {
                all_keys.sort_by_key(|v| v.to_string());
                merged["keys"] = Value::Array(all_keys);
            }
            return merged.to_string();
        }
    }
    text
}

/// Replays the exchanges of one transcript (all but `skip`) against a new in-tree server and
/// returns every difference.
async fn replay(file: &str, skip: &[usize]) -> Vec<String> {
    // Tombstones last 3 s on Riak; here they last 100 ms, and the exchanges recorded "~5 s after"
    // a delete wait 300 ms instead.
    let server = riak_server::RiakServer::start_with(riak_server::Options {
        tombstone_ttl: std::time::Duration::from_millis(100),
        ..riak_server::Options::default()
    })
    .await;
    if file.starts_with("12-") {
        // Riak's Last-Modified counts whole seconds, and the recording made every write of
        // this transcript within one second: its `If-Unmodified-Since: <Last-Modified of the
        // first GET>` after two updates was still met (204). The replay starts at the top of a
        // second so that its writes fall within one second too; straddling a second boundary,
        // the same request is rightly refused (412).
        let into = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_millis();
        tokio::time::sleep(std::time::Duration::from_millis(u64::from(1_005 - into))).await;
    }
    if file.starts_with("13-") {
        // The node holding two replicas of their ensemble is down: q00 and m00 have no quorum;
        // q02's ensemble kept one (it was created before, unrecorded).
        for key in ["q00-1796459058", "m00-1796459058"] {
            server.set_key_fault("transcript-strong", key, riak_server::KeyFault::Unavailable);
        }
        server.insert(
            "strong",
            "transcript-strong",
            "q02-1796459058",
            "text/plain",
            b"q02-1796459058",
        );
    }
    let doc = transcript(file);
    let mut vclocks: HashMap<String, String> = HashMap::new();
    // Server-assigned keys (POST), recorded → ours.
    let mut renames: Vec<(String, String)> = Vec::new();
    let mut problems = Vec::new();
    for (i, exchange) in doc["exchanges"].as_array().unwrap().iter().enumerate() {
        if skip.contains(&i) {
            continue;
        }
        let label = exchange["label"].as_str().unwrap_or("");
        if label.contains("5 s after") || label.contains("after reap") {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        let request = &exchange["request"];
        let recorded = &exchange["response"];
        let Some(req_body) = body_bytes(&request["body"]) else {
            continue;
        };
        let method = request["method"].as_str().unwrap();
        let mut target = request["target"].as_str().unwrap().to_owned();
        for (theirs, ours) in &renames {
            target = target.replace(theirs, ours);
        }
        let mut raw = format!("{method} {target} HTTP/1.1\r\n");
        for (name, value) in headers_of(&request["headers"]) {
            // Vclocks, ETags and Last-Modified dates the recording got back are replaced by
            // the ones this server gave for the same exchange.
            let value = vclocks.get(&value).cloned().unwrap_or(value);
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        raw.push_str("\r\n");
        let mut raw = raw.into_bytes();
        raw.extend_from_slice(&req_body);
        let got = send_raw(server.addr(), &raw, method == "HEAD").await;
        let want_status = recorded["status_line"].as_str().unwrap();
        let status = recorded["status"].as_u64().unwrap() as u16;
        let want_headers = headers_of(&recorded["headers"]);
        for name in ["X-Riak-Vclock", "ETag", "Last-Modified"] {
            if let (Some((_, theirs)), Some((_, ours))) = (
                want_headers.iter().find(|(n, _)| n == name),
                got.headers.iter().find(|(n, _)| n == name),
            ) {
                vclocks.insert(theirs.clone(), ours.clone());
            }
        }
        if let (Some((_, theirs)), Some((_, ours))) = (
            want_headers.iter().find(|(n, _)| n == "Location"),
            got.headers.iter().find(|(n, _)| n == "Location"),
        ) {
            let last = |l: &str| l.rsplit('/').next().unwrap_or("").to_owned();
            renames.push((last(theirs), last(ours)));
        }
        // Sibling vtags listed in a text 300, recorded → ours, for later `?vtag=` targets.
        if let (Some(theirs), true) = (
            body_bytes(&recorded["body"]),
            got.status_line.starts_with("HTTP/1.1 300"),
        ) {
            let vtags = |body: &[u8]| -> Vec<String> {
                String::from_utf8_lossy(body)
                    .strip_prefix("Siblings:\n")
                    .map(|list| list.lines().map(str::to_owned).collect())
                    .unwrap_or_default()
            };
            renames.extend(vtags(&theirs).into_iter().zip(vtags(&got.body)));
        }
        let at = format!("{file} #{i} ({label})");
        if got.status_line != want_status {
            problems.push(format!(
                "{at}: status {:?}, recorded {want_status:?}",
                got.status_line
            ));
            continue;
        }
        let (ours, theirs) = (
            normalize_headers(status, &got.headers),
            normalize_headers(status, &want_headers),
        );
        if ours != theirs {
            problems.push(format!(
                "{at}: headers\n  ours:     {ours:?}\n  recorded: {theirs:?}"
            ));
        }
        if method != "HEAD" {
            let Some(mut want_body) = body_bytes(&recorded["body"]) else {
                continue;
            };
            for (theirs, ours) in &renames {
                want_body = String::from_utf8_lossy(&want_body)
                    .replace(theirs, ours)
                    .into_bytes();
            }
            let (ours, theirs) = (
                normalize_body(status, &got.headers, &got.body),
                normalize_body(status, &want_headers, &want_body),
            );
            if ours != theirs {
                problems.push(format!(
                    "{at}: body\n  ours:     {ours:?}\n  recorded: {theirs:?}"
                ));
            }
        }
    }
    problems
}

#[tokio::test]
async fn the_in_tree_server_answers_like_the_recorded_riak() {
    // Skipped: features the store never uses (?vtag=, stream=true, term_regex, full bucket
    // props, legacy /riak), listings that include the recording's other buckets, and generated
    // large bodies.
    let cases: &[(&str, &[usize])] = &[
        ("03-get.json", &[]),
        // 8 concurrent create-only PUTs raced on Riak (7 won); replayed one by one they cannot.
        (
            "12-conditional-put.json",
            &[
                20, 21, 22, 23, 24, 25, 26, 27, 28, 30, 31, 32, 33, 34, 35, 36, 37, 38,
            ],
        ),
        ("04-update-with-vclock.json", &[]),
        ("02-put-new.json", &[]),
        ("05-delete-tombstones.json", &[]),
        ("06-odd-keys.json", &[25, 35]),
        ("07-siblings.json", &[0, 5, 6]),
        ("08-secondary-indexes.json", &[29, 30, 33]),
        ("09-listing.json", &[9, 10]),
        ("10-props-and-types.json", &[0, 2, 3, 5, 8, 22, 23, 24, 27]),
        (
            "11-errors-and-sizes.json",
            &[21, 22, 23, 24, 25, 26, 27, 28, 29],
        ),
        // Recorded on a 3-node cluster; from #22 on, one node was killed, which the replay
        // models with key faults (see `replay`). Skipped: a GET that waited out Riak's 60 s
        // timeout, a default-type GET of a key faulted in every type here, and the read after
        // the node came back.
        ("13-consistent-type.json", &[23, 32, 33]),
        ("14-allow-mult-siblings.json", &[]),
    ];
    let mut problems = Vec::new();
    for (file, skip) in cases {
        problems.extend(replay(file, skip).await);
    }
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// RiakStore against recorded responses

/// A server that answers the n-th request with the n-th canned response and keeps the request
/// lines it saw.
async fn canned(responses: Vec<Vec<u8>>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let queue = Arc::new(Mutex::new(std::collections::VecDeque::from(responses)));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (seen, queue) = (seen2.clone(), queue.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let head_end = loop {
                        if let Some(p) = find(&buf, b"\r\n\r\n") {
                            break p;
                        }
                        let mut chunk = [0u8; 8192];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (n, v) = l.split_once(':')?;
                            n.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + 4 + len {
                        let mut chunk = [0u8; 65536];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + 4 + len);
                    seen.lock().unwrap().push(head);
                    let Some(response) = queue.lock().unwrap().pop_front() else {
                        return;
                    };
                    if stream.write_all(&response).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr.to_string(), seen)
}

/// The recorded response of exchange `i` of `file`, as the bytes Riak sent.
fn recorded(file: &str, i: usize) -> Vec<u8> {
    let doc = transcript(file);
    let r = &doc["exchanges"][i]["response"];
    let body = match r.get("raw_chunked") {
        Some(raw) => body_bytes(raw).unwrap(),
        None => body_bytes(&r["body"]).unwrap(),
    };
    let mut out = format!("{}\r\n", r["status_line"].as_str().unwrap());
    for (n, v) in headers_of(&r["headers"]) {
        // The recorder shortened stack traces but kept their original Content-Length.
        let v = if n.eq_ignore_ascii_case("content-length") {
            body.len().to_string()
        } else {
            v
        };
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(&body);
    out
}

fn store_at(server: &str) -> RiakStore {
    RiakStore::new(RiakConfig::new([server])).unwrap()
}

#[tokio::test]
async fn recorded_404s_and_tombstones_load_as_absent() {
    let (server, seen) = canned(vec![
        recorded("03-get.json", 2),
        recorded("05-delete-tombstones.json", 3),
        recorded("07-siblings.json", 33),
    ])
    .await;
    let store = store_at(&server);
    let bucket = Bucket::new("transcript-get").unwrap();
    for key in ["nosuchkey", "d1", "s3"] {
        let got = store
            .load(&bucket, &MsgId::new(key).unwrap())
            .await
            .unwrap()
            .map(|v| v.message);
        assert_eq!(got, None, "{key}");
    }
    let seen = seen.lock().unwrap();
    assert!(
        seen[0].starts_with(
            "GET /buckets/transcript-get/keys/nosuchkey?r=one&pr=0&notfound_ok=false&basic_quorum=false&timeout=4000 HTTP/1.1"
        ),
        "{seen:?}"
    );
    assert!(
        seen[0]
            .to_ascii_lowercase()
            .contains("accept: multipart/mixed, */*;q=0.5"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn recorded_objects_written_by_others_are_corrupt_not_a_panic() {
    let (server, _) = canned(vec![
        recorded("03-get.json", 1),
        recorded("07-siblings.json", 8),
        recorded("07-siblings.json", 28),
    ])
    .await;
    let store = store_at(&server);
    let bucket = Bucket::new("transcript-sib").unwrap();
    for key in ["k1", "s1", "t1"] {
        match store.load(&bucket, &MsgId::new(key).unwrap()).await {
            Err(e @ StoreError::Corrupt { .. }) => {
                assert!(
                    e.to_string().contains("X-Riak-Meta-Redeliver is missing"),
                    "{e}"
                );
            }
            other => panic!("{key}: expected Corrupt, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn recorded_delete_answers_say_whether_there_was_a_message() {
    let (server, seen) = canned(vec![
        recorded("05-delete-tombstones.json", 2),
        recorded("05-delete-tombstones.json", 10),
        recorded("05-delete-tombstones.json", 11),
    ])
    .await;
    let store = store_at(&server);
    let bucket = Bucket::new("transcript-delete").unwrap();
    assert!(
        store
            .delete(&bucket, &MsgId::new("d1").unwrap())
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete(&bucket, &MsgId::new("d2").unwrap())
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete(&bucket, &MsgId::new("+plus/x").unwrap())
            .await
            .unwrap()
    );
    let seen = seen.lock().unwrap();
    assert!(
        seen[2].starts_with(
            "DELETE /buckets/transcript-delete/keys/%2Bplus%2Fx?r=one&pr=0&w=quorum&pw=0&dw=quorum&timeout=4000 HTTP/1.1"
        ),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_recorded_500_for_a_bad_vclock_is_a_backend_error_naming_the_server() {
    let (server, _) = canned(vec![recorded("11-errors-and-sizes.json", 1)]).await;
    let store = store_at(&server);
    let err = store
        .save(
            &Bucket::new("transcript-err").unwrap(),
            &MsgId::new("e1").unwrap(),
            &conformance::sample_message(1, vec![1]),
            PutMode::Overwrite,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&server) && text.contains("500 Internal Server Error"),
        "{text}"
    );
}

#[tokio::test]
async fn recorded_2i_pages_are_followed_by_their_continuations() {
    let pages: Vec<Vec<u8>> = (18..=22)
        .map(|i| recorded("08-secondary-indexes.json", i))
        .collect();
    let (server, seen) = canned(pages).await;
    let store = store_at(&server);
    let bucket = Bucket::new("transcript-2i").unwrap();
    let ids: Vec<String> = store
        .list(&bucket)
        .map(|r| r.unwrap().to_string())
        .collect()
        .await;
    // m6 has two expiry terms and is listed once.
    assert_eq!(ids, ["m1", "m4", "m5", "m2", "m3", "m6", "sp ace/ü"]);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 5);
    assert!(seen[0].starts_with("GET /buckets/transcript-2i/index/expires_int/0/9223372036854775807?max_results=1000 HTTP/1.1"), "{seen:?}");
    let doc = transcript("08-secondary-indexes.json");
    let first = doc["exchanges"][18]["response"]["body"]["text"]
        .as_str()
        .unwrap();
    let continuation: Value = serde_json::from_str(first).unwrap();
    let c = continuation["continuation"].as_str().unwrap();
    assert!(
        seen[1].contains(&format!("&continuation={c} "))
            || seen[1].contains(&format!("&continuation={}", c.replace('=', "%3D"))),
        "{seen:?}"
    );
}

#[tokio::test]
async fn the_recorded_ping_is_healthy() {
    let (server, _) = canned(vec![recorded("01-ping-stats.json", 0)]).await;
    store_at(&server).ping().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Hostile responses: errors naming the server, never a panic

fn raw_response(status_line: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{status_line}\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

#[tokio::test]
async fn hostile_responses_are_errors_naming_the_server() {
    let vclock = (
        "X-Riak-Vclock",
        "a85hYGBgzGDKBVI8ypz/froGZvEyMPjpZzAlMuWxMsz5UvaELwsA",
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "300 as a text list",
            raw_response(
                "HTTP/1.1 300 Multiple Choices",
                &[vclock, ("Content-Type", "text/plain")],
                b"Siblings:\nabc\ndef\n",
            ),
            "not multipart/mixed",
        ),
        (
            "300 without a vclock",
            raw_response(
                "HTTP/1.1 300 Multiple Choices",
                &[("Content-Type", "multipart/mixed; boundary=B")],
                b"\r\n--B\r\n\r\nx\r\n--B--\r\n",
            ),
            "without X-Riak-Vclock",
        ),
        (
            "300 with an unterminated part",
            raw_response(
                "HTTP/1.1 300 Multiple Choices",
                &[vclock, ("Content-Type", "multipart/mixed; boundary=B")],
                b"\r\n--B\r\nContent-Type: text/plain\r\n\r\nnever closed",
            ),
            "not closed",
        ),
        (
            "300 with a header line without a colon",
            raw_response(
                "HTTP/1.1 300 Multiple Choices",
                &[vclock, ("Content-Type", "multipart/mixed; boundary=B")],
                b"\r\n--B\r\nbroken header\r\n\r\nx\r\n--B--\r\n",
            ),
            "has no ':'",
        ),
        (
            "a 200 larger than the response limit",
            raw_response(
                "HTTP/1.1 200 OK",
                &[("Content-Type", "text/plain")],
                &[b'x'; 4096],
            ),
            "exceeds the 1024-byte limit",
        ),
        (
            "an unexpected status",
            raw_response(
                "HTTP/1.1 418 I'm a teapot",
                &[("Content-Type", "text/plain")],
                b"short and stout",
            ),
            "418",
        ),
    ];
    for (what, response, expected) in cases {
        let (server, _) = canned(vec![response]).await;
        let mut config = RiakConfig::new([server.clone()]);
        config.max_response_bytes = 1024;
        let store = RiakStore::new(config).unwrap();
        let err = store
            .load(&Bucket::new("MADR-1").unwrap(), &MsgId::new("m").unwrap())
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&server) && text.contains(expected),
            "{what}: {text}"
        );
    }
}

#[tokio::test]
async fn a_2i_page_that_is_not_json_is_an_error_and_ends_the_listing() {
    let (server, _) = canned(vec![raw_response(
        "HTTP/1.1 200 OK",
        &[("Content-Type", "application/json")],
        b"{\"keys\":[\"a\",",
    )])
    .await;
    let store = store_at(&server);
    let bucket = Bucket::new("MADR-1").unwrap();
    let items: Vec<_> = store.list(&bucket).collect().await;
    assert_eq!(items.len(), 1);
    let text = items[0].as_ref().unwrap_err().to_string();
    assert!(
        text.contains(&server) && text.contains("2i response"),
        "{text}"
    );
}

#[tokio::test]
async fn bitcask_without_2i_gets_a_hint() {
    let (server, _) = canned(vec![raw_response(
        "HTTP/1.1 500 Internal Server Error",
        &[("Content-Type", "text/plain")],
        b"Error:\n{error,{indexes_not_supported,riak_kv_bitcask_backend}}\n",
    )])
    .await;
    let store = store_at(&server);
    let items: Vec<_> = store.list(&Bucket::new("MADR-1").unwrap()).collect().await;
    let text = items[0].as_ref().unwrap_err().to_string();
    assert!(text.contains("leveldb or leveled"), "{text}");
}

#[test]
fn the_test_servers_dates_round_trip() {
    for secs in [0u64, 951_782_400, 1_795_324_045, 4_102_444_800] {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        let text = riak_server::http_date(t);
        assert_eq!(riak_server::parse_http_date(&text), Some(secs), "{text}");
    }
    assert_eq!(
        riak_server::http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_324_045)
        ),
        "Sun, 22 Nov 2026 05:07:25 GMT"
    );
}

#[tokio::test]
async fn recorded_consistent_answers_are_claims_versions_and_unavailability() {
    let (server, seen) = canned(vec![
        recorded("13-consistent-type.json", 0),
        recorded("13-consistent-type.json", 3),
        recorded("13-consistent-type.json", 9),
        recorded("13-consistent-type.json", 22),
        recorded("13-consistent-type.json", 13),
    ])
    .await;
    let store = RiakStore::new(
        RiakConfig::new([server.clone()])
            .with_bucket_type("strong")
            .with_retries(0, std::time::Duration::from_millis(1)),
    )
    .unwrap();
    let bucket = Bucket::new("transcript-strong").unwrap();
    let key = MsgId::new("k-1796459058").unwrap();
    let msg = conformance::sample_message(1, b"v".to_vec());
    // The type's properties say consistent; the create is refused.
    match store.save(&bucket, &key, &msg, PutMode::Create).await {
        Err(StoreError::AlreadyExists { .. }) => {}
        other => panic!("create: {other:?}"),
    }
    // An update answered with returnbody: the new vclock and ETag are the version.
    let version = store
        .save(
            &bucket,
            &key,
            &msg,
            PutMode::Update(redeliver::store::Version::new(
                "a85hYGBgzGBKYWBJLU4tzGDKY2WQBApxA2kjt44nfFkA \"5sGfQYoSSoTc8pRWpW7zjb\"",
            )),
        )
        .await
        .unwrap();
    assert_eq!(
        version.as_str(),
        "a85hYGBgzGBKYWBJLU4tzGDKY2WQAQpxA2kjt44nfFkA \"3QZVDWnX2Ycm1OcHxCTCC4\""
    );
    // No quorum: could not tell, never "not found".
    match store.load(&bucket, &key).await {
        Err(e @ StoreError::Unavailable { .. }) => {
            assert!(e.to_string().contains("request timed out"), "{e}");
        }
        other => panic!("load without quorum: {other:?}"),
    }
    assert!(store.load(&bucket, &key).await.unwrap().is_none());
    let seen = seen.lock().unwrap();
    assert!(
        seen[0].starts_with("GET /types/strong/props HTTP/1.1"),
        "{seen:?}"
    );
    let create = seen[1].to_ascii_lowercase();
    assert!(
        create.starts_with("put /types/strong/buckets/transcript-strong/keys/k-1796459058?")
            && create.contains("returnbody=true")
            && create.contains("if-none-match: *"),
        "{create}"
    );
    let update = &seen[2];
    assert!(
        update.contains("a85hYGBgzGBKYWBJLU4tzGDKY2WQBApxA2kjt44nfFkA")
            && !update.to_ascii_lowercase().contains("if-match"),
        "a consistent type checks the vclock itself: {update}"
    );
}

#[tokio::test]
async fn a_save_answered_without_a_vclock_reads_its_version() {
    // A 204 without X-Riak-Vclock (as without returnbody), then the object's GET.
    let (server, seen) = canned(vec![
        recorded("13-consistent-type.json", 2),
        recorded("13-consistent-type.json", 4),
    ])
    .await;
    let store = RiakStore::new(
        RiakConfig::new([server])
            .with_bucket_type("strong")
            .with_consistent(true),
    )
    .unwrap();
    let version = store
        .save(
            &Bucket::new("transcript-strong").unwrap(),
            &MsgId::new("k-1796459058").unwrap(),
            &conformance::sample_message(1, b"v1".to_vec()),
            PutMode::Create,
        )
        .await
        .unwrap();
    assert_eq!(
        version.as_str(),
        "a85hYGBgzGBKYWBJLU4tzGDKY2WQAApxA2kjt44nfFkA \"1nhWzdQQ6e2gnFC4zBlm3z\""
    );
    let seen = seen.lock().unwrap();
    assert!(
        seen[1].starts_with("GET /types/strong/buckets/transcript-strong/keys/k-1796459058?"),
        "{seen:?}"
    );
}
