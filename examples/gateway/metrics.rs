//! `--metrics 127.0.0.1:PORT`: the library's metrics (see `redeliver::telemetry`) served in the
//! Prometheus text format at `http://127.0.0.1:PORT/metrics`.

use std::net::SocketAddr;

use metrics_exporter_prometheus::PrometheusBuilder;

/// Installs the Prometheus recorder and its HTTP listener on `addr`. Call it inside the tokio
/// runtime and before the engine, stores and thrower are built (they register their counters
/// with the recorder installed when they are built).
pub fn serve(addr: SocketAddr) -> Result<(), String> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| format!("--metrics {addr}: {e}"))
}
