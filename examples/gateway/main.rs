//! A whole gateway's retry flow, in one process on 127.0.0.1.
//!
//! ```sh
//! cargo run --example gateway                      # 40 messages, embedded store in a temp dir
//! cargo run --example gateway -- --messages 500    # more (the timeline shows the first 40)
//! cargo run --example gateway -- --store /tmp/mstore.redb
//! cargo run --example gateway -- --riak 127.0.0.1:8098
//! cargo run --example gateway --features dlr-amqp -- --dlr-queue amqp://guest:guest@127.0.0.1:5672/%2f
//! cargo run --example gateway -- --messages 20 --json   # the summary as JSON, nothing else
//! cargo run --example gateway -- --metrics 127.0.0.1:9000  # Prometheus page; stays up until Ctrl-C
//! ```
//!
//! Four parties talk over real sockets:
//!
//! * an **application** (`app.rs`) that receives Jasmin DLRs at its `dlr-url` and answers
//!   `ACK/Jasmin` — except for a few first attempts, to show the thrower's retries;
//! * an **SMSC** (`smsc.rs`) speaking SMPP 3.4: submit_sm_resp ids in hexadecimal, receipts in
//!   decimal, some receipts before the submit_sm_resp, some UNDELIV or EXPIRED;
//! * an **MMSC** (`mmsc.rs`), an MM7 relay over HTTP: SubmitRsp, then a DeliveryReportReq
//!   posted to the VASP, some Expired or Rejected;
//! * the **gateway** (`gateway.rs`, `esme.rs`, `vasp.rs`, `policy.rs`): an SMPP client and an
//!   MM7 VASP whose submissions and receipts go through `redeliver`'s `RetryEngine` on the store,
//!   with hooks that reroute a failed SMS to MM7 and a failed MMS to SMS (the seed's Lua
//!   examples), the default bounce for the rest, and an `HttpDlrThrower` sending every DLR
//!   (level 3) to the application.
//!
//! What happens to which message is fixed by its index (`plan.rs`), so every run ends with the
//! same numbers; `tests/gateway.rs` checks them.

mod app;
mod esme;
mod gateway;
mod http;
mod metrics;
mod mmsc;
mod plan;
mod policy;
mod run;
mod smsc;
mod timeline;
mod vasp;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use run::{Options, StoreChoice, Summary};
use timeline::Timeline;

const USAGE: &str = "usage: gateway [--messages N] [--store PATH | --riak HOST:PORT[,HOST:PORT…]] \
                     [--show K] [--retry-delay SECONDS] [--dlr-queue amqp(s)://…] \
                     [--metrics HOST:PORT] [--json]";

struct Cli {
    opts: Options,
    metrics: Option<std::net::SocketAddr>,
    json: bool,
    show: usize,
}

fn parse() -> Result<Cli, String> {
    let mut cli = Cli {
        opts: Options::new(40),
        metrics: None,
        json: false,
        show: 40,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--json" {
            cli.json = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--messages" => {
                let n: usize = value.parse().map_err(|e| bad(&e))?;
                if !(1..=plan::MAX_MESSAGES).contains(&n) {
                    return Err(bad(&format_args!("expected 1 to {}", plan::MAX_MESSAGES)));
                }
                let deadline = Options::new(n).deadline;
                cli.opts.messages = n;
                cli.opts.deadline = deadline;
            }
            "--store" => cli.opts.store = StoreChoice::Embedded(value.into()),
            "--riak" => {
                cli.opts.store =
                    StoreChoice::Riak(value.split(',').map(|s| s.trim().to_owned()).collect())
            }
            "--dlr-queue" => {
                if !value.starts_with("amqp://") && !value.starts_with("amqps://") {
                    return Err(bad(&"expected an amqp:// or amqps:// URL (RabbitMQ)"));
                }
                cli.opts.dlr_queue = Some(value);
            }
            "--metrics" => cli.metrics = Some(value.parse().map_err(|e| bad(&e))?),
            "--show" => cli.show = value.parse().map_err(|e| bad(&e))?,
            "--retry-delay" => {
                cli.opts.retry_delay = value
                    .parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| bad(&"expected seconds"))?
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(cli)
}

