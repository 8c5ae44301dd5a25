//! One whole run: the simulators, the application, the gateway, and the summary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use redeliver::dlr::DlrThrowerConfig;
use redeliver::message::Bucket;
use redeliver::store::{EmbeddedStore, MessageStore, RiakConfig, RiakStore};
use tokio::net::TcpListener;

use super::app::{App, AppReport};
use super::gateway::{Gateway, GatewayReport, Peers};
use super::mmsc::{Mmsc, MmscReport};
use super::plan;
use super::smsc::{Smsc, SmscReport};
use super::timeline::Timeline;

/// Where the gateway keeps its messages.
#[derive(Debug, Clone)]
pub enum StoreChoice {
    /// An embedded store in a fresh temporary directory, removed at the end.
    Temporary,
    /// An embedded store at this path (kept).
    Embedded(PathBuf),
    /// A Riak cluster: its servers (`host:port` or URLs).
    Riak(Vec<String>),
}

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// How many messages the application sends.
    pub messages: usize,
    /// The store.
    pub store: StoreChoice,
    /// The DLR thrower's `retry_delay`.
    pub retry_delay: Duration,
    /// The DLR thrower's queue: `None` keeps pending DLRs in memory, `Some(amqp://…)` in
    /// RabbitMQ (with the `dlr-amqp` feature).
    pub dlr_queue: Option<String>,
    /// Give up waiting after this long.
    pub deadline: Duration,
}

impl Options {
    /// `messages` messages on a temporary embedded store, DLR retries after 50 ms.
    pub fn new(messages: usize) -> Self {
        Self {
            messages,
            store: StoreChoice::Temporary,
            retry_delay: Duration::from_millis(50),
            dlr_queue: None,
            deadline: Duration::from_secs(60).saturating_add(
                Duration::from_millis(20)
                    .saturating_mul(u32::try_from(messages).unwrap_or(u32::MAX)),
            ),
        }
    }
}

/// The engine's counters that the summary shows.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct EngineReport {
    /// Submissions saved.
    pub stored: u64,
    /// Messages that reached a positive final state.
    pub positive: u64,
    /// Messages that reached a negative final state.
    pub negative: u64,
    /// Intermediate receipts.
    pub intermediate: u64,
    /// Receipts parked until their submission was stored.
    pub parked: u64,
    /// Receipts that matched nothing.
    pub unmatched: u64,
    /// Messages rerouted by hooks.
    pub rerouted: u64,
    /// Bounces handed to the injector.
    pub bounced: u64,
    /// Duplicate final receipts.
    pub duplicates: u64,
    /// Hooks that failed.
    pub hook_errors: u64,
    /// Store operations that failed.
    pub store_errors: u64,
}

/// Everything a run did, as the gateway and as each simulator counted it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Whether every message reached its end and every DLR its outcome before the deadline.
    pub complete: bool,
    /// Messages sent by the application.
    pub messages: u64,
    /// Of which first sent as SMS.
    pub sms: u64,
    /// Of which first sent as MMS.
    pub mms: u64,
    /// The store used.
    pub store: String,
    /// Messages still in the store at the end (the bounced ones: kept for `mstore reinstate`).
    pub store_left: u64,
    /// How long the run took.
    pub elapsed_ms: u64,
    /// The gateway's counts.
    pub gateway: GatewayReport,
    /// The engine's counters.
    pub engine: EngineReport,
    /// The SMSC simulator's counts.
    pub smsc: SmscReport,
    /// The MMSC simulator's counts.
    pub mmsc: MmscReport,
    /// The application's counts.
    pub app: AppReport,
}

async fn listener() -> Result<TcpListener, String> {
    TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))
}

/// Called about once a second while the run is not over: messages finished, messages in all,
/// DLRs pending.
pub type Progress = Box<dyn Fn(usize, usize, usize) + Send + Sync>;

