//! A DLR receiver on 127.0.0.1 for the tests, the bench and the `dlr_receiver` example: a small
//! HTTP/1.1 server that answers `ACK/Jasmin`, records what it got, and fails on demand.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// The longest request line or header line accepted.
const MAX_LINE: usize = 16 * 1024;
/// The largest body accepted.
const MAX_BODY: usize = 1024 * 1024;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `200 OK`, body `ACK/Jasmin`.
    Ack,
    /// `500 Internal Server Error`.
    Status500,
    /// `200 OK` with a body that is not the ack.
    WrongBody,
    /// Never answer (the connection is held open).
    Hang,
    /// Reset the connection (RST) without answering.
    Reset,
    /// `404 Not Found`.
    Status404,
    /// `302 Found` pointing back at the same target.
    Redirect,
    /// `200 OK` with a 1 MiB body that starts with the ack.
    Huge,
}

impl Reply {
    /// Parses `500`, `body`, `hang`, `reset` (the `--fail-with` values).
    pub fn parse_fault(s: &str) -> Option<Self> {
        match s {
            "500" => Some(Self::Status500),
            "body" => Some(Self::WrongBody),
            "hang" => Some(Self::Hang),
            "reset" => Some(Self::Reset),
            _ => None,
        }
    }
}

/// Decides the reply from the DLR's `id` and which attempt for that id this is (1-based).
pub type Behaviour = Arc<dyn Fn(&str, u32) -> Reply + Send + Sync>;

/// Always acknowledge.
pub fn always_ack() -> Behaviour {
    Arc::new(|_, _| Reply::Ack)
}

/// Fail the first `n` attempts of each id with `fault`, then acknowledge.
pub fn fail_first(n: u32, fault: Reply) -> Behaviour {
    Arc::new(move |_, attempt| if attempt <= n { fault } else { Reply::Ack })
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as on the request line.
    pub target: String,
    /// Header names in lower case, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The DLR parameters, in order: from the query for GET, from the body otherwise.
    pub params: Vec<(String, String)>,
    /// Which attempt for this id it was.
    pub attempt: u32,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the receiver keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    /// Every request and the attempt count per id (tests).
    All,
    /// Only the attempt count per id (long-running examples with `--fail-first`).
    Counts,
    /// Only the total (benches).
    Nothing,
}

type Observer = Arc<dyn Fn(&Request, Reply) + Send + Sync>;

struct State {
    behaviour: RwLock<Behaviour>,
    recording: Recording,
    requests: Mutex<Vec<Request>>,
    per_id: Mutex<HashMap<String, u32>>,
    total: AtomicU64,
    observer: RwLock<Option<Observer>>,
}

/// The running receiver; it stops (and drops every connection) when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<State>,
    _connections: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Starts on an ephemeral port, recording every request.
    pub async fn start(behaviour: Behaviour) -> io::Result<Self> {
        Self::start_on(
            "127.0.0.1:0".parse().map_err(io::Error::other)?,
            behaviour,
            Recording::All,
        )
        .await
    }

    /// Starts on `addr`, keeping what `recording` says.
    pub async fn start_on(
        addr: SocketAddr,
        behaviour: Behaviour,
        recording: Recording,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            behaviour: RwLock::new(behaviour),
            recording,
            requests: Mutex::new(Vec::new()),
            per_id: Mutex::new(HashMap::new()),
            total: AtomicU64::new(0),
            observer: RwLock::new(None),
        });
        let s = Arc::clone(&state);
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            let _ = stream.set_nodelay(true);
                            conns.spawn(serve(stream, Arc::clone(&s)));
                        }
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Self {
            addr,
            state,
            _connections: task,
        })
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self
            .state
            .behaviour
            .write()
            .unwrap_or_else(|p| p.into_inner()) = behaviour;
    }

    /// Called with every request and the reply chosen for it.
    pub fn observe(&self, f: impl Fn(&Request, Reply) + Send + Sync + 'static) {
        *self
            .state
            .observer
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(f));
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Requests received so far (counted even when not recorded).
    pub fn total(&self) -> u64 {
        self.state.total.load(Ordering::SeqCst)
    }

    /// Requests received for `id`.
    pub fn attempts(&self, id: &str) -> u32 {
        self.state
            .per_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .copied()
            .unwrap_or(0)
    }
}

/// A URL on 127.0.0.1 where nothing listens: connections are refused.
pub async fn refused_url() -> io::Result<String> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    drop(l);
    Ok(format!("http://{addr}/dlr"))
}

async fn read_line(r: &mut BufReader<TcpStream>, line: &mut String) -> io::Result<usize> {
    line.clear();
    let n = (&mut *r).take(MAX_LINE as u64).read_line(line).await?;
    if n == MAX_LINE && !line.ends_with('\n') {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
    }
    Ok(n)
}

async fn serve(stream: TcpStream, state: Arc<State>) {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    loop {
        match read_line(&mut r, &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let target = parts.next().unwrap_or("").to_owned();
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            match read_line(&mut r, &mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let h = line.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                let v = v.trim().to_owned();
                if k == "content-length" {
                    length = v.parse().unwrap_or(0);
                }
                headers.push((k, v));
            }
        }
        if length > MAX_BODY {
            return;
        }
        let mut body = vec![0; length];
        if r.read_exact(&mut body).await.is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        let raw_params = if method == "GET" {
            target.split_once('?').map_or("", |(_, q)| q).to_owned()
        } else {
            body.clone()
        };
        let params: Vec<(String, String)> = url::form_urlencoded::parse(raw_params.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let id = params
            .iter()
            .find(|(k, _)| k == "id")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        state.total.fetch_add(1, Ordering::SeqCst);
        let attempt = if state.recording != Recording::Nothing {
            let mut per_id = state.per_id.lock().unwrap_or_else(|p| p.into_inner());
            let n = per_id.entry(id.clone()).or_insert(0);
            *n += 1;
            *n
        } else {
            1
        };
        let behaviour = Arc::clone(&state.behaviour.read().unwrap_or_else(|p| p.into_inner()));
        let reply = behaviour(&id, attempt);
        let request = Request {
            method,
            target,
            headers,
            body,
            params,
            attempt,
        };
        if let Some(obs) = state
            .observer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            obs(&request, reply);
        }
        if state.recording == Recording::All {
            state
                .requests
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(request);
        }
        let huge;
        let (status, text) = match reply {
            Reply::Ack => ("200 OK", "ACK/Jasmin"),
            Reply::Status404 => ("404 Not Found", "no such page"),
            Reply::Redirect => ("302 Found\r\nLocation: /elsewhere", "moved"),
            Reply::Huge => {
                huge = format!("ACK/Jasmin{}", "x".repeat(1024 * 1024));
                ("200 OK", huge.as_str())
            }
            Reply::Status500 => ("500 Internal Server Error", "error"),
            Reply::WrongBody => ("200 OK", "OK"),
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Reply::Reset => {
                let _ = r.get_ref().set_zero_linger();
                return;
            }
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if r.get_mut().write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}
