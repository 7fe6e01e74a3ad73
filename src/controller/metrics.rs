//! The controller's Prometheus metrics and health endpoints, served over plain HTTP on one
//! address: `/metrics` (text exposition format 0.0.4), `/healthz` (the process answers),
//! `/readyz` (this replica leads and its watches run).
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;

/// Counters and gauges; cheap to update from every reconcile.
#[derive(Debug, Default)]
pub struct Metrics {
    reconciles: AtomicU64,
    errors: AtomicU64,
    duration_micros: AtomicU64,
    in_flight: AtomicU64,
    /// This replica holds the leader Lease.
    pub leader: AtomicBool,
    /// The controller's watches are running.
    pub watching: AtomicBool,
    /// Duration buckets (upper bounds in seconds) and their counts.
    buckets: [AtomicU64; BUCKETS.len()],
}

/// Histogram bucket bounds, seconds.
const BUCKETS: [f64; 8] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

impl Metrics {
    /// A reconcile started.
    pub fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// One reconcile ended after `took`.
    pub fn reconciled(&self, took: Duration, ok: bool) {
        self.reconciles.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        self.duration_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.buckets) {
            if secs <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let n = self.reconciles.load(Ordering::Relaxed);
        let mut t = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let errors = load(&self.errors);
        let in_flight = load(&self.in_flight);
        let leader = u8::from(self.leader.load(Ordering::Relaxed));
        let head = |t: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(t, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            &mut t,
            "runnerctl_reconciles_total",
            "counter",
            "GitLabRunner reconciles.",
        );
        let _ = writeln!(t, "runnerctl_reconciles_total {n}");
        head(
            &mut t,
            "runnerctl_reconcile_errors_total",
            "counter",
            "Reconciles that failed (retried).",
        );
        let _ = writeln!(t, "runnerctl_reconcile_errors_total {errors}");
        let name = "runnerctl_reconcile_duration_seconds";
        head(&mut t, name, "histogram", "How long reconciles take.");
        for (bound, count) in BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(t, "{name}_bucket{{le=\"{bound}\"}} {}", load(count));
        }
        let _ = writeln!(t, "{name}_bucket{{le=\"+Inf\"}} {n}");
        let sum = load(&self.duration_micros) as f64 / 1e6;
        let _ = writeln!(t, "{name}_sum {sum}\n{name}_count {n}");
        head(
            &mut t,
            "runnerctl_reconciles_in_flight",
            "gauge",
            "Reconciles running now (the work queue's busy part).",
        );
        let _ = writeln!(t, "runnerctl_reconciles_in_flight {in_flight}");
        head(
            &mut t,
            "runnerctl_leader",
            "gauge",
            "Whether this replica leads.",
        );
        let _ = writeln!(t, "runnerctl_leader {leader}");
        t
    }
}

/// Serve `/metrics`, `/healthz` and `/readyz` on `addr` until the task is dropped.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let metrics = metrics.clone();
                    async move {
                        let (code, body) = match req.uri().path() {
                            "/metrics" => (200, metrics.render()),
                            "/healthz" => (200, "ok\n".to_string()),
                            "/readyz" if metrics.watching.load(Ordering::Relaxed) => {
                                (200, "ok\n".into())
                            }
                            "/readyz" => (503, "not leading or not watching yet\n".into()),
                            _ => (404, "not found\n".into()),
                        };
                        let resp = hyper::Response::builder()
                            .status(code)
                            .header("content-type", "text/plain; version=0.0.4")
                            .body(Full::new(Bytes::from(body)))
                            .expect("a response");
                        Ok::<_, Infallible>(resp)
                    }
                });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts() {
        let m = Metrics::default();
        m.started();
        m.reconciled(Duration::from_millis(80), true);
        m.started();
        m.reconciled(Duration::from_secs(3), false);
        let t = m.render();
        assert!(t.contains("runnerctl_reconciles_total 2\n"), "{t}");
        assert!(t.contains("runnerctl_reconcile_errors_total 1\n"), "{t}");
        assert!(
            t.contains("runnerctl_reconcile_duration_seconds_bucket{le=\"0.1\"} 1\n"),
            "{t}"
        );
        assert!(
            t.contains("runnerctl_reconcile_duration_seconds_bucket{le=\"5\"} 2\n"),
            "{t}"
        );
        assert!(t.contains("runnerctl_reconciles_in_flight 0\n"), "{t}");
    }
}