/// Runs the whole flow once.
pub async fn run(
    opts: &Options,
    timeline: Arc<Timeline>,
    progress: Option<Progress>,
) -> Result<Summary, String> {
    if opts.messages == 0 || opts.messages > plan::MAX_MESSAGES {
        return Err(format!(
            "--messages {}: expected 1 to {}",
            opts.messages,
            plan::MAX_MESSAGES
        ));
    }
    let started = Instant::now();
    let mut _temp = None;
    let (store, store_name): (Arc<dyn MessageStore>, String) = match &opts.store {
        StoreChoice::Temporary => {
            let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
            let path = dir.path().join("mstore.redb");
            let store = EmbeddedStore::open(&path).map_err(|e| e.to_string())?;
            _temp = Some(dir);
            (Arc::new(store), format!("embedded {}", path.display()))
        }
        StoreChoice::Embedded(path) => {
            let store = EmbeddedStore::open(path).map_err(|e| e.to_string())?;
            (Arc::new(store), format!("embedded {}", path.display()))
        }
        StoreChoice::Riak(servers) => {
            // The buckets this gateway writes are known, so `due` and the sweep ask them
            // instead of having Riak list its buckets (a walk over every key).
            let config = RiakConfig::new(servers.clone())
                .with_buckets([format!("MADR-{}", plan::SHORTCODE), "MADR-MM7".to_owned()]);
            let store = RiakStore::new(config).map_err(|e| e.to_string())?;
            store
                .ping()
                .await
                .map_err(|e| format!("Riak is not answering: {e}"))?;
            (Arc::new(store), format!("riak {}", servers.join(", ")))
        }
    };
    timeline.event("run", None, format_args!("store: {store_name}"));

    let app = App::start(listener().await?, Arc::clone(&timeline))
        .map_err(|e| format!("application endpoint: {e}"))?;
    let smsc = Smsc::start(listener().await?, Arc::clone(&timeline))
        .map_err(|e| format!("SMSC simulator: {e}"))?;
    let vasp_listener = listener().await?;
    let vasp_url = format!(
        "http://{}/vasp/dr",
        vasp_listener.local_addr().map_err(|e| e.to_string())?
    );
    let mmsc = Mmsc::start(listener().await?, vasp_url, Arc::clone(&timeline))?;
    let dlr_url = app.url().parse().map_err(|e| format!("dlr-url: {e}"))?;
    timeline.event(
        "run",
        None,
        format_args!(
            "SMSC smpp://{}  MMSC {}  dlr-url {}",
            smsc.addr,
            mmsc.url(),
            app.url()
        ),
    );

    let dlr_config = DlrThrowerConfig {
        retry_delay: opts.retry_delay,
        max_retries: 3,
        timeout: Duration::from_secs(5),
        ..DlrThrowerConfig::default()
    };
    let peers = Peers {
        smsc: smsc.addr,
        mmsc_url: mmsc.url(),
        vasp_listener,
        dlr_url,
    };
    let mut gateway = Gateway::start(
        opts.messages,
        Arc::clone(&store),
        peers,
        dlr_config,
        opts.dlr_queue.as_deref(),
        Arc::clone(&timeline),
    )
    .await?;
    gateway.run_spool(opts.messages);

    let complete = {
        let wait = gateway.wait();
        tokio::pin!(wait);
        let deadline = tokio::time::sleep(opts.deadline);
        tokio::pin!(deadline);
        let second = Duration::from_secs(1);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + second, second);
        loop {
            tokio::select! {
                () = &mut wait => break true,
                () = &mut deadline => break false,
                _ = tick.tick() => {
                    if let Some(p) = &progress {
                        let (done, pending) = gateway.progress();
                        p(done, opts.messages, pending);
                    }
                }
            }
        }
    };
    gateway.unbind().await;

    let bucket = Bucket::for_submission(Some(plan::SHORTCODE), true).map_err(|e| e.to_string())?;
    let mut store_left = 0;
    let mut ids = store.list(&bucket);
    while let Some(id) = ids.next().await {
        if id.is_ok() {
            store_left += 1;
        }
    }
    drop(ids);

    let c = gateway.engine().counters();
    let engine = EngineReport {
        stored: c.stored,
        positive: c.positive,
        negative: c.negative,
        intermediate: c.intermediate,
        parked: c.parked,
        unmatched: c.unmatched,
        rerouted: c.rerouted,
        bounced: c.bounced,
        duplicates: c.duplicates,
        hook_errors: c.hook_errors,
        store_errors: c.store_errors,
    };
    let sms = (0..opts.messages)
        .filter(|&i| plan::kind(i) == plan::Kind::Sms)
        .count() as u64;
    Ok(Summary {
        complete,
        messages: opts.messages as u64,
        sms,
        mms: opts.messages as u64 - sms,
        store: store_name,
        store_left,
        elapsed_ms: started.elapsed().as_millis() as u64,
        gateway: gateway.report(),
        engine,
        smsc: smsc.report(),
        mmsc: mmsc.report(),
        app: app.report(),
    })
}
