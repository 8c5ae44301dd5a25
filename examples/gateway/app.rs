//! The application's `dlr-url`: an HTTP endpoint on 127.0.0.1 that takes Jasmin DLRs (form
//! parameters `id`, `level`, `message_status`, …) and acknowledges them with `ACK/Jasmin`
//! (seed `jasmin-receiving-dlr.rst`), except for the attempts its plan
//! ([`super::plan::app_reply`]) tells it to fail.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;

use super::http::{Handler, Request, Response, Server};
use super::plan::{self, AppReply};
use super::timeline::Timeline;

/// What the application saw, counted by the application itself.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct AppReport {
    /// HTTP requests received.
    pub requests: u64,
    /// Requests answered `ACK/Jasmin`.
    pub acked: u64,
    /// Requests answered with a 500.
    pub failed_500: u64,
    /// Requests answered 200 without the acknowledgement.
    pub failed_not_ack: u64,
    /// Requests that were not DLRs of this run.
    pub refused: u64,
    /// Distinct DLRs received (a message's level-1 DLR and its receipt DLR are two).
    pub dlrs: u64,
    /// Receipt DLRs by `message_status`.
    pub receipt_status: BTreeMap<String, u64>,
}

#[derive(Default)]
struct State {
    attempts: HashMap<(usize, bool), u32>,
    report: AppReport,
}

/// The running application endpoint.
pub struct App {
    server: Server,
    state: Arc<Mutex<State>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl App {
    /// Starts on `listener`.
    pub fn start(listener: TcpListener, timeline: Arc<Timeline>) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        let s = Arc::clone(&state);
        let handler: Handler = Arc::new(move |req| {
            let reply = receive(&s, &timeline, req);
            Box::pin(async move { reply })
        });
        Ok(Self {
            server: Server::start(listener, handler)?,
            state,
        })
    }

    /// The `dlr-url`.
    pub fn url(&self) -> String {
        self.server.url("/dlr")
    }

    /// What it saw so far.
    pub fn report(&self) -> AppReport {
        lock(&self.state).report.clone()
    }
}

fn receive(state: &Mutex<State>, timeline: &Timeline, req: Request) -> Response {
    let query = match req.method.as_str() {
        "GET" => req
            .target
            .split_once('?')
            .map_or("", |(_, q)| q)
            .as_bytes()
            .to_vec(),
        _ => req.body,
    };
    let params: HashMap<String, String> = url::form_urlencoded::parse(&query)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let param = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
    let mut st = lock(state);
    st.report.requests += 1;
    let Some(i) = param("id")
        .strip_prefix("gw-")
        .and_then(|n| n.parse::<usize>().ok())
    else {
        st.report.refused += 1;
        return Response::text("404 Not Found", "no such message");
    };
    let receipt = param("level") != "1";
    let attempt = {
        let n = st.attempts.entry((i, receipt)).or_insert(0);
        *n += 1;
        *n
    };
    if attempt == 1 {
        st.report.dlrs += 1;
        if receipt {
            *st.report
                .receipt_status
                .entry(param("message_status").to_owned())
                .or_default() += 1;
        }
    }
    let what = if receipt {
        format!(
            "DLR level={} message_status={} id_smsc={} err={} (attempt {attempt})",
            param("level"),
            param("message_status"),
            param("id_smsc"),
            param("err")
        )
    } else {
        format!(
            "DLR level=1 message_status={} (attempt {attempt})",
            param("message_status")
        )
    };
    let (status, body) = match plan::app_reply(i, receipt, attempt) {
        AppReply::Ack => {
            st.report.acked += 1;
            ("200 OK", "ACK/Jasmin")
        }
        AppReply::Error500 => {
            st.report.failed_500 += 1;
            ("500 Internal Server Error", "database is busy")
        }
        AppReply::NotAck => {
            st.report.failed_not_ack += 1;
            ("200 OK", "OK")
        }
    };
    drop(st);
    timeline.event("app", Some(i), format_args!("{what} -> {status} {body:?}"));
    Response::text(status, body)
}
