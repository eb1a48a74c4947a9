//! A loopback TCP proxy that behaves like a network link: every chunk of
//! bytes is delivered a fixed time after it was received, in each direction
//! ([`Link`], default 2 ms each way, so a 4 ms round trip), without limiting
//! bandwidth or the number of requests in flight, as a real link with that
//! propagation delay would. It also counts the DynamoDB requests that pass
//! (each carries one `X-Amz-Target` header) by operation.
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
use std::sync::{mpsc, Arc, Mutex};
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
    /// The most connections open at once. A server that closes every
    /// connection after one response (moto does) makes this the most
    /// requests in flight at once.
    pub peak_open_connections: AtomicU64,
    by_target: Mutex<BTreeMap<String, u64>>,
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

    fn count(&self, target: &str) {
        // `dynamodb_20120810.batchwriteitem` -> `batchwriteitem`.
        let op = target.rsplit('.').next().unwrap_or(target).to_string();
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
        let up_stats = stats.clone();
        let down_stats = stats.clone();
        let _ = thread::Builder::new()
            .name("link-proxy-up".into())
            .spawn(move || pump(client, server, link.up, Direction::Up(up_stats)));
        let _ = thread::Builder::new()
            .name("link-proxy-down".into())
            .spawn(move || pump(s2, c2, link.down, Direction::Down(down_stats)));
    }
}

enum Direction {
    Up(Arc<LinkStats>),
    Down(Arc<LinkStats>),
}

/// Copies `from` to `to`, each chunk written `delay` after it was read.
fn pump(mut from: TcpStream, to: TcpStream, delay: Duration, dir: Direction) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = thread::Builder::new()
        .name("link-proxy-write".into())
        .spawn(move || {
            let mut to = to;
            for (due, chunk) in rx {
                let now = Instant::now();
                if due > now {
                    thread::sleep(due - now);
                }
                if to.write_all(&chunk).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        });
    let Ok(writer) = writer else { return };
    let mut scanner = TargetScanner::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let due = Instant::now() + delay;
        match &dir {
            Direction::Up(stats) => {
                stats.bytes_up.fetch_add(n as u64, Ordering::Relaxed);
                for target in scanner.feed(&buf[..n]) {
                    stats.count(&target);
                }
            }
            Direction::Down(stats) => {
                stats.bytes_down.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
        if tx.send((due, buf[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.join();
    let _ = from.shutdown(Shutdown::Read);
    if let Direction::Down(stats) = &dir {
        stats.open_connections.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Finds `X-Amz-Target` header values in a request stream that arrives in
/// arbitrary chunks.
#[derive(Debug, Default)]
struct TargetScanner {
    /// Unscanned bytes, lower-cased (at most one partial header line long
    /// between calls).
    pending: Vec<u8>,
}

const NEEDLE: &[u8] = b"\r\nx-amz-target:";
/// The longest header value kept while waiting for its line end.
const MAX_VALUE: usize = 256;

impl TargetScanner {
    /// Feeds a chunk; returns every complete target value found.
    fn feed(&mut self, chunk: &[u8]) -> Vec<String> {
        self.pending
            .extend(chunk.iter().map(u8::to_ascii_lowercase));
        let mut out = Vec::new();
        let mut consumed = 0;
        while let Some(at) = find(&self.pending[consumed..], NEEDLE) {
            let start = consumed + at + NEEDLE.len();
            match find(&self.pending[start..], b"\r\n") {
                Some(end) => {
                    let value = String::from_utf8_lossy(&self.pending[start..start + end]);
                    out.push(value.trim().to_string());
                    consumed = start + end;
                }
                None if self.pending.len() - start > MAX_VALUE => consumed = start,
                None => {
                    consumed += at;
                    self.pending.drain(..consumed);
                    return out;
                }
            }
        }
        // Keep a tail that may hold the start of the next needle.
        let keep = (self.pending.len() - consumed).min(NEEDLE.len() - 1);
        let cut = self.pending.len() - keep;
        self.pending.drain(..cut);
        out
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
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
        let mut times: Vec<Duration> = (0..5).map(|_| round_trip(&mut c, b"ping\n")).collect();
        times.sort();
        // Never faster than the link; on a loaded machine it may be slower.
        assert!(times[0] >= Duration::from_millis(25), "{times:?}");
        assert!(times[2] < Duration::from_millis(200), "{times:?}");
        assert_eq!(proxy.stats().bytes_up.load(Ordering::SeqCst), 25);
        drop(c);
        server.join().unwrap();
    }

    #[test]
    fn keeps_requests_in_flight_instead_of_queueing_them() {
        // Ten messages written back to back arrive about one delay later,
        // not ten delays later: the link delays, it does not serialise.
        let (addr, server) = echo_server();
        let proxy = LinkProxy::start(&addr.to_string(), Link::round_trip_ms(60.0)).unwrap();
        let mut c = TcpStream::connect(proxy.url().trim_start_matches("http://")).unwrap();
        c.set_nodelay(true).unwrap();
        let t = Instant::now();
        for _ in 0..10 {
            c.write_all(b"0123456789").unwrap();
            thread::sleep(Duration::from_millis(1));
        }
        let mut got = vec![0u8; 100];
        c.read_exact(&mut got).unwrap();
        let elapsed = t.elapsed();
        assert!(elapsed >= Duration::from_millis(60), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(60 * 4), "{elapsed:?}");
        drop(c);
        server.join().unwrap();
    }

    #[test]
    fn counts_targets_split_across_chunks() {
        let mut s = TargetScanner::default();
        let req = b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.BatchWriteItem\r\ncontent-length: 2\r\n\r\n{}";
        let mut found = Vec::new();
        for part in req.chunks(7).chain(req.chunks(3)) {
            found.extend(s.feed(part));
        }
        assert_eq!(
            found,
            vec![
                "dynamodb_20120810.batchwriteitem".to_string(),
                "dynamodb_20120810.batchwriteitem".to_string()
            ]
        );
        // A body that mentions the header without a line break before it is not a request.
        assert!(s.feed(b"{\"x-amz-target: no\"}").is_empty());
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
