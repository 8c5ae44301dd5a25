//! Throws synthetic DLRs (ids `dlr-<n>`) at a `dlr-url` and prints a summary line
//! `acked=<a> exhausted=<e> attempts=<t>`.
//!
//! ```sh
//! cargo run --example dlr_throw -- --url http://127.0.0.1:8080/dlr --method POST --level 3 \
//!     --count 1000 --concurrency 64 --retry-delay 1 --max-retries 3 --queue /tmp/dlr.redb
//! cargo run --example dlr_throw --features dlr-amqp -- --count 1000 \
//!     --queue amqp://guest:guest@127.0.0.1:5672/%2f --amqp-queue dlr-example
//! ```
//!
//! Without `--url`, a receiver is started in-process (it can fail with `--fail-first N` and
//! `--fail-with 500|body|hang|reset`). With `--queue PATH`, DLRs a killed run left in the queue are
//! resumed first and counted in the summary. With `--queue amqp://…`, the queue is in RabbitMQ
//! (named by `--amqp-queue`, default `redeliver.dlr`) and the run ends once it has seen as many
//! outcomes as it threw DLRs (DLRs other runs left in that queue are attempted too, and counted);
//! `amqps://…` (feature `amqps`) connects over TLS, trusting the CAs in `--amqp-ca FILE` (PEM)
//! besides the system's. `--level 3` throws two DLRs per id, the level-1 one
//! and the receipt. `--jasmin-cfg FILE` reads its `[dlr-thrower]` section as the starting config.

#[path = "../tests/support/dlr_receiver.rs"]
mod receiver;

use std::process::ExitCode;

use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redeliver::dlr::{
    Dlr, DlrLevel, DlrMethod, DlrOutcome, DlrThrower, DlrThrowerConfig, HttpDlrThrower,
    ReceiptParams,
};

struct Options {
    url: Option<url::Url>,
    method: DlrMethod,
    level: DlrLevel,
    count: u64,
    queue: Option<String>,
    amqp_queue: Option<String>,
    amqp_ca: Option<String>,
    config: DlrThrowerConfig,
    fail_first: u32,
    fail_with: receiver::Reply,
}

