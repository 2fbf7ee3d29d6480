//! The metrics listener (`--metrics ADDR`): Prometheus text on `/metrics`,
//! and `/health` for a load balancer to probe (200 while the server takes
//! connections and its store answers, 503 once it is stopping or while
//! its store does not answer).
//!
//! A port of its own, hardened like the messaging port and kept apart from
//! it: at most [`MAX_SCRAPERS`] connections at once (more are closed as
//! soon as they are accepted), a request head of at most [`MAX_REQUEST`]
//! bytes that must arrive within [`REQUEST_TIMEOUT`], one answer per
//! connection, and the store read at most once a second whatever the
//! scrape rate. A hostile scraper can therefore hold a few sockets and a
//! few KiB, never a pool slot, the budget or the store for long. This is
//! a minimal HTTP/1.x server, not a general one: it reads nothing past the
//! request line but the end of the head.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::encoding::prometheus_text;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Semaphore, watch};
use tracing::{debug, warn};

use crate::refusal::Refusal;
use crate::state::Shared;
use crate::store::Usage;

/// Scrape connections served at once: a scraper or two, and a load
/// balancer's probes, with room to spare.
pub const MAX_SCRAPERS: usize = 16;

/// Longest a request head may take to arrive, and an answer to be taken.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest request head read: a scraper's is a few hundred bytes.
pub const MAX_REQUEST: usize = 8 * 1024;

/// How long an answered connection is read (and what comes discarded)
/// before it is closed.
const LINGER: Duration = Duration::from_secs(1);

/// The store's usage is read at most this often.
const STORE_EVERY: Duration = Duration::from_secs(1);

/// What the listener reads from the running server.
struct Endpoint {
    shared: Arc<Shared>,
    stopping: watch::Receiver<bool>,
    /// When the store was last read, and the last usage read.
    usage: Mutex<Option<(Instant, Option<Usage>)>>,
    /// When the store was last asked whether it answers, and its answer.
    health: Mutex<Option<(Instant, bool)>>,
}

/// Serves `listener` for as long as the runtime runs; `/health` answers
/// 503 once `stopping` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    stopping: watch::Receiver<bool>,
) {
    // Every label exposed from the start, at zero, so that a rate over the
    // first refusal of a kind is not lost.
    let metrics = super::get();
    for reason in Refusal::REASONS {
        drop(metrics.refused.get_or_create(&[("reason", reason)]));
    }
    for mode in [cloak_core::Mode::Asymmetric, cloak_core::Mode::Hybrid] {
        drop(metrics.accepted.get_or_create(&[("mode", mode.as_str())]));
    }
    let endpoint = Arc::new(Endpoint {
        shared,
        stopping,
        usage: Mutex::new(None),
        health: Mutex::new(None),
    });
    let slots = Arc::new(Semaphore::new(MAX_SCRAPERS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                // Usually out of file descriptors: wait rather than spin.
                debug!("metrics: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            debug!(%peer, "metrics: {MAX_SCRAPERS} connections open already; closed");
            continue;
        };
        let endpoint = Arc::clone(&endpoint);
        tokio::spawn(async move {
            endpoint.answer(stream).await;
            drop(permit);
        });
    }
}

/// Why no request head was read.
#[derive(Debug, PartialEq, Eq)]
enum NoHead {
    /// The peer closed first, or the connection failed.
    Closed,
    /// Longer than [`MAX_REQUEST`].
    TooLarge,
}

/// Reads up to the blank line that ends a request head; its first line.
async fn read_head(stream: &mut TcpStream) -> Result<String, NoHead> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await.map_err(|_| NoHead::Closed)?;
        if n == 0 {
            return Err(NoHead::Closed);
        }
        head.extend_from_slice(&buf[..n]);
        // Over the limit is refused even if it ends in this read.
        if head.len() > MAX_REQUEST {
            return Err(NoHead::TooLarge);
        }
        let ended =
            head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n");
        if ended {
            let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
            return Ok(String::from_utf8_lossy(line).trim_end().to_owned());
        }
    }
}

/// An answer: status, content type, body.
#[derive(Debug, PartialEq, Eq)]
struct Response {
    status: u16,
    content_type: &'static str,
    body: String,
    /// A `HEAD` request: the headers alone.
    head_only: bool,
}

impl Response {
    fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.to_owned(),
            head_only: false,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            431 => "Request Header Fields Too Large",
            _ => "Service Unavailable",
        };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        if self.status == 405 {
            out.push_str("Allow: GET, HEAD\r\n");
        }
        out.push_str("\r\n");
        if !self.head_only {
            out.push_str(&self.body);
        }
        out.into_bytes()
    }
}

/// What a request line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics,
    Health,
}

/// The route of a request line, or the answer to a bad one; and whether
/// it is a `HEAD` request.
fn route(line: &str) -> (Result<Route, Response>, bool) {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return (Err(Response::text(400, "bad request\n")), false);
    };
    if !version.starts_with("HTTP/1.") {
        return (Err(Response::text(400, "bad request\n")), false);
    }
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return (Err(Response::text(405, "GET or HEAD only\n")), false);
    }
    let path = target.split('?').next().unwrap_or_default();
    let found = match path {
        "/metrics" => Ok(Route::Metrics),
        "/health" => Ok(Route::Health),
        _ => Err(Response::text(404, "not found: /metrics or /health\n")),
    };
    (found, head_only)
}

