//! A loopback TCP proxy that behaves like a network link: every chunk of
//! bytes is delivered a fixed time after it was received, in each direction
//! ([`Link`], default 2 ms each way, so a 4 ms round trip), without limiting
//! bandwidth or the number of requests in flight, as a real link with that
//! propagation delay would. It also counts the DynamoDB requests that pass
//! (each carries one `X-Amz-Target` header) by operation, and the HTTP
//! requests in flight: a request is in flight from when the proxy has read
//! its head until it hands the last byte of its response to the client's
//! socket ([`LinkStats::peak_in_flight`]), found by following HTTP/1.1
//! message framing (`Content-Length`, chunked) in both directions, so the
//! count is exact whatever the server does with its connections. With
//! [`LinkProxy::hold_responses_until`] it delivers no response until that
//! many requests are in flight at once, so a test can prove a client keeps
//! that many in flight without depending on timing.
//!
//! It runs on plain threads (two per direction per connection: one reads
//! and stamps each chunk with its due time, one sleeps until that time and
//! writes), so it works under any async runtime or none, and
//! `std::thread::sleep` keeps the delay within tens of microseconds on
//! Linux (tokio's timer would round every delay up to the next
//! millisecond). Both sockets of a connection have Nagle's algorithm off.
//!
//! The upstream must be a loopback address: this is test and bench support,
//! never a way to reach another host.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The default delay in each direction.
pub const DEFAULT_ONE_WAY: Duration = Duration::from_millis(2);

/// The delays of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Added to every byte from the client to the upstream.
    pub up: Duration,
    /// Added to every byte from the upstream to the client.
    pub down: Duration,
}

impl Default for Link {
    fn default() -> Self {
        Link::symmetric(DEFAULT_ONE_WAY)
    }
}

impl Link {
    /// The same delay both ways.
    pub fn symmetric(one_way: Duration) -> Self {
        Link {
            up: one_way,
            down: one_way,
        }
    }

    /// A link whose round trip is `rtt_ms` milliseconds, half each way.
    pub fn round_trip_ms(rtt_ms: f64) -> Self {
        Link::symmetric(Duration::from_secs_f64(rtt_ms.max(0.0) / 2000.0))
    }

    /// The added round-trip time.
    pub fn rtt(&self) -> Duration {
        self.up + self.down
    }
}

/// What passed through a proxy.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// DynamoDB requests (`X-Amz-Target` headers) from clients.
    pub requests: AtomicU64,
    /// Bytes from clients to the upstream.
    pub bytes_up: AtomicU64,
    /// Bytes from the upstream to clients.
    pub bytes_down: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Connections open now (accepted, and the upstream's side not yet
    /// delivered and closed).
    pub open_connections: AtomicU64,
    /// The most connections open at once (connections close after their
    /// responses, so this lags behind requests: count requests with
    /// [`LinkStats::peak_in_flight`]).
    pub peak_open_connections: AtomicU64,
    /// HTTP requests in flight now: head read from the client, the end of
    /// the response not yet handed to it.
    pub in_flight: AtomicU64,
    /// The most HTTP requests in flight at once.
    pub peak_in_flight: AtomicU64,
    by_target: Mutex<BTreeMap<String, u64>>,
    gate: Gate,
}

/// Holds responses back until a number of requests are in flight.
#[derive(Debug, Default)]
struct Gate {
    /// 0: no gate.
    target: AtomicU64,
    open: Mutex<bool>,
    opened: Condvar,
}

/// How long a gate holds responses at most: only a client that never
/// reaches the target waits this long (and its test then fails on the
/// peak it reached). Long, so a starved machine never reaches it.
const GATE_TIMEOUT: Duration = Duration::from_secs(120);

impl Gate {
    fn check(&self, in_flight: u64) {
        let target = self.target.load(Ordering::SeqCst);
        if target > 0 && in_flight >= target {
            *self.open.lock().unwrap_or_else(|e| e.into_inner()) = true;
            self.opened.notify_all();
        }
    }

