//! Backpressure through a proxy on reel: fast clients, one slow sink, and full socket
//! buffers in between, recorded and replayed.
//!
//! The proxy runs on reel's green threads: one reader per client moves what it reads (at
//! most 8 KiB a read) into a small bounded channel, and one writer moves it on to the sink.
//! The clients and the sink are ordinary kernel threads with blocking std sockets, outside
//! the runtime: the clients write as fast as they can, the sink reads a small chunk and then
//! sleeps. So the sink's socket buffer fills, the proxy's writes would block (its writer
//! waits, and the green threads run on), the channel fills, the readers stop reading, the
//! clients' socket buffers fill, and the clients' writes block in the kernel. Nothing in the
//! chain buffers without limit: the bytes in flight (written by the clients, not yet read by
//! the sink) stay below what the socket buffers and the channel hold.
//!
//! The run is recorded; the trace says which of the proxy's writes had to wait (their first
//! attempt gave `WouldBlock`). Then it is replayed in the same process with the clients and
//! the sink gone: the replay performs no I/O, and the proxy sees the same bytes, the same
//! counts and the same clock readings.
//!
//! ```text
//! cargo run --release --example backpressure               # Unix sockets
//! cargo run --release --example backpressure -- --tcp      # TCP on 127.0.0.1
//! cargo run --release --example backpressure -- --clients 4 --kib-per-client 256
//! ```
//!
//! The last line it prints is a summary of `key=value` pairs, for tests.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc as StdArc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant as StdInstant};

use reel::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use reel::reel_trace::{self, Event, IoEvent, IoResult, OpKind};
use reel::{Replay, Runtime};

const USAGE: &str = "\
usage: backpressure [--tcp] [--clients N] [--kib-per-client N]

  --tcp                 TCP on 127.0.0.1 (default: Unix-domain sockets)
  --clients N           clients writing at once, 1 to 16 (default 3)
  --kib-per-client N    KiB each client writes, 64 to 65536 (default 1024, over TCP 4096)";

/// Bytes the sink reads before each pause, over Unix sockets (and the receive buffer it
/// asks for).
const UNIX_SINK_CHUNK_BYTES: usize = 16 * 1024;
/// Bytes the sink reads before each pause over TCP: TCP's send buffers grow up to
/// `tcp_wmem` (4 MiB by default), so the run moves more bytes, faster, to fill them.
const TCP_SINK_CHUNK_BYTES: usize = 64 * 1024;
/// The sink's pause after each read.
const SINK_PAUSE: Duration = Duration::from_millis(5);
/// The send buffer the clients ask for (the kernel doubles it for its bookkeeping).
const CLIENT_SNDBUF_BYTES: usize = 16 * 1024;
/// Chunks the proxy's channel holds between its readers and its writer.
const CHANNEL_CHUNKS: usize = 4;
/// The most a reel read takes in one step.
const READ_CHUNK_BYTES: usize = 8 * 1024;
/// Bytes a client hands to one write call.
const CLIENT_WRITE_BYTES: usize = 64 * 1024;

