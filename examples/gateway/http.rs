//! A small HTTP/1.1 server for the three HTTP roles of the example (the MMSC relay, the VASP's
//! delivery-report endpoint and the application's dlr-url). It reads `Content-Length` bodies
//! only, keeps connections alive, and refuses oversized lines, headers and bodies, so that the
//! example never allocates more than it decides to.
#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Longest request line or header line.
const MAX_LINE: usize = 8 * 1024;
/// Most header lines in one request.
const MAX_HEADERS: usize = 64;
/// Largest request body (an MM7 SubmitReq with a small picture fits many times over).
pub const MAX_BODY: usize = 1024 * 1024;

/// One request.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query, as on the request line.
    pub target: String,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
    /// Whether the client asked to close the connection after the response.
    pub close: bool,
}

/// One response.
#[derive(Debug)]
pub struct Response {
    /// Status code and reason, e.g. `200 OK`.
    pub status: &'static str,
    /// `Content-Type`.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A `text/plain` response.
    pub fn text(status: &'static str, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain".into(),
            body: body.into().into_bytes(),
        }
    }
}

/// What answers requests.
pub type Handler = Arc<dyn Fn(Request) -> BoxFuture<'static, Response> + Send + Sync>;

/// A running server; it stops, dropping every connection, when dropped.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// Starts answering on `listener` with `handler`.
    pub fn start(listener: TcpListener, handler: Handler) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            let _ = stream.set_nodelay(true);
                            conns.spawn(serve(stream, Arc::clone(&handler)));
                        }
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Self { addr, task })
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_line(r: &mut BufReader<TcpStream>, line: &mut String) -> io::Result<usize> {
    line.clear();
    let n = (&mut *r).take(MAX_LINE as u64).read_line(line).await?;
    if n == MAX_LINE && !line.ends_with('\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "HTTP line longer than 8 KiB",
        ));
    }
    Ok(n)
}

/// Reads one request; `Ok(None)` when the client closed the connection between requests.
async fn read_request(r: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if read_line(r, &mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut content_type = None;
    let mut length = 0usize;
    let mut close = false;
    for n in 0.. {
        if n == MAX_HEADERS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "more than 64 header lines",
            ));
        }
        if read_line(r, &mut line).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("Content-Length {value:?} is not a number"),
                    )
                })?;
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            } else if name.eq_ignore_ascii_case("content-type") {
                content_type = Some(value.to_owned());
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "Transfer-Encoding is not supported; send a Content-Length",
                ));
            }
        }
    }
    if length > MAX_BODY {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("body of {length} bytes is over the {MAX_BODY}-byte limit"),
        ));
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).await?;
    Ok(Some(Request {
        method,
        target,
        content_type,
        body,
        close,
    }))
}

async fn serve(stream: TcpStream, handler: Handler) {
    let mut r = BufReader::new(stream);
    loop {
        let (response, close) = match read_request(&mut r).await {
            Ok(Some(request)) => {
                let close = request.close;
                (handler(request).await, close)
            }
            Ok(None) => return,
            Err(e) => {
                let reply = Response::text("400 Bad Request", e.to_string());
                let _ = write_response(r.get_mut(), &reply, true).await;
                return;
            }
        };
        if write_response(r.get_mut(), &response, close).await.is_err() || close {
            return;
        }
    }
}

async fn write_response(
    stream: &mut TcpStream,
    response: &Response,
    close: bool,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}\r\n",
        response.status,
        response.content_type,
        response.body.len(),
        if close { "Connection: close\r\n" } else { "" },
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&response.body).await
}
