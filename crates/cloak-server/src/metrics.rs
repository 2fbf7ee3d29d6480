//! What the server counts for `--metrics` (see `metrics::http`, which
//! serves it): one set per process, as a process serves one data folder.
//!
//! Counters are bumped where things happen (a refusal where it becomes the
//! client's answer, a message where the store took it, a connection where
//! it is accepted); gauges that describe a state (the pool's queue, the
//! store's usage) are read when scraped, so nothing has to keep them in
//! step.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

pub mod http;

/// One label, as `[("reason", "busy")]`.
pub(crate) type Label = [(&'static str, &'static str); 1];

/// Everything the server exposes.
pub(crate) struct Metrics {
    pub registry: Registry,
    /// Messages stored, by mode.
    pub accepted: Family<Label, Counter>,
    /// Refusals sent, by reason.
    pub refused: Family<Label, Counter>,
    /// Bytes of the messages stored (their text).
    pub received_bytes: Counter,
    /// Queued messages removed by their client's acknowledgement.
    pub delivered: Counter,
    /// Connections accepted, and those closed at once for their address's
    /// share.
    pub connections: Counter,
    pub connections_refused: Counter,
    pub connections_open: Gauge,
    /// How long requests wait for a pool slot.
    pub pool_wait: Histogram,
    /// Read when scraped.
    pub pool_waiting: Gauge,
    pub pool_running: Gauge,
    pub pool_admitted: Gauge,
    pub store_bytes: Gauge,
    pub store_limit_bytes: Gauge,
    pub store_reserved_bytes: Gauge,
    pub stored_messages: Family<Label, Gauge>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub(crate) fn get() -> &'static Metrics {
    &METRICS
}

/// Counts a refusal sent for `reason`.
pub(crate) fn refused(reason: &'static str) {
    get().refused.get_or_create(&[("reason", reason)]).inc();
}

/// One connection being served; counted until dropped (however its task
/// ends).
pub(crate) struct OpenConnection(());

/// Counts a connection as open until the returned value is dropped.
pub(crate) fn connection_open() -> OpenConnection {
    get().connections_open.inc();
    OpenConnection(())
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        get().connections_open.dec();
    }
}

/// Counts a request's wait for its pool slot.
pub(crate) fn waited(wait: Duration) {
    get().pool_wait.observe(wait.as_secs_f64());
}

impl Metrics {
    fn new() -> Metrics {
        let m = Metrics {
            registry: Registry::with_prefix("cloak"),
            accepted: Family::default(),
            refused: Family::default(),
            received_bytes: Counter::default(),
            delivered: Counter::default(),
            connections: Counter::default(),
            connections_refused: Counter::default(),
            connections_open: Gauge::default(),
            // 100 µs to about 6.5 s: one RSA operation to a flood's queue.
            pool_wait: Histogram::new(exponential_buckets(0.0001, 4.0, 9)),
            pool_waiting: Gauge::default(),
            pool_running: Gauge::default(),
            pool_admitted: Gauge::default(),
            store_bytes: Gauge::default(),
            store_limit_bytes: Gauge::default(),
            store_reserved_bytes: Gauge::default(),
            stored_messages: Family::default(),
        };
        m.register()
    }

    fn register(mut self) -> Metrics {
        let r = &mut self.registry;
        r.register(
            "messages_accepted",
            "Messages received, verified and stored, by mode",
            self.accepted.clone(),
        );
        r.register(
            "refusals",
            "Requests refused, by the reason the client was given",
            self.refused.clone(),
        );
        r.register_with_unit(
            "received",
            "Text bytes of the messages stored",
            Unit::Bytes,
            self.received_bytes.clone(),
        );
        r.register(
            "messages_delivered",
            "Queued messages acknowledged by their client",
            self.delivered.clone(),
        );
        r.register(
            "connections",
            "Connections accepted on the messaging port",
            self.connections.clone(),
        );
        r.register(
            "connections_refused",
            "Connections closed at once: their address held its share of the slots",
            self.connections_refused.clone(),
        );
        r.register(
            "connections_open",
            "Connections being served",
            self.connections_open.clone(),
        );
        self.register_pool_and_store();
        self
    }

    fn register_pool_and_store(&mut self) {
        let r = &mut self.registry;
        r.register_with_unit(
            "pool_wait",
            "Time requests waited for a slot on the request pool (RSA and store work)",
            Unit::Seconds,
            self.pool_wait.clone(),
        );
        r.register(
            "pool_waiting",
            "Requests waiting for a slot on the request pool",
            self.pool_waiting.clone(),
        );
        r.register(
            "pool_running",
            "Requests holding a slot on the request pool",
            self.pool_running.clone(),
        );
        r.register(
            "pool_admitted",
            "Requests admitted to the request pool, waiting or running",
            self.pool_admitted.clone(),
        );
        r.register_with_unit(
            "store_used",
            "Bytes of stored messages, as counted against --max-store-bytes",
            Unit::Bytes,
            self.store_bytes.clone(),
        );
        r.register_with_unit(
            "store_limit",
            "The store's size limit (--max-store-bytes)",
            Unit::Bytes,
            self.store_limit_bytes.clone(),
        );
        r.register_with_unit(
            "store_reserved",
            "Bytes reserved by streams being received",
            Unit::Bytes,
            self.store_reserved_bytes.clone(),
        );
        r.register(
            "stored_messages",
            "Messages in the store: received, and queued for clients",
            self.stored_messages.clone(),
        );
    }
}