/// What the command line asked for.
#[derive(Clone, Copy, Debug)]
struct Config {
    tcp: bool,
    clients: usize,
    bytes_per_client: u64,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Config>, String> {
    let mut config = Config {
        tcp: false,
        clients: 3,
        bytes_per_client: 0,
    };
    let mut args = args;
    while let Some(arg) = args.next() {
        let mut number = |name: &str, range: std::ops::RangeInclusive<u64>| {
            let value = args
                .next()
                .ok_or_else(|| format!("{name} needs a number"))?;
            match value.parse::<u64>() {
                Ok(number) if range.contains(&number) => Ok(number),
                _ => Err(format!(
                    "{name} takes a number from {} to {}, not {value:?}",
                    range.start(),
                    range.end()
                )),
            }
        };
        match arg.as_str() {
            "--tcp" => config.tcp = true,
            "--clients" => config.clients = number("--clients", 1..=16)? as usize,
            "--kib-per-client" => {
                config.bytes_per_client = number("--kib-per-client", 64..=65_536)? * 1024;
            }
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if config.bytes_per_client == 0 {
        config.bytes_per_client = if config.tcp { 4096 } else { 1024 } * 1024;
    }
    Ok(Some(config))
}

/// Where the proxy listens, or where the sink does.
#[derive(Clone, Debug)]
enum Address {
    Unix(PathBuf),
    Tcp(std::net::SocketAddr),
}

/// What the proxy saw: the same in the recording and in its replay.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ProxyOutcome {
    /// Bytes forwarded from each client, in the order they were accepted.
    forwarded: Vec<u64>,
    /// Bytes written to the sink.
    written: u64,
    /// Write calls the writer made (each may have waited).
    writes: u64,
    /// How long the writer spent in its write calls, by its (recorded) clock.
    writing: Duration,
    /// Read calls the readers made.
    reads: u64,
    /// How long the proxy ran, by its (recorded) clock.
    elapsed: Duration,
}

/// The proxy, on reel: listens at `listen`, tells `ready` where (a recording only: a replay
/// has no peers to tell), accepts the clients, and forwards everything to `sink`.
fn proxy(
    config: Config,
    listen: &Address,
    sink: &Address,
    ready: Option<std::sync::mpsc::Sender<Address>>,
) -> ProxyOutcome {
    let started = reel::time::Instant::now();
    let mut sink_stream: Box<dyn Write + Send> = match sink {
        Address::Unix(path) => Box::new(UnixStream::connect(path).expect("the sink listens")),
        Address::Tcp(address) => Box::new(TcpStream::connect(address).expect("the sink listens")),
    };
    let accept: Box<dyn Fn() -> Box<dyn Read + Send>> = match listen {
        Address::Unix(path) => {
            let listener = UnixListener::bind(path).expect("bind the proxy's socket");
            if let Some(ready) = &ready {
                ready.send(listen.clone()).expect("the clients wait");
            }
            Box::new(move || Box::new(listener.accept().expect("a client connects").0))
        }
        Address::Tcp(address) => {
            let listener = TcpListener::bind(address).expect("bind the proxy's socket");
            let bound = listener.local_addr().expect("a bound address");
            if let Some(ready) = &ready {
                ready.send(Address::Tcp(bound)).expect("the clients wait");
            }
            Box::new(move || Box::new(listener.accept().expect("a client connects").0))
        }
    };
    let (to_writer, from_readers) = reel::sync::mpsc::sync_channel::<Vec<u8>>(CHANNEL_CHUNKS);
    let writer = reel::thread::Builder::new()
        .name("writer".to_owned())
        .spawn(move || {
            let (mut written, mut writes, mut writing) = (0u64, 0u64, Duration::ZERO);
            for chunk in from_readers {
                let mut rest = &chunk[..];
                while !rest.is_empty() {
                    let before = reel::time::Instant::now();
                    let count = sink_stream.write(rest).expect("the sink reads");
                    writing += before.elapsed();
                    writes += 1;
                    written += count as u64;
                    rest = &rest[count..];
                }
            }
            (written, writes, writing)
        })
        .expect("spawn the writer");
    let readers: Vec<_> = (0..config.clients)
        .map(|client| {
            let mut stream = accept();
            let to_writer = to_writer.clone();
            reel::thread::Builder::new()
                .name(format!("reader-{client}"))
                .spawn(move || {
                    let (mut forwarded, mut reads) = (0u64, 0u64);
                    loop {
                        let mut chunk = vec![0; READ_CHUNK_BYTES];
                        let count = stream.read(&mut chunk).expect("the client writes");
                        reads += 1;
                        if count == 0 {
                            return (forwarded, reads);
                        }
                        chunk.truncate(count);
                        forwarded += count as u64;
                        to_writer.send(chunk).expect("the writer runs");
                    }
                })
                .expect("spawn a reader")
        })
        .collect();
    drop(to_writer);
    let mut outcome = ProxyOutcome {
        forwarded: Vec::new(),
        written: 0,
        writes: 0,
        writing: Duration::ZERO,
        reads: 0,
        elapsed: Duration::ZERO,
    };
    for reader in readers {
        let (forwarded, reads) = reader.join().expect("no reader panics");
        outcome.forwarded.push(forwarded);
        outcome.reads += reads;
    }
    (outcome.written, outcome.writes, outcome.writing) =
        writer.join().expect("the writer does not panic");
    outcome.elapsed = started.elapsed();
    outcome
}

/// Counters the clients and the sink share (kernel threads, outside the runtime).
#[derive(Default)]
struct Flow {
    written: AtomicU64,
    read: AtomicU64,
    most_in_flight: AtomicU64,
}

impl Flow {
    /// Notes the bytes in flight now: written by the clients, not yet read by the sink.
    fn sample(&self) {
        let written = self.written.load(Ordering::SeqCst);
        let read = self.read.load(Ordering::SeqCst);
        self.most_in_flight
            .fetch_max(written.saturating_sub(read), Ordering::SeqCst);
    }
}

/// A socket option of `fd`, in bytes.
fn socket_buffer(fd: i32, option: i32) -> usize {
    let mut value: libc::c_int = 0;
    let mut length = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `length` are valid for the kernel to write an int option into.
    let result = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&raw mut value).cast(),
            &mut length,
        )
    };
    assert_eq!(result, 0, "getsockopt: {}", std::io::Error::last_os_error());
    value as usize
}