impl Endpoint {
    /// Reads one request and answers it, each within the timeout.
    async fn answer(&self, mut stream: TcpStream) {
        let response = match tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream)).await {
            Err(_) | Ok(Err(NoHead::Closed)) => return,
            Ok(Err(NoHead::TooLarge)) => Response::text(431, "request too large\n"),
            Ok(Ok(line)) => match route(&line) {
                (Err(response), _) => response,
                (Ok(found), head_only) => {
                    let mut response = self.serve(found).await;
                    response.head_only = head_only;
                    response
                }
            },
        };
        let bytes = response.bytes();
        let _ = tokio::time::timeout(REQUEST_TIMEOUT, async {
            stream.write_all(&bytes).await?;
            stream.shutdown().await
        })
        .await;
        // Closing with the peer's bytes unread would reset the connection,
        // and the peer could lose the answer (a 431 above all): read what
        // is still coming, briefly and boundedly, first.
        let _ = tokio::time::timeout(LINGER, async {
            let mut drained = 0;
            while drained < MAX_REQUEST * 8 {
                match stream.read(&mut [0u8; 1024]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => drained += n,
                }
            }
        })
        .await;
    }

    async fn serve(&self, route: Route) -> Response {
        match route {
            Route::Health if *self.stopping.borrow() => Response::text(503, "stopping\n"),
            Route::Health if self.healthy().await => Response::text(200, "ok\n"),
            // An instance that cannot reach its store (PostgreSQL down)
            // can store nothing: send clients elsewhere.
            Route::Health => Response::text(503, "store unavailable\n"),
            Route::Metrics => Response {
                status: 200,
                content_type: prometheus_text::CONTENT_TYPE,
                body: self.render().await,
                head_only: false,
            },
        }
    }

    /// The metrics, with the gauges read now.
    async fn render(&self) -> String {
        let metrics = super::get();
        let depth = self.shared.pool.depth();
        metrics.pool_waiting.set(gauge(depth.waiting as u64));
        metrics.pool_running.set(gauge(depth.running as u64));
        metrics.pool_admitted.set(gauge(depth.admitted as u64));
        if let Some(usage) = self.usage().await {
            metrics.store_bytes.set(gauge(usage.used_bytes));
            metrics.store_limit_bytes.set(gauge(usage.limit_bytes));
            metrics
                .store_reserved_bytes
                .set(gauge(usage.reserved_bytes));
            let stored = &metrics.stored_messages;
            stored
                .get_or_create(&[("kind", "received")])
                .set(gauge(usage.received));
            stored
                .get_or_create(&[("kind", "queued")])
                .set(gauge(usage.queued));
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &metrics.registry);
        out
    }

    /// The store's usage (the last known one when it does not answer),
    /// read at most once every [`STORE_EVERY`].
    async fn usage(&self) -> Option<Usage> {
        let mut cached = self.usage.lock().await;
        if let Some((at, usage)) = *cached
            && at.elapsed() < STORE_EVERY
        {
            return usage;
        }
        let last = cached.and_then(|(_, usage)| usage);
        let store = Arc::clone(&self.shared.store);
        let read = match tokio::task::spawn_blocking(move || store.usage()).await {
            Ok(Ok(usage)) => Some(usage),
            Ok(Err(e)) => {
                warn!("metrics: reading the store's usage: {e}");
                None
            }
            Err(e) => {
                warn!("metrics: reading the store's usage: {e}");
                None
            }
        };
        let usage = read.or(last);
        *cached = Some((Instant::now(), usage));
        usage
    }

    /// Whether the store answers, asked at most once every
    /// [`STORE_EVERY`].
    async fn healthy(&self) -> bool {
        let mut cached = self.health.lock().await;
        if let Some((at, healthy)) = *cached
            && at.elapsed() < STORE_EVERY
        {
            return healthy;
        }
        let store = Arc::clone(&self.shared.store);
        let healthy = match tokio::task::spawn_blocking(move || store.check()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                warn!("health: the store does not answer: {e}");
                false
            }
            Err(_) => false,
        };
        *cached = Some((Instant::now(), healthy));
        healthy
    }
}

fn gauge(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_routed_or_answered() {
        let ok = |line: &str| route(line).0.ok();
        let status = |line: &str| route(line).0.err().map(|r| r.status);
        assert_eq!(ok("GET /metrics HTTP/1.1"), Some(Route::Metrics));
        assert_eq!(ok("GET /metrics?x=1 HTTP/1.0"), Some(Route::Metrics));
        assert_eq!(ok("GET /health HTTP/1.1"), Some(Route::Health));
        assert!(
            route("HEAD /health HTTP/1.1").1,
            "HEAD answers headers only"
        );
        assert_eq!(status("POST /metrics HTTP/1.1"), Some(405));
        assert_eq!(status("GET /other HTTP/1.1"), Some(404));
        assert_eq!(status("GET /metrics HTTP/2"), Some(400));
        assert_eq!(status("GET /metrics"), Some(400));
        assert_eq!(status("GET  /metrics HTTP/1.1"), Some(400));
        assert_eq!(status("\u{0}\u{1}garbage"), Some(400));
    }

    #[test]
    fn a_response_carries_its_length_and_a_head_request_no_body() {
        let mut response = Response::text(200, "ok\n");
        let full = String::from_utf8(response.bytes()).unwrap();
        assert!(full.starts_with("HTTP/1.1 200 OK\r\n"), "{full}");
        assert!(full.contains("Content-Length: 3\r\n"), "{full}");
        assert!(full.ends_with("\r\n\r\nok\n"), "{full}");
        response.head_only = true;
        let head = String::from_utf8(response.bytes()).unwrap();
        assert!(
            head.ends_with(
                "Content-Length: 3\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
            ),
            "{head}"
        );
        let refused = String::from_utf8(Response::text(405, "x").bytes()).unwrap();
        assert!(refused.contains("Allow: GET, HEAD\r\n"), "{refused}");
    }
}
