//! Metric names and labels, emitted through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! The crate records; the host decides where the numbers go by installing a recorder (for
//! Prometheus, `metrics-exporter-prometheus`, as the gateway example does with
//! `--metrics 127.0.0.1:9000`). Without a recorder every call is a no-op. Install the recorder
//! before building the engine, stores and thrower: they register their counters when built.
//!
//! | name | type | labels | what |
//! | --- | --- | --- | --- |
//! | `redeliver_engine_submissions_total` | counter | `outcome` = `stored`, `not_saved`, `not_tracked`, `collision` | submissions (and parts) by what the engine did |
//! | `redeliver_engine_receipts_total` | counter | `class` = `positive`, `negative`, `intermediate`, `unmatched`, `duplicate` | receipts by what they meant |
//! | `redeliver_engine_parked_total` | counter | | receipts parked until their submission is stored |
//! | `redeliver_engine_held_receipts` | gauge | | receipts held in this process while the store cannot answer |
//! | `redeliver_engine_injections_total` | counter | `kind` = `reroute`, `same_route`, `bounce` | messages handed to the host's injector |
//! | `redeliver_engine_errors_total` | counter | `kind` = `hook`, `store` | hook errors and failed store operations |
//! | `redeliver_engine_conflicts_total` | counter | | conditional writes lost to another writer (then decided again) |
//! | `redeliver_engine_hook_seconds` | histogram | `hook` = the hook's name | time spent in each host hook |
//! | `redeliver_store_operations_total` | counter | `backend`, `op`, `result` = `ok`, `conflict`, `unavailable`, `error` | store operations |
//! | `redeliver_store_operation_seconds` | histogram | `backend`, `op` | store operation latency |
//! | `redeliver_riak_requests_total` | counter | `server` | HTTP requests sent to each Riak server |
//! | `redeliver_riak_failures_total` | counter | `server` | requests that failed (transport, timeout, `503`) |
//! | `redeliver_riak_failovers_total` | counter | `server` | requests moved to another server after this one failed |
//! | `redeliver_riak_marked_down_total` | counter | `server` | times the server was taken out of rotation |
//! | `redeliver_riak_server_up` | gauge | `server` | `1` in rotation, `0` marked down |
//! | `redeliver_dlr_attempts_total` | counter | `host` | DLR HTTP attempts by destination host |
//! | `redeliver_dlr_outcomes_total` | counter | `host`, `outcome` = `acked`, `retry`, `gave_up`, `refused` | how each attempt ended |
//! | `redeliver_dlr_attempt_seconds` | histogram | `host` | DLR request latency |
//! | `redeliver_dlr_queue_depth` | gauge | | DLRs waiting in this thrower (queued, in flight or waiting to retry) |
//! | `redeliver_dlr_wait_held` | gauge | | DLRs this node holds from the RabbitMQ wait queues until their retry is due (`dlr-amqp`) |
//! | `redeliver_dlr_wait_moves_total` | counter | `reason` = `due`, `implausible` | waiting DLRs this node moved back to the work queue: when due, or at once for a due time it could not believe |
//! | `redeliver_dlr_wait_pauses_total` | counter | | times this node stopped consuming a wait class whose head was due later than `max_hold` |
//! | `redeliver_dlr_amqp_connections_total` | counter | `result` = `up`, `lost`, `refused` | connections to the broker: made, lost after being made, failed to make |
//!
//! Tracing: each receipt is handled inside a `receipt` span (`bucket`, `msgid`, `channel`), each
//! DLR attempt inside a `dlr` span (`msgid`, `host`, `attempt`).

/// Submissions by outcome.
pub const ENGINE_SUBMISSIONS: &str = "redeliver_engine_submissions_total";
/// Receipts by class.
pub const ENGINE_RECEIPTS: &str = "redeliver_engine_receipts_total";
/// Receipts parked until their submission is stored.
pub const ENGINE_PARKED: &str = "redeliver_engine_parked_total";
/// Receipts held in this process while the store cannot answer.
pub const ENGINE_HELD: &str = "redeliver_engine_held_receipts";
/// Messages handed to the host's injector, by kind.
pub const ENGINE_INJECTIONS: &str = "redeliver_engine_injections_total";
/// Hook errors and failed store operations.
pub const ENGINE_ERRORS: &str = "redeliver_engine_errors_total";
/// Conditional writes lost to another writer.
pub const ENGINE_CONFLICTS: &str = "redeliver_engine_conflicts_total";
/// Time spent in each host hook.
pub const ENGINE_HOOK_SECONDS: &str = "redeliver_engine_hook_seconds";
/// Store operations by backend, operation and result.
pub const STORE_OPERATIONS: &str = "redeliver_store_operations_total";
/// Store operation latency by backend and operation.
pub const STORE_OPERATION_SECONDS: &str = "redeliver_store_operation_seconds";
/// HTTP requests per Riak server.
pub const RIAK_REQUESTS: &str = "redeliver_riak_requests_total";
/// Failed requests per Riak server.
pub const RIAK_FAILURES: &str = "redeliver_riak_failures_total";
/// Failovers away from each Riak server.
pub const RIAK_FAILOVERS: &str = "redeliver_riak_failovers_total";
/// Times each Riak server was marked down.
pub const RIAK_MARKED_DOWN: &str = "redeliver_riak_marked_down_total";
/// Whether each Riak server is in rotation.
pub const RIAK_SERVER_UP: &str = "redeliver_riak_server_up";
/// DLR attempts per destination host.
pub const DLR_ATTEMPTS: &str = "redeliver_dlr_attempts_total";
/// DLR attempt outcomes per destination host.
pub const DLR_OUTCOMES: &str = "redeliver_dlr_outcomes_total";
/// DLR request latency per destination host.
pub const DLR_ATTEMPT_SECONDS: &str = "redeliver_dlr_attempt_seconds";
/// DLRs waiting in a thrower.
pub const DLR_QUEUE_DEPTH: &str = "redeliver_dlr_queue_depth";
/// DLRs a node holds from the RabbitMQ wait queues until due.
pub const DLR_WAIT_HELD: &str = "redeliver_dlr_wait_held";
/// Waiting DLRs a node moved back to the RabbitMQ work queue, by reason.
pub const DLR_WAIT_MOVES: &str = "redeliver_dlr_wait_moves_total";
/// Wait classes a node paused (head due later than `max_hold`).
pub const DLR_WAIT_PAUSES: &str = "redeliver_dlr_wait_pauses_total";
/// Connections to the RabbitMQ broker, by result.
pub const DLR_AMQP_CONNECTIONS: &str = "redeliver_dlr_amqp_connections_total";