/// Asks for a socket buffer of `bytes`; returns what the kernel gave (it doubles it).
fn set_socket_buffer(fd: i32, option: i32, bytes: usize) -> usize {
    let value = bytes as libc::c_int;
    // SAFETY: `value` is a valid int option for the kernel to read.
    let result = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(result, 0, "setsockopt: {}", std::io::Error::last_os_error());
    socket_buffer(fd, option)
}

/// The largest buffer TCP's autotuning may give a socket (`tcp_rmem` or `tcp_wmem`'s last
/// field).
fn tcp_buffer_max(name: &str) -> usize {
    std::fs::read_to_string(Path::new("/proc/sys/net/ipv4").join(name))
        .ok()
        .and_then(|text| text.split_whitespace().last()?.parse().ok())
        .unwrap_or(6 * 1024 * 1024)
}

/// A connected stream of either kind, blocking, from std.
trait PeerStream: Read + Write + AsRawFd + Send {}
impl<T: Read + Write + AsRawFd + Send> PeerStream for T {}

/// What a client measured.
struct ClientReport {
    written: u64,
    elapsed: Duration,
    blocked: Duration,
}

/// A client: connects to the proxy, writes `bytes` as fast as the kernel takes them.
fn client(address: Address, bytes: u64, flow: &Flow) -> (ClientReport, usize) {
    let mut stream: Box<dyn PeerStream> = match address {
        Address::Unix(path) => {
            Box::new(std::os::unix::net::UnixStream::connect(path).expect("the proxy listens"))
        }
        Address::Tcp(address) => {
            Box::new(std::net::TcpStream::connect(address).expect("the proxy listens"))
        }
    };
    let sndbuf = set_socket_buffer(stream.as_raw_fd(), libc::SO_SNDBUF, CLIENT_SNDBUF_BYTES);
    let block = vec![0x5a; CLIENT_WRITE_BYTES];
    let started = StdInstant::now();
    let (mut written, mut blocked) = (0u64, Duration::ZERO);
    while written < bytes {
        let want = (bytes - written).min(block.len() as u64) as usize;
        let before = StdInstant::now();
        let count = stream.write(&block[..want]).expect("the proxy reads");
        blocked += before.elapsed();
        written += count as u64;
        flow.written.fetch_add(count as u64, Ordering::SeqCst);
        flow.sample();
    }
    let report = ClientReport {
        written,
        elapsed: started.elapsed(),
        blocked,
    };
    (report, sndbuf)
}

/// What the sink measured.
struct SinkReport {
    read: u64,
    elapsed: Duration,
    rcvbuf: usize,
}

/// The sink: reads a chunk of `chunk_bytes` from the proxy, pauses, until the proxy closes.
fn sink(mut stream: Box<dyn PeerStream>, chunk_bytes: usize, flow: &Flow) -> SinkReport {
    let rcvbuf = set_socket_buffer(stream.as_raw_fd(), libc::SO_RCVBUF, chunk_bytes);
    let mut chunk = vec![0; chunk_bytes];
    let started = StdInstant::now();
    let mut read = 0u64;
    loop {
        let count = stream.read(&mut chunk).expect("the proxy writes");
        if count == 0 {
            break;
        }
        read += count as u64;
        flow.read.fetch_add(count as u64, Ordering::SeqCst);
        flow.sample();
        std::thread::sleep(SINK_PAUSE);
    }
    SinkReport {
        read,
        elapsed: started.elapsed(),
        rcvbuf,
    }
}

