//! An application endpoint for DLRs: answers `ACK/Jasmin`, prints each DLR's parameters, and can
//! be told to fail the first attempts of every DLR.
//!
//! ```sh
//! cargo run --example dlr_receiver -- --listen 127.0.0.1:8080 --fail-first 2 --fail-with 500
//! ```
//!
//! Options: `--listen ADDR` (default `127.0.0.1:8080`), `--fail-first N` (fail the first N
//! attempts of each DLR id), `--fail-with 500|body|hang|reset`, `--exit-after N` (stop after N
//! acknowledged DLRs), `--idle-exit S` (stop after S seconds without a request).

#[path = "../tests/support/dlr_receiver.rs"]
mod receiver;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use receiver::{Receiver, Recording, Reply};

struct Options {
    listen: std::net::SocketAddr,
    fail_first: u32,
    fail_with: Reply,
    exit_after: Option<u64>,
    idle_exit: Option<Duration>,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        listen: ([127, 0, 0, 1], 8080).into(),
        fail_first: 0,
        fail_with: Reply::Status500,
        exit_after: None,
        idle_exit: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => {
                let v = value()?;
                o.listen = v.parse().map_err(|e| format!("--listen {v}: {e}"))?;
            }
            "--fail-first" => {
                let v = value()?;
                o.fail_first = v.parse().map_err(|e| format!("--fail-first {v}: {e}"))?;
            }
            "--fail-with" => {
                let v = value()?;
                o.fail_with = Reply::parse_fault(&v)
                    .ok_or_else(|| format!("--fail-with {v}: expected 500, body, hang or reset"))?;
            }
            "--exit-after" => {
                let v = value()?;
                o.exit_after = Some(v.parse().map_err(|e| format!("--exit-after {v}: {e}"))?);
            }
            "--idle-exit" => {
                let v = value()?;
                let secs: f64 = v.parse().map_err(|e| format!("--idle-exit {v}: {e}"))?;
                o.idle_exit = Some(
                    Duration::try_from_secs_f64(secs)
                        .map_err(|e| format!("--idle-exit {v}: {e}"))?,
                );
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "dlr_receiver: {e}\nusage: dlr_receiver [--listen ADDR] [--fail-first N] \
                 [--fail-with 500|body|hang|reset] [--exit-after N] [--idle-exit S]"
            );
            return ExitCode::from(2);
        }
    };
    let behaviour = receiver::fail_first(options.fail_first, options.fail_with);
    let rcv = match Receiver::start_on(options.listen, behaviour, Recording::Counts).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dlr_receiver: cannot listen on {}: {e}", options.listen);
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", rcv.url("/"));
    let acked = Arc::new(AtomicU64::new(0));
    let done = Arc::new(tokio::sync::Notify::new());
    let (a, d, exit_after) = (Arc::clone(&acked), Arc::clone(&done), options.exit_after);
    rcv.observe(move |request, reply| {
        let params: Vec<String> = request
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        println!(
            "{} attempt={} reply={reply:?} {}",
            request.method,
            request.attempt,
            params.join(" ")
        );
        if reply == Reply::Ack {
            let n = a.fetch_add(1, Ordering::SeqCst) + 1;
            if exit_after.is_some_and(|limit| n >= limit) {
                d.notify_one();
            }
        }
    });
    let idle = async {
        match options.idle_exit {
            Some(every) => {
                let mut last = u64::MAX;
                loop {
                    tokio::time::sleep(every).await;
                    let now = rcv.total();
                    if now == last {
                        return;
                    }
                    last = now;
                }
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = done.notified() => {}
        _ = idle => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    println!(
        "requests={} acked={}",
        rcv.total(),
        acked.load(Ordering::SeqCst)
    );
    ExitCode::SUCCESS
}