fn print_summary(s: &Summary) {
    let g = &s.gateway;
    let line = "-".repeat(78);
    println!("\n{line}");
    println!(
        "summary: {} messages ({} SMS, {} MMS) in {:.2} s, store {}",
        s.messages,
        s.sms,
        s.mms,
        s.elapsed_ms as f64 / 1000.0,
        s.store
    );
    println!("{line}");
    let row = |what: &str, n: u64, detail: String| {
        println!("{}", format!("  {what:<22}{n:>7}   {detail}").trim_end());
    };
    row(
        "submitted",
        g.smpp_submits + g.mm7_submits,
        format!(
            "{} submit_sm (SMSC got {}), {} SubmitReq (MMSC got {})",
            g.smpp_submits, s.smsc.submits, g.mm7_submits, s.mmsc.submits
        ),
    );
    row(
        "stored",
        g.stored,
        format!(
            "in MADR-{}; {} left at the end",
            plan::SHORTCODE,
            s.store_left
        ),
    );
    row(
        "delivered",
        g.delivered,
        format!(
            "SMSC sent DELIVRD {}, MMSC sent Retrieved {}",
            s.smsc.receipts.get("DELIVRD").copied().unwrap_or(0),
            s.mmsc.reports.get("Retrieved").copied().unwrap_or(0)
        ),
    );
    row(
        "rerouted",
        g.rerouted,
        "by the hooks (failed SMS -> MM7, failed MMS -> SMS), once each".into(),
    );
    row(
        "bounced",
        g.bounced,
        format!("{} DSNs to {} (default action)", g.dsns, plan::SENDER),
    );
    row(
        "receipts",
        g.smpp_receipts + g.mm7_reports,
        format!(
            "{} SMPP + {} MM7 final, {} ENROUTE; SMSC sent {} before the submit_sm_resp",
            g.smpp_receipts, g.mm7_reports, g.intermediate, s.smsc.early_receipts
        ),
    );
    row(
        "receipts parked",
        g.smpp_parked + g.mm7_parked,
        format!(
            "until their submission was stored ({} SMPP, {} MM7; {} applied by the timer)",
            g.smpp_parked, g.mm7_parked, g.applied_by_timer
        ),
    );
    row(
        "DLRs thrown",
        g.dlrs_thrown,
        format!(
            "level 3 to the app; app answered {} requests",
            s.app.requests
        ),
    );
    for (attempts, n) in &g.dlrs_acked_after {
        row(&format!("DLRs acked after {attempts}"), *n, String::new());
    }
    row(
        "DLRs given up",
        g.dlrs_exhausted,
        format!(
            "app failed {} attempts with 500 and {} without ACK/Jasmin",
            s.app.failed_500, s.app.failed_not_ack
        ),
    );
    row(
        "errors",
        g.errors + s.smsc.errors,
        format!(
            "gateway {}, SMSC {}, engine hook errors {}, store errors {}",
            g.errors, s.smsc.errors, s.engine.hook_errors, s.engine.store_errors
        ),
    );
    println!("{line}");
    println!(
        "  SMPP session: {} bind, {} enquire_link, {} deliver_sm_resp, {} unbind",
        s.smsc.binds, s.smsc.enquire_links, s.smsc.deliver_sm_resps, s.smsc.unbinds
    );
    if !s.complete {
        println!("  NOT COMPLETE: the deadline passed before every message ended");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match parse() {
        Ok(c) => c,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("gateway: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(addr) = cli.metrics {
        if let Err(e) = metrics::serve(addr) {
            eprintln!("gateway: {e}");
            return ExitCode::FAILURE;
        }
        if !cli.json {
            println!("metrics: http://{addr}/metrics (Prometheus text format)");
        }
    }
    let timeline = if cli.json {
        Timeline::silent()
    } else {
        let out: timeline::Sink = Box::new(|line| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        });
        Timeline::new(cli.show, Some(out))
    };
    let timeline = Arc::new(timeline);
    if !cli.json {
        timeline.note(format!(
            "gateway example: {} messages; timeline of the first {} (time, role, message, event)\n",
            cli.opts.messages,
            cli.show.min(cli.opts.messages)
        ));
    }
    let progress: Option<run::Progress> = (!cli.json).then(|| {
        let p: run::Progress = Box::new(|done, all, pending| {
            eprintln!(
                "progress: {done}/{all} messages delivered or bounced, {pending} DLRs pending"
            );
        });
        p
    });
    match run::run(&cli.opts, timeline, progress).await {
        Ok(summary) => {
            if cli.json {
                match serde_json::to_string_pretty(&summary) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("gateway: summary: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print_summary(&summary);
            }
            if let Some(addr) = cli.metrics {
                eprintln!("metrics: still serving http://{addr}/metrics; Ctrl-C to stop");
                let _ = tokio::signal::ctrl_c().await;
            }
            if summary.complete {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("gateway: {e}");
            ExitCode::FAILURE
        }
    }
}
