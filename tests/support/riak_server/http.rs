//! HTTP/1.1 as MochiWeb speaks it: reading requests, writing responses, Webmachine's pages.

use super::*;

pub(super) struct Request {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
    /// The preconditions of this conditional write were checked a moment ago; write now.
    pub(super) checked: bool,
}

impl Request {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub(super) struct Response {
    pub(super) status: u16,
    pub(super) reason: &'static str,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
    /// Chunks of a `Transfer-Encoding: chunked` body.
    pub(super) chunks: Option<Vec<Vec<u8>>>,
    pub(super) close: bool,
}

impl Response {
    pub(super) fn new(status: u16, reason: &'static str) -> Self {
        Self {
            status,
            reason,
            headers: Vec::new(),
            body: Vec::new(),
            chunks: None,
            close: false,
        }
    }
    pub(super) fn h(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
    pub(super) fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        let len = self.body.len();
        self.h("Content-Length", len.to_string())
    }
    pub(super) fn bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, self.reason).into_bytes();
        for (n, v) in &self.headers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if head_only {
            return out;
        }
        match &self.chunks {
            Some(chunks) => {
                for c in chunks {
                    out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                    out.extend_from_slice(c);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            None => out.extend_from_slice(&self.body),
        }
        out
    }
}

/// A Riak-style text response: `[Vary,] Server, Date, Content-Type, Content-Length`.
pub(super) fn text(
    status: u16,
    reason: &'static str,
    vary: bool,
    ctype: &str,
    body: &str,
) -> Response {
    let mut r = Response::new(status, reason);
    if vary {
        r = r.h("Vary", "Accept-Encoding");
    }
    r.h("Server", SERVER)
        .h("Date", http_date(SystemTime::now()))
        .h("Content-Type", ctype)
        .with_body(body.as_bytes())
}

pub(super) fn not_found_html() -> Response {
    text(404, "Object Not Found", false, "text/html", NOT_FOUND_HTML)
}

/// Webmachine's 404 page from a resource that set `Vary` before it gave up.
pub(super) fn not_found_html_vary(vary: &str) -> Response {
    Response::new(404, "Object Not Found")
        .h("Vary", vary)
        .h("Server", SERVER)
        .h("Date", http_date(SystemTime::now()))
        .h("Content-Type", "text/html")
        .with_body(NOT_FOUND_HTML)
}

pub(super) fn not_found_object() -> Response {
    text(404, "Object Not Found", false, "text/plain", "not found\n")
}

/// Webmachine's page for a crashed resource (`vary`: whether the resource got as far as
/// setting `Vary`).
pub(super) fn crash(vary: bool, trace: &str) -> Response {
    let body = format!(
        "<html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1>The server encountered an error while processing this request:<br><pre>{trace}</pre><P><HR><ADDRESS>mochiweb+webmachine web server</ADDRESS></body></html>"
    );
    text(500, "Internal Server Error", vary, "text/html", &body)
}

pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub(super) async fn serve(mut stream: TcpStream, cluster: &Cluster, node: &Node) {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        // The head.
        let head_end = loop {
            if let Some(p) = find(&buf, b"\r\n\r\n") {
                break p;
            }
            let line_len = find(&buf, b"\r\n").unwrap_or(buf.len());
            if line_len > MAX_REQUEST_LINE || buf.len() > MAX_HEAD {
                let r = Response::new(400, "Bad Request")
                    .h("Connection", "close")
                    .h("Content-Length", "0")
                    .h("Date", http_date(SystemTime::now()))
                    .h("Server", "MochiWeb/1.0 (Any of you quaids got a smint?)");
                let _ = stream.write_all(&r.bytes(false)).await;
                return;
            }
            let mut chunk = [0u8; 16384];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        if request_line.len() > MAX_REQUEST_LINE {
            let r = Response::new(400, "Bad Request")
                .h("Connection", "close")
                .h("Content-Length", "0")
                .h("Date", http_date(SystemTime::now()))
                .h("Server", "MochiWeb/1.0 (Any of you quaids got a smint?)");
            let _ = stream.write_all(&r.bytes(false)).await;
            return;
        }
        let mut parts = request_line.split(' ');
        let (Some(method), Some(target), Some(_version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            // A raw space in the target: MochiWeb says nothing and waits.
            std::future::pending::<()>().await;
            return;
        };
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let mut request = Request {
            method: method.to_owned(),
            target: target.to_owned(),
            headers,
            body: Vec::new(),
            checked: false,
        };
        if request
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
            && stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .is_err()
        {
            return;
        }
        // The body.
        let limit = cluster.options.max_object_bytes + 16 * 1024 * 1024;
        if request
            .header("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let line_end = loop {
                    if let Some(p) = find(&buf, b"\r\n") {
                        break p;
                    }
                    if !read_more(&mut stream, &mut buf).await {
                        return;
                    }
                };
                let size_text = String::from_utf8_lossy(&buf[..line_end]).into_owned();
                let Ok(size) =
                    usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                else {
                    return;
                };
                if request.body.len() + size > limit {
                    return;
                }
                while buf.len() < line_end + 2 + size + 2 {
                    if !read_more(&mut stream, &mut buf).await {
                        return;
                    }
                }
                request
                    .body
                    .extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
                buf.drain(..line_end + 2 + size + 2);
                if size == 0 {
                    break;
                }
            }
        } else {
            let len: usize = request
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if len > limit {
                return;
            }
            while buf.len() < len {
                if !read_more(&mut stream, &mut buf).await {
                    return;
                }
            }
            request.body = buf.drain(..len).collect();
        }
        node.requests.fetch_add(1, Ordering::Relaxed);
        let fault = *node.fault.lock().unwrap_or_else(|e| e.into_inner());
        let response = match fault {
            Fault::None => answer(&mut request, cluster).await,
            Fault::StallBody => {
                let whole = answer(&mut request, cluster).await.bytes(false);
                let head = whole
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map_or(0, |p| p + 4);
                let half = head + (whole.len() - head) / 2;
                let _ = stream.write_all(&whole[..half]).await;
                std::future::pending::<()>().await;
                return;
            }
            Fault::Unavailable => text(
                503,
                "Service Unavailable",
                true,
                "text/plain",
                "Service Unavailable\n",
            ),
            Fault::ServeThenUnavailable => {
                let _ = answer(&mut request, cluster).await;
                unsatisfied(&request, "request timed out\n".into())
            }
            Fault::InternalError => crash(true, "{error,{insufficient_vnodes,0,need,1}}"),
            Fault::Garbage => {
                let _ = stream.write_all(b"\x00\x01garbage, not HTTP\r\n\r\n").await;
                return;
            }
            Fault::Hang => {
                std::future::pending::<()>().await;
                return;
            }
        };
        let head_only = request.method == "HEAD";
        if stream.write_all(&response.bytes(head_only)).await.is_err() {
            return;
        }
        let client_closes = request
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        if response.close || client_closes {
            return;
        }
    }
}

/// Status of the marker [`handle`] gives when a conditional write passed its check and should
/// be written after [`Options::precondition_race`].
pub(super) const CHECKED: u16 = 0;

/// Handles one request; a conditional write on an ordinary bucket is checked, then written a
/// race window later, as Riak does it.
pub(super) async fn answer(request: &mut Request, cluster: &Cluster) -> Response {
    let first = handle(request, cluster);
    if first.status != CHECKED {
        return first;
    }
    tokio::time::sleep(cluster.options.precondition_race).await;
    request.checked = true;
    handle(request, cluster)
}

pub(super) async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 65536];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}