    fn wait(&self) {
        if self.target.load(Ordering::SeqCst) == 0 {
            return;
        }
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let (mut open, _) = self
            .opened
            .wait_timeout_while(open, GATE_TIMEOUT, |open| !*open)
            .unwrap_or_else(|e| e.into_inner());
        // A timeout opens the gate for good: the rest of every response
        // flows at once, so a client sees a short peak (and its test fails
        // on that), never a response stalled chunk by chunk, which an HTTP
        // client's stall protection would report as a different error.
        *open = true;
        self.opened.notify_all();
    }
}

impl LinkStats {
    /// Requests so far by operation, lower-cased (`batchwriteitem`,
    /// `putitem`, ...).
    pub fn by_operation(&self) -> BTreeMap<String, u64> {
        self.by_target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Requests so far of one operation (any case: `BatchWriteItem`).
    pub fn operation(&self, name: &str) -> u64 {
        self.by_operation()
            .get(&name.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    fn request_started(&self) {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        self.gate.check(now);
    }

    fn requests_done(&self, n: u64) {
        if n > 0 {
            self.in_flight.fetch_sub(n, Ordering::SeqCst);
        }
    }

    fn count(&self, target: &str) {
        // `dynamodb_20120810.batchwriteitem` -> `batchwriteitem`.
        let op = target
            .rsplit('.')
            .next()
            .unwrap_or(target)
            .to_ascii_lowercase();
        self.requests.fetch_add(1, Ordering::SeqCst);
        *self
            .by_target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(op)
            .or_default() += 1;
    }
}

/// A running proxy; stops accepting connections when dropped (connections
/// already open run until either side closes them).
#[derive(Debug)]
pub struct LinkProxy {
    url: String,
    link: Link,
    stats: Arc<LinkStats>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl LinkProxy {
    /// Starts a proxy on `127.0.0.1` (a free port) in front of `upstream`
    /// (`http://HOST:PORT` or `HOST:PORT`, a loopback address).
    pub fn start(upstream: &str, link: Link) -> io::Result<LinkProxy> {
        let target = loopback_target(upstream)?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(LinkStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (stats.clone(), stop.clone());
        thread::Builder::new()
            .name("link-proxy-accept".into())
            .spawn(move || accept_loop(listener, target, link, st, sp))?;
        Ok(LinkProxy {
            url: format!("http://{addr}"),
            link,
            stats,
            stop,
            addr,
        })
    }

    /// `http://127.0.0.1:PORT`: point the client here.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The delays.
    pub fn link(&self) -> Link {
        self.link
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<LinkStats> {
        &self.stats
    }

    /// Delivers no response until `requests` requests are in flight at
    /// once (then every response flows as usual), or 120 s have passed
    /// (then the gate stays open). Set
    /// it before the traffic starts.
    pub fn hold_responses_until(&self, requests: u64) {
        self.stats.gate.target.store(requests, Ordering::SeqCst);
        self.stats
            .gate
            .check(self.stats.in_flight.load(Ordering::SeqCst));
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// The socket address of `upstream`, which must resolve to loopback.
fn loopback_target(upstream: &str) -> io::Result<SocketAddr> {
    let hostport = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    if hostport.contains('/') || upstream.starts_with("https://") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{upstream:?}: the link proxy forwards plain http://HOST:PORT only"),
        ));
    }
    let addr = hostport.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{upstream:?} resolves to no address"),
        )
    })?;
    if !addr.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{upstream:?} is not a loopback address; the link proxy is for local emulators only"),
        ));
    }
    Ok(addr)
}

fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    link: Link,
    stats: Arc<LinkStats>,
    stop: Arc<AtomicBool>,
) {
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(target) else {
            continue;
        };
        stats.connections.fetch_add(1, Ordering::SeqCst);
        let open = stats.open_connections.fetch_add(1, Ordering::SeqCst) + 1;
        stats
            .peak_open_connections
            .fetch_max(open, Ordering::SeqCst);
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
            continue;
        };
        let outstanding = Arc::new(AtomicU64::new(0));
        let up = Direction::Up(stats.clone(), outstanding.clone());
        let down = Direction::Down(stats.clone(), outstanding);
        let _ = thread::Builder::new()
            .name("link-proxy-up".into())
            .spawn(move || pump(client, server, link.up, up));
        let _ = thread::Builder::new()
            .name("link-proxy-down".into())
            .spawn(move || pump(s2, c2, link.down, down));
    }
}