/// Writes of the proxy that had to wait, and all its writes, from the trace: a write whose
/// first attempt gave `WouldBlock` waited for the sink.
fn waited_writes(trace: &reel_trace::Trace) -> (u64, u64) {
    let (mut waited, mut writes) = (0, 0);
    let mut last_op = None;
    let mut blocked = std::collections::HashMap::new();
    for event in &trace.events {
        match event {
            Event::Step(step) => last_op = Some((step.op, step.thread)),
            Event::Io(io) => {
                let (IoEvent::Done(done), Some((OpKind::IoWrite, thread))) = (&**io, last_op)
                else {
                    continue;
                };
                if done.result == IoResult::WouldBlock {
                    blocked.insert(thread, true);
                } else {
                    writes += 1;
                    if blocked.remove(&thread).is_some() {
                        waited += 1;
                    }
                }
            }
            _ => {}
        }
    }
    (waited, writes)
}

fn megabytes_per_second(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64().max(1e-9) / 1e6
}

fn main() {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => {
            println!("{USAGE}");
            return;
        }
        Err(problem) => {
            eprintln!("backpressure: {problem}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let dir = std::env::temp_dir().join(format!("reel-backpressure-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let trace_path = dir.join("backpressure.reel");

    // The sink listens first; the proxy connects to it.
    let (sink_address, sink_listener): (Address, Box<dyn FnOnce() -> Box<dyn PeerStream> + Send>) =
        if config.tcp {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the sink");
            let address = listener.local_addr().expect("a bound address");
            (
                Address::Tcp(address),
                Box::new(move || Box::new(listener.accept().expect("the proxy connects").0)),
            )
        } else {
            let path = dir.join("sink.sock");
            let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind the sink");
            (
                Address::Unix(path),
                Box::new(move || Box::new(listener.accept().expect("the proxy connects").0)),
            )
        };
    let listen = if config.tcp {
        Address::Tcp("127.0.0.1:0".parse().expect("an address"))
    } else {
        Address::Unix(dir.join("proxy.sock"))
    };

    let sink_chunk_bytes = if config.tcp {
        TCP_SINK_CHUNK_BYTES
    } else {
        UNIX_SINK_CHUNK_BYTES
    };
    let flow = StdArc::new(Flow::default());
    let sink_thread = {
        let flow = StdArc::clone(&flow);
        std::thread::spawn(move || sink(sink_listener(), sink_chunk_bytes, &flow))
    };
    let (ready, proxy_address) = std::sync::mpsc::channel::<Address>();
    let clients = {
        let flow = StdArc::clone(&flow);
        std::thread::spawn(move || {
            let address = proxy_address.recv().expect("the proxy is listening");
            let threads: Vec<_> = (0..config.clients)
                .map(|_| {
                    let flow = StdArc::clone(&flow);
                    let address = address.clone();
                    std::thread::spawn(move || client(address, config.bytes_per_client, &flow))
                })
                .collect();
            threads
                .into_iter()
                .map(|thread| thread.join().expect("no client panics"))
                .collect::<Vec<_>>()
        })
    };

    let started = StdInstant::now();
    let recorded = Runtime::new()
        .record(&trace_path)
        .run(|| proxy(config, &listen, &sink_address, Some(ready)));
    let recording_took = started.elapsed();
    let clients = clients.join().expect("the clients end");
    let sink = sink_thread.join().expect("the sink ends");

    let trace = reel_trace::read_file(&trace_path).expect("the trace reads");
    let trace_bytes = std::fs::metadata(&trace_path).expect("the trace").len();
    let (waited, writes) = waited_writes(&trace);
    assert_eq!(
        writes, recorded.writes,
        "every write of the proxy is in the trace"
    );

    // The bound: what the kernel lets each socket hold, plus what the proxy holds itself.
    let client_sndbuf = clients[0].1;
    let proxy_bytes = ((CHANNEL_CHUNKS + 1 + config.clients) * READ_CHUNK_BYTES) as u64;
    let (per_client, to_sink) = if config.tcp {
        (
            2 * client_sndbuf + tcp_buffer_max("tcp_rmem"),
            tcp_buffer_max("tcp_wmem") + 2 * sink.rcvbuf,
        )
    } else {
        // A Unix stream charges what is queued to the sender's buffer, which a send may
        // overshoot by one packet (at most half of it): twice the buffer bounds it.
        let default_sndbuf = {
            let (one, _other) = std::os::unix::net::UnixStream::pair().expect("a socket pair");
            socket_buffer(one.as_raw_fd(), libc::SO_SNDBUF)
        };
        (2 * client_sndbuf, 2 * default_sndbuf)
    };
    let bound = (config.clients * per_client + to_sink) as u64 + proxy_bytes;
    let most_in_flight = flow.most_in_flight.load(Ordering::SeqCst);

    // The replay: no sockets, no peers; every result comes from the trace.
    for socket in ["sink.sock", "proxy.sock"] {
        let _ = std::fs::remove_file(dir.join(socket));
    }
    let replay_started = StdInstant::now();
    let mut replayed = None;
    let report = Replay::from_file(&trace_path)
        .expect("the trace reads")
        .run(|| replayed = Some(proxy(config, &listen, &sink_address, None)))
        .expect("the replay runs");
    let replay_took = replay_started.elapsed();
    let _ = std::fs::remove_dir_all(&dir);

    let client_bytes: u64 = clients.iter().map(|(report, _)| report.written).sum();
    let client_elapsed = clients
        .iter()
        .map(|(report, _)| report.elapsed)
        .max()
        .unwrap_or_default();
    let blocked_share = clients
        .iter()
        .map(|(report, _)| report.blocked.as_secs_f64() / report.elapsed.as_secs_f64().max(1e-9))
        .sum::<f64>()
        / clients.len() as f64;
    let same = report.reproduced() && replayed.as_ref() == Some(&recorded);
    let kind = if config.tcp {
        "TCP on 127.0.0.1"
    } else {
        "Unix sockets"
    };
    println!(
        "{} clients -> proxy (reel green threads) -> 1 slow sink, over {kind}",
        config.clients
    );
    println!(
        "clients:   {client_bytes} bytes in {:.2} s: {:.2} MB/s; {:.0}% of their time blocked \
         in write (send buffer {client_sndbuf} bytes)",
        client_elapsed.as_secs_f64(),
        megabytes_per_second(client_bytes, client_elapsed),
        blocked_share * 100.0
    );
    println!(
        "sink:      {} bytes in {:.2} s: {:.2} MB/s (reads {} KiB, then sleeps {} ms)",
        sink.read,
        sink.elapsed.as_secs_f64(),
        megabytes_per_second(sink.read, sink.elapsed),
        sink_chunk_bytes / 1024,
        SINK_PAUSE.as_millis()
    );
    println!(
        "proxy:     {waited} of {writes} writes to the sink waited ({:.0}%), {:.2} s of its \
         {:.2} s in writes (by its recorded clock); {} reads",
        waited as f64 * 100.0 / writes.max(1) as f64,
        recorded.writing.as_secs_f64(),
        recorded.elapsed.as_secs_f64(),
        recorded.reads,
    );
    println!(
        "in flight: at most {most_in_flight} bytes (the buffers and the proxy's channel hold \
         at most {bound})"
    );
    println!(
        "trace:     {trace_bytes} bytes, {} steps (recording took {:.2} s)",
        trace.steps,
        recording_took.as_secs_f64()
    );
    println!(
        "replay:    {} in {:.3} s with the peers gone: forwarded {:?}, {} bytes in {} writes, \
         {:.2} s by the recorded clock",
        if same {
            "the same outcome"
        } else {
            "A DIFFERENT OUTCOME"
        },
        replay_took.as_secs_f64(),
        replayed
            .as_ref()
            .map(|outcome| outcome.forwarded.clone())
            .unwrap_or_default(),
        replayed.as_ref().map_or(0, |outcome| outcome.written),
        replayed.as_ref().map_or(0, |outcome| outcome.writes),
        replayed
            .as_ref()
            .map_or(0.0, |outcome| outcome.elapsed.as_secs_f64()),
    );
    println!(
        "summary client_bytes={client_bytes} sink_bytes={} proxy_written={} writes={writes} \
         waited_writes={waited} most_in_flight={most_in_flight} bound={bound} \
         trace_bytes={trace_bytes} replay_same={same} replay_written={}",
        sink.read,
        recorded.written,
        replayed.as_ref().map_or(0, |outcome| outcome.written)
    );
    if !same {
        eprintln!("backpressure: the replay differed: {report}");
        std::process::exit(1);
    }
}
