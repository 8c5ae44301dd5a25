//! The gateway example's `--metrics` page: scraped before and after a run, the library's
//! counters move with the flow the run reports.
//!
//! Its own test binary: a process has one `metrics` recorder.

#[path = "../examples/gateway/app.rs"]
mod app;
#[path = "../examples/gateway/esme.rs"]
mod esme;
#[path = "../examples/gateway/gateway.rs"]
mod gateway;
#[path = "../examples/gateway/http.rs"]
mod http;
#[path = "../examples/gateway/metrics.rs"]
mod metrics;
#[path = "../examples/gateway/mmsc.rs"]
mod mmsc;
#[path = "../examples/gateway/plan.rs"]
mod plan;
#[path = "../examples/gateway/policy.rs"]
mod policy;
#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "../examples/gateway/run.rs"]
mod run;
#[path = "../examples/gateway/smsc.rs"]
mod smsc;
#[path = "../examples/gateway/timeline.rs"]
mod timeline;
#[path = "../examples/gateway/vasp.rs"]
mod vasp;

use std::sync::Arc;
use std::time::Duration;

use run::Options;
use timeline::Timeline;

use prometheus::value;

async fn scrape(addr: std::net::SocketAddr) -> String {
    // The listener starts on the runtime; give it a few tries.
    for _ in 0..50 {
        if let Ok(r) = reqwest::get(format!("http://{addr}/metrics")).await {
            assert_eq!(r.status(), 200);
            return r.text().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the metrics page at {addr} never answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_page_follows_the_flow() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    metrics::serve(addr).unwrap();
    let before = scrape(addr).await;
    assert_eq!(
        value(&before, "redeliver_engine_submissions_total", ""),
        0.0
    );

    let messages = 20;
    let summary = run::run(&Options::new(messages), Arc::new(Timeline::silent()), None)
        .await
        .unwrap();
    assert!(summary.complete, "{summary:?}");
    let after = scrape(addr).await;

    let g = &summary.gateway;
    let stored = value(
        &after,
        "redeliver_engine_submissions_total",
        "outcome=\"stored\"",
    );
    assert_eq!(stored, g.stored as f64, "{after}");
    let receipts = value(&after, "redeliver_engine_receipts_total", "");
    assert!(
        receipts >= (g.smpp_receipts + g.mm7_reports) as f64,
        "receipts {receipts} < {} + {}\n{after}",
        g.smpp_receipts,
        g.mm7_reports
    );
    assert_eq!(
        value(
            &after,
            "redeliver_engine_injections_total",
            "kind=\"bounce\""
        ),
        g.bounced as f64,
        "{after}"
    );
    assert_eq!(
        value(
            &after,
            "redeliver_engine_injections_total",
            "kind=\"reroute\""
        ),
        g.rerouted as f64,
        "{after}"
    );
    // The embedded store's operations, with their latency.
    let saves = value(
        &after,
        "redeliver_store_operations_total",
        "backend=\"embedded\",op=\"save\",result=\"ok\"",
    );
    assert!(saves >= stored, "saves {saves}\n{after}");
    assert!(
        after.contains("redeliver_store_operation_seconds"),
        "{after}"
    );
    // DLRs: every attempt counted by host, every acknowledged DLR once, the app's refusals as
    // retries.
    let acked: u64 = g.dlrs_acked_after.values().sum();
    assert_eq!(
        value(&after, "redeliver_dlr_outcomes_total", "outcome=\"acked\""),
        acked as f64,
        "{after}"
    );
    let attempts = value(&after, "redeliver_dlr_attempts_total", "host=\"127.0.0.1\"");
    assert!(
        attempts > acked as f64,
        "attempts {attempts}, acked {acked}\n{after}"
    );
    assert!(value(&after, "redeliver_dlr_outcomes_total", "outcome=\"retry\"") > 0.0);
    assert_eq!(
        value(&after, "redeliver_dlr_queue_depth", ""),
        0.0,
        "{after}"
    );
    // Hook latency, by hook.
    assert!(after.contains("redeliver_engine_hook_seconds"), "{after}");
    assert!(
        after.contains("hook=\"smpp_handle_dr_negative\""),
        "{after}"
    );
}