/// Which way a pump copies, with the counters and the connection's
/// requests whose responses are not yet delivered.
enum Direction {
    Up(Arc<LinkStats>, Arc<AtomicU64>),
    Down(Arc<LinkStats>, Arc<AtomicU64>),
}

/// A chunk to deliver, when, and how many responses it completes.
struct Delivery {
    due: Instant,
    bytes: Vec<u8>,
    responses: u64,
}

/// Copies `from` to `to`, each chunk written `delay` after it was read.
fn pump(mut from: TcpStream, to: TcpStream, delay: Duration, dir: Direction) {
    let (tx, rx) = mpsc::channel::<Delivery>();
    let down = match &dir {
        Direction::Down(stats, outstanding) => Some((stats.clone(), outstanding.clone())),
        Direction::Up(..) => None,
    };
    let writer = thread::Builder::new()
        .name("link-proxy-write".into())
        .spawn(move || {
            let mut to = to;
            for d in rx {
                let now = Instant::now();
                if d.due > now {
                    thread::sleep(d.due - now);
                }
                // The responses that end in this chunk are no longer in
                // flight once it is handed to the client's socket: counted
                // down just before, so the client, which sees a response
                // only after, never has a request the proxy no longer
                // counts, and the proxy never counts more than the client
                // has in flight.
                if let Some((stats, outstanding)) = &down {
                    stats.gate.wait();
                    let n = d.responses.min(outstanding.load(Ordering::SeqCst));
                    outstanding.fetch_sub(n, Ordering::SeqCst);
                    stats.requests_done(n);
                }
                if to.write_all(&d.bytes).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        });
    let Ok(writer) = writer else { return };
    let mut framing = Framing::new(matches!(dir, Direction::Up(..)));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let due = Instant::now() + delay;
        let events = framing.feed(&buf[..n]);
        let mut responses = 0;
        match &dir {
            Direction::Up(stats, outstanding) => {
                stats.bytes_up.fetch_add(n as u64, Ordering::Relaxed);
                for e in events {
                    if let Event::Head(head) = e {
                        outstanding.fetch_add(1, Ordering::SeqCst);
                        stats.request_started();
                        if let Some(target) = header(&head, "x-amz-target") {
                            stats.count(&target);
                        }
                    }
                }
            }
            Direction::Down(stats, _) => {
                stats.bytes_down.fetch_add(n as u64, Ordering::Relaxed);
                responses = events.iter().filter(|e| matches!(e, Event::End)).count() as u64;
            }
        }
        let d = Delivery {
            due,
            bytes: buf[..n].to_vec(),
            responses,
        };
        if tx.send(d).is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.join();
    let _ = from.shutdown(Shutdown::Read);
    if let Direction::Down(stats, outstanding) = &dir {
        // Requests that will get no response now are no longer in flight.
        stats.requests_done(outstanding.swap(0, Ordering::SeqCst));
        stats.open_connections.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What [`Framing::feed`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    /// A message head was read in full (its bytes, without the blank line).
    Head(Vec<u8>),
    /// A final (non-1xx) response ended; requests do not send it.
    End,
}

/// Where a message stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a head, up to its blank line.
    Head,
    /// Skipping this many body bytes.
    Body(u64),
    /// Reading a chunk-size line.
    ChunkSize,
    /// Skipping this many chunk bytes, then its CRLF.
    ChunkData(u64),
    /// Skipping the CRLF after a chunk's data.
    ChunkEnd,
    /// Reading trailer lines after the last chunk, up to a blank line.
    Trailers,
    /// A body that lasts until the connection closes.
    UntilClose,
}

/// Follows HTTP/1.1 message framing in one direction of a connection:
/// requests (client to server) or responses (server to client).
#[derive(Debug)]
struct Framing {
    requests: bool,
    state: State,
    /// The head or the line being read (kept at most [`MAX_HEAD`] long).
    line: Vec<u8>,
}

/// The longest head kept; longer ones are cut (their framing headers are
/// near the start in practice).
const MAX_HEAD: usize = 64 * 1024;

impl Framing {
    fn new(requests: bool) -> Framing {
        Framing {
            requests,
            state: State::Head,
            line: Vec::new(),
        }
    }

    /// Feeds a chunk; returns what ended in it, in order.
    fn feed(&mut self, mut chunk: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        while !chunk.is_empty() {
            match self.state {
                State::UntilClose => return out,
                State::Body(left) | State::ChunkData(left) => {
                    let take = (chunk.len() as u64).min(left) as usize;
                    chunk = &chunk[take..];
                    let left = left - take as u64;
                    self.state = match (self.state, left) {
                        (State::Body(_), 0) => {
                            self.message_end(&mut out);
                            State::Head
                        }
                        (State::Body(_), l) => State::Body(l),
                        (_, 0) => State::ChunkEnd,
                        (_, l) => State::ChunkData(l),
                    };
                }
                State::Head | State::ChunkSize | State::ChunkEnd | State::Trailers => {
                    let b = chunk[0];
                    chunk = &chunk[1..];
                    if self.line.len() < MAX_HEAD {
                        self.line.push(b);
                    }
                    self.byte_read(&mut out);
                }
            }
        }
        out
    }

    fn message_end(&mut self, out: &mut Vec<Event>) {
        if !self.requests {
            out.push(Event::End);
        }
    }

    /// After a byte of a head or a line was added to `line`.
    fn byte_read(&mut self, out: &mut Vec<Event>) {
        match self.state {
            State::Head => {
                if self.line == b"\r\n" {
                    // Blank lines between messages.
                    self.line.clear();
                } else if self.line.ends_with(b"\r\n\r\n") {
                    let head = std::mem::take(&mut self.line);
                    self.head_done(head, out);
                }
            }
            State::ChunkSize if self.line.ends_with(b"\r\n") => {
                let text = String::from_utf8_lossy(&self.line).to_string();
                self.line.clear();
                let digits = text.split(';').next().unwrap_or("").trim();
                self.state = match u64::from_str_radix(digits, 16) {
                    Ok(0) => State::Trailers,
                    Ok(n) => State::ChunkData(n),
                    Err(_) => State::UntilClose,
                };
            }
            State::ChunkEnd if self.line.ends_with(b"\n") => {
                self.line.clear();
                self.state = State::ChunkSize;
            }
            State::Trailers if self.line.ends_with(b"\r\n") => {
                let blank = self.line == b"\r\n";
                self.line.clear();
                if blank {
                    self.state = State::Head;
                    self.message_end(out);
                }
            }
            _ => {}
        }
    }

    fn head_done(&mut self, head: Vec<u8>, out: &mut Vec<Event>) {
        let status = if self.requests {
            None
        } else {
            String::from_utf8_lossy(&head)
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse::<u16>().ok())
        };
        let chunked = header(&head, "transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let length = header(&head, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
        out.push(Event::Head(head));
        if let Some(s) = status {
            if (100..200).contains(&s) {
                // Informational: the final response follows.
                self.state = State::Head;
                return;
            }
        }
        let no_body = matches!(status, Some(204 | 304));
        self.state = if chunked {
            State::ChunkSize
        } else if let Some(n) = length.filter(|_| !no_body) {
            if n == 0 {
                self.message_end(out);
                State::Head
            } else {
                State::Body(n)
            }
        } else if self.requests || no_body {
            self.message_end(out);
            State::Head
        } else {
            State::UntilClose
        };
    }
}

/// The value of header `name` (lower case) in a message head, trimmed.
fn header(head: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    text.split("\r\n").skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-connection-at-a-time echo server that answers each line with
    /// the same line.
    fn echo_server() -> (SocketAddr, thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_nodelay(true).unwrap();
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        (addr, handle)
    }

    fn round_trip(stream: &mut TcpStream, msg: &[u8]) -> Duration {
        let t = Instant::now();
        stream.write_all(msg).unwrap();
        let mut got = vec![0u8; msg.len()];
        stream.read_exact(&mut got).unwrap();
        assert_eq!(got, msg);
        t.elapsed()
    }

    #[test]
    fn adds_the_configured_delay_each_way() {
        let (addr, server) = echo_server();
        let link = Link {
            up: Duration::from_millis(15),
            down: Duration::from_millis(10),
        };
        let proxy = LinkProxy::start(&format!("http://{addr}"), link).unwrap();
        let mut c = TcpStream::connect(proxy.url().trim_start_matches("http://")).unwrap();
        c.set_nodelay(true).unwrap();
        let times: Vec<Duration> = (0..5).map(|_| round_trip(&mut c, b"ping\n")).collect();
        // Never faster than the link (the proxy holds every chunk until its
        // due time); a loaded machine may only make it slower, which is not
        // asserted.
        assert!(
            times.iter().all(|t| *t >= Duration::from_millis(25)),
            "{times:?}"
        );
        assert_eq!(proxy.stats().bytes_up.load(Ordering::SeqCst), 25);
        drop(c);
        server.join().unwrap();
    }

    #[test]
    fn keeps_requests_in_flight_instead_of_queueing_them() {
        // Ten messages written back to back are all read by the proxy
        // while none has been delivered yet: the link delays, it does not
        // serialise. The delay is long (30 s up) so that "none delivered
        // yet" holds however slow the machine is; the test does not wait
        // for it.
        let (addr, _server) = echo_server();
        let link = Link {
            up: Duration::from_secs(30),
            down: Duration::ZERO,
        };
        let proxy = LinkProxy::start(&addr.to_string(), link).unwrap();
        let mut c = TcpStream::connect(proxy.url().trim_start_matches("http://")).unwrap();
        c.set_nodelay(true).unwrap();
        for _ in 0..10 {
            c.write_all(b"0123456789").unwrap();
        }
        let read = &proxy.stats().bytes_up;
        while read.load(Ordering::SeqCst) < 100 {
            thread::yield_now();
        }
        c.set_nonblocking(true).unwrap();
        let mut got = [0u8; 1];
        let echoed = c.read(&mut got);
        assert!(
            matches!(&echoed, Err(e) if e.kind() == io::ErrorKind::WouldBlock),
            "{echoed:?}"
        );
    }

    #[test]
    fn framing_finds_requests_and_responses_split_across_chunks() {
        let req = b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.BatchWriteItem\r\ncontent-length: 25\r\n\r\n{\"x-amz-target: no\":\"\r\n\"}";
        for size in [1, 3, 7, 1000] {
            let mut f = Framing::new(true);
            let mut heads = Vec::new();
            let two: Vec<u8> = req.iter().chain(req.iter()).copied().collect();
            for part in two.chunks(size) {
                for e in f.feed(part) {
                    match e {
                        Event::Head(h) => heads.push(header(&h, "x-amz-target").unwrap()),
                        Event::End => panic!("requests do not end responses"),
                    }
                }
            }
            // Two requests; the body that mentions the header is no request.
            assert_eq!(heads, ["DynamoDB_20120810.BatchWriteItem"; 2], "{size}");
            assert_eq!(f.state, State::Head);
        }
        let responses: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n\
            HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd\
            HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n\
            HTTP/1.1 204 No Content\r\n\r\n\
            HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        for size in [1, 2, 5, 1000] {
            let mut f = Framing::new(false);
            let ends: usize = responses
                .chunks(size)
                .map(|p| f.feed(p).iter().filter(|e| **e == Event::End).count())
                .sum();
            assert_eq!(ends, 4, "{size}");
        }
    }

    #[test]
    fn refuses_non_loopback_upstreams() {
        for bad in [
            "http://10.0.0.1:80",
            "https://127.0.0.1:1",
            "http://127.0.0.1:1/path",
        ] {
            let err = LinkProxy::start(bad, Link::default()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
    }
}
