//! A real HTTP upstream that answers every request with a JSON description of what it
//! received, and remembers it, so tests can see exactly what the filter let through.
//!
//! It answers 200, or the status a request asks for in [`STATUS_HEADER`] (so a test can make it
//! refuse, as an authorisation server behind a callout would).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// A request header naming the status the echo server answers with (a number from 200 to 599;
/// anything else is ignored and the answer is 200).
pub const STATUS_HEADER: &str = "x-echo-status";

/// The status the echo server answers a request with these headers.
pub fn answer_status<'a>(mut headers: impl Iterator<Item = (&'a str, &'a str)>) -> u16 {
    headers
        .find(|(k, _)| k.eq_ignore_ascii_case(STATUS_HEADER))
        .and_then(|(_, v)| v.trim().parse().ok())
        .filter(|code| (200..600).contains(code))
        .unwrap_or(200)
}

/// One request as the upstream saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoedRequest {
    /// The HTTP method.
    pub method: String,
    /// The request target, query included.
    pub path: String,
    /// Headers in arrival order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, as text (lossy).
    pub body: String,
}

impl EchoedRequest {
    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running echo upstream on 127.0.0.1; stopped when dropped.
pub struct EchoServer {
    server: Arc<tiny_http::Server>,
    address: SocketAddr,
    received: Arc<Mutex<Vec<EchoedRequest>>>,
    /// Requests whose headers arrived and that are not recorded yet (their body is being read).
    in_flight: Arc<AtomicUsize>,
    workers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for EchoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoServer")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

const WORKERS: usize = 4;

impl EchoServer {
    /// Starts the server on a free loopback port.
    pub fn start() -> anyhow::Result<Self> {
        let server = tiny_http::Server::http("127.0.0.1:0")
            .map_err(|e| anyhow::anyhow!("starting the echo upstream: {e}"))?;
        let address = server
            .server_addr()
            .to_ip()
            .context("echo upstream has no IP address")?;
        let server = Arc::new(server);
        let received = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let workers = (0..WORKERS)
            .map(|_| {
                let server = Arc::clone(&server);
                let received = Arc::clone(&received);
                let in_flight = Arc::clone(&in_flight);
                std::thread::spawn(move || serve(&server, &received, &in_flight))
            })
            .collect();
        Ok(Self {
            server,
            address,
            received,
            in_flight,
            workers,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Waits (up to `timeout`) until every request whose headers arrived is recorded. A request
    /// the proxy started upstream and then reset (a body policy's denial under Envoy's default
    /// Wasm config) is recorded only once its reset arrives, which can be after the client got
    /// its answer.
    pub fn wait_idle(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<EchoedRequest> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        for _ in &self.workers {
            self.server.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn serve(
    server: &tiny_http::Server,
    received: &Mutex<Vec<EchoedRequest>>,
    in_flight: &AtomicUsize,
) {
    while let Ok(mut request) = server.recv() {
        in_flight.fetch_add(1, Ordering::SeqCst);
        let mut body = Vec::new();
        let _ = request.as_reader().read_to_end(&mut body);
        let echoed = EchoedRequest {
            method: request.method().to_string(),
            path: request.url().to_string(),
            headers: request
                .headers()
                .iter()
                .map(|h| {
                    (
                        h.field.as_str().as_str().to_ascii_lowercase(),
                        h.value.to_string(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let json = serde_json::to_string(&echoed).unwrap_or_default();
        let status = answer_status(echoed.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(echoed);
        in_flight.fetch_sub(1, Ordering::SeqCst);
        let content_type = tiny_http::Header::from_bytes("content-type", "application/json");
        let mut response = tiny_http::Response::from_string(json).with_status_code(status);
        if let Ok(header) = content_type {
            response = response.with_header(header);
        }
        let _ = request.respond(response);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_header_sets_the_answer_status() {
        let status = |headers: &[(&str, &str)]| answer_status(headers.iter().copied());
        assert_eq!(status(&[]), 200);
        assert_eq!(status(&[("X-Echo-Status", "403")]), 403);
        assert_eq!(status(&[("x-echo-status", " 503 ")]), 503);
        assert_eq!(status(&[("x-echo-status", "99")]), 200);
        assert_eq!(status(&[("x-echo-status", "teapot")]), 200);
    }
}