fn seconds(flag: &str, v: &str) -> Result<Duration, String> {
    v.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("{flag} {v}: expected seconds"))
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        url: None,
        method: DlrMethod::Post,
        level: DlrLevel::Smsc,
        count: 10,
        queue: None,
        amqp_queue: None,
        amqp_ca: None,
        config: DlrThrowerConfig::default(),
        fail_first: 0,
        fail_with: receiver::Reply::Status500,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let v = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {v}: {e}");
        match flag.as_str() {
            "--url" => o.url = Some(v.parse().map_err(|e| bad(&e))?),
            "--method" => {
                o.method = DlrMethod::parse(&v).ok_or_else(|| bad(&"expected GET or POST"))?
            }
            "--level" => {
                o.level = v
                    .parse()
                    .ok()
                    .and_then(DlrLevel::from_u8)
                    .ok_or_else(|| bad(&"expected 1, 2 or 3"))?
            }
            "--count" => o.count = v.parse().map_err(|e| bad(&e))?,
            "--concurrency" => {
                let c: usize = v.parse().map_err(|e| bad(&e))?;
                o.config.max_concurrency = c;
                o.config.max_per_host = c;
                o.config.pool_idle_per_host = c;
            }
            "--queue" => o.queue = Some(v),
            "--amqp-queue" => o.amqp_queue = Some(v),
            "--amqp-ca" => o.amqp_ca = Some(v),
            "--timeout" => o.config.timeout = seconds(&flag, &v)?,
            "--retry-delay" => o.config.retry_delay = seconds(&flag, &v)?,
            "--max-retries" => o.config.max_retries = v.parse().map_err(|e| bad(&e))?,
            "--fail-first" => o.fail_first = v.parse().map_err(|e| bad(&e))?,
            "--fail-with" => {
                o.fail_with = receiver::Reply::parse_fault(&v)
                    .ok_or_else(|| bad(&"expected 500, body, hang or reset"))?
            }
            "--jasmin-cfg" => {
                let text = std::fs::read_to_string(&v).map_err(|e| bad(&e))?;
                let (config, notes) =
                    DlrThrowerConfig::from_jasmin_cfg(&text).map_err(|e| bad(&e))?;
                if !notes.ignored.is_empty() {
                    eprintln!("jasmin.cfg: ignored {}", notes.ignored.join(", "));
                }
                o.config = config;
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

fn dlrs(o: &Options, url: &url::Url, n: u64) -> Vec<Dlr> {
    let id = format!("dlr-{n}");
    let level1 = || Dlr::level1(url.clone(), o.method, id.clone(), "ESME_ROK", "example");
    let receipt = || {
        Dlr::level2(
            url.clone(),
            o.method,
            o.level,
            id.clone(),
            "DELIVRD",
            "example",
            ReceiptParams {
                id_smsc: format!("{n:010}"),
                sub: "001".into(),
                dlvrd: "001".into(),
                subdate: "2611220630".into(),
                donedate: "2611220631".into(),
                err: "000".into(),
                text: format!("Synthetic message number {n}"),
            },
        )
    };
    match o.level {
        DlrLevel::Smsc => vec![level1()],
        DlrLevel::Terminal => vec![receipt()],
        DlrLevel::All => vec![level1(), receipt()],
    }
}

/// The DLR queue in RabbitMQ at `url`.
#[cfg(feature = "dlr-amqp")]
async fn amqp_queue(url: &str, o: &Options) -> Result<Arc<dyn redeliver::dlr::DlrQueue>, String> {
    use redeliver::dlr::{AmqpDlrQueue, AmqpQueueConfig};
    let mut cfg = AmqpQueueConfig::new(url);
    if let Some(name) = &o.amqp_queue {
        cfg.queue = name.clone();
        cfg.wait_queue_prefix = format!("{name}.delay.");
    }
    cfg.prefetch = u16::try_from(o.config.max_concurrency).unwrap_or(u16::MAX);
    cfg.tls_ca_file = o.amqp_ca.as_ref().map(Into::into);
    let queue = AmqpDlrQueue::connect(cfg)
        .await
        .map_err(|e| e.to_string())?;
    if !queue.is_connected().await {
        return Err("the RabbitMQ broker of --queue cannot be reached".into());
    }
    Ok(Arc::new(queue))
}

#[cfg(not(feature = "dlr-amqp"))]
async fn amqp_queue(_url: &str, _o: &Options) -> Result<Arc<dyn redeliver::dlr::DlrQueue>, String> {
    Err("--queue amqp://… needs the dlr-amqp feature (cargo run --features dlr-amqp)".into())
}

#[tokio::main]
async fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "dlr_throw: {e}\nusage: dlr_throw [--url URL] [--method GET|POST] [--level 1|2|3] \
                 [--count N] [--concurrency C] [--queue PATH|amqp://…|amqps://…] [--amqp-queue NAME] [--amqp-ca FILE] \
                 [--timeout S] [--retry-delay S] \
                 [--max-retries K] [--jasmin-cfg FILE] [--fail-first N --fail-with 500|body|hang|reset]"
            );
            return ExitCode::from(2);
        }
    };
    let local = match &o.url {
        Some(_) => None,
        None => {
            let behaviour = receiver::fail_first(o.fail_first, o.fail_with);
            let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            match receiver::Receiver::start_on(any, behaviour, receiver::Recording::Counts).await {
                Ok(r) => Some(r),
                Err(e) => {
                    eprintln!("dlr_throw: cannot start the local receiver: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let url = match (&o.url, &local) {
        (Some(u), _) => u.clone(),
        (None, Some(r)) => match r.url("/dlr").parse() {
            Ok(u) => u,
            Err(e) => {
                eprintln!("dlr_throw: local receiver URL: {e}");
                return ExitCode::FAILURE;
            }
        },
        (None, None) => return ExitCode::FAILURE,
    };

    let acked = Arc::new(AtomicU64::new(0));
    let exhausted = Arc::new(AtomicU64::new(0));
    let attempts = Arc::new(AtomicU64::new(0));
    let (a, x, t) = (
        Arc::clone(&acked),
        Arc::clone(&exhausted),
        Arc::clone(&attempts),
    );
    let mut builder = HttpDlrThrower::builder(o.config.clone()).on_outcome(move |outcome| {
        t.fetch_add(u64::from(outcome.attempts()), Ordering::Relaxed);
        match outcome {
            DlrOutcome::Acknowledged { .. } => a.fetch_add(1, Ordering::Relaxed),
            DlrOutcome::Exhausted {
                dlr, last_error, ..
            } => {
                // The first few say why; the count is in the summary.
                let before = x.fetch_add(1, Ordering::Relaxed);
                if before < 3 {
                    eprintln!("exhausted {}: {last_error}", dlr.id);
                }
                before
            }
            // Outcomes a later version may add count as exhausted.
            _ => x.fetch_add(1, Ordering::Relaxed),
        };
    });
    let shared_queue = o
        .queue
        .as_deref()
        .is_some_and(|q| q.starts_with("amqp://") || q.starts_with("amqps://"));
    match &o.queue {
        Some(url) if shared_queue => match amqp_queue(url, &o).await {
            Ok(q) => builder = builder.queue_with(q),
            Err(e) => {
                eprintln!("dlr_throw: {e}");
                return ExitCode::FAILURE;
            }
        },
        Some(path) => builder = builder.queue(path),
        None => {}
    }
    let thrower = match builder.build().await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("dlr_throw: {e}");
            return ExitCode::FAILURE;
        }
    };
    let resumed = thrower.pending();
    let started = Instant::now();
    // Thrown from many tasks at once, as a gateway does, so that the durable queue can commit
    // them in groups.
    let throwing = o.config.max_concurrency.max(1);
    let refused = futures::stream::iter((0..o.count).flat_map(|n| dlrs(&o, &url, n)))
        .map(|dlr| thrower.throw(dlr))
        .buffer_unordered(throwing)
        .filter_map(|r| async move { r.err() })
        .collect::<Vec<_>>()
        .await;
    if let Some(e) = refused.first() {
        eprintln!("dlr_throw: {} DLRs not accepted, first: {e}", refused.len());
        return ExitCode::FAILURE;
    }
    thrower.idle().await;
    if shared_queue {
        // A DLR waiting for its retry is in the broker, not in the thrower.
        let thrown = (o.count * dlrs(&o, &url, 0).len() as u64).saturating_add(resumed as u64);
        while acked.load(Ordering::Relaxed) + exhausted.load(Ordering::Relaxed) < thrown {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        thrower.idle().await;
    }
    let elapsed = started.elapsed();
    // Commits and closes the queue file, or hands a RabbitMQ queue's prefetched DLRs back.
    thrower.shutdown().await;
    let (a, e) = (
        acked.load(Ordering::Relaxed),
        exhausted.load(Ordering::Relaxed),
    );
    println!(
        "acked={a} exhausted={e} attempts={} resumed={resumed} elapsed={:.3}s rate={:.0}/s",
        attempts.load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
        (a + e) as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    ExitCode::SUCCESS
}
