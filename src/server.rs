//! A small journaling server on loopback, run three ways: with std's blocking file calls
//! inside green threads, with [`reel::fs`] on io_uring, and with [`reel::fs`] on the helper
//! pool.
//!
//! Each request is 64 bytes; the server mixes them for [`Load::rounds`] rounds (a stand-in
//! for real work), appends a line naming the request and its digest to a journal file,
//! flushes it to the disk (`sync_data`, fdatasync(2)), and replies with the 8-byte digest.
//! The clients are green threads of the same runtime, each with one request in flight; the
//! server runs a green thread per connection.
//!
//! | [`Mode`]      | file calls                        | while one request's fsync waits |
//! |---------------|-----------------------------------|---------------------------------|
//! | `StdBlocking` | `std::fs` on the runtime's thread | every green thread waits        |
//! | `Uring`       | `reel::fs` on io_uring            | the others compute              |
//! | `Pool`        | `reel::fs` on helper threads      | the others compute              |
//!
//! With std's calls the runtime's only kernel thread sleeps in each fsync, so the
//! computations and the fsyncs add up (reel's watchdog reports each such stall when it is
//! set low enough: [`Runtime::stall_threshold`](reel::Runtime::stall_threshold)); with
//! `reel::fs` a green thread waiting for its fsync lets the others compute.
//!
//! A run with `reel::fs` recorded ([`reel::Runtime::record`]) replays with the port closed
//! and the journal deleted ([`replay`]): every socket and file result comes from the trace,
//! so the replay gives the same [`Outcome`] and performs none of the I/O.
//!
//! ```
//! use reel_suite::server::{self, Load, Mode};
//!
//! let dir = std::env::temp_dir().join(format!("reel-server-doc-{}", std::process::id()));
//! let load = Load { clients: 2, requests: 3, rounds: 100 };
//! let figures = server::run(Mode::Pool, &load, &dir, server::runtime(Mode::Pool));
//! std::fs::remove_dir_all(&dir).unwrap();
//! assert_eq!(figures.outcome.requests, 6);
//! assert_eq!(figures.outcome.digest, server::expected_digest(&load));
//! ```

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reel::net::{TcpListener, TcpStream};
use reel::sync::Arc;

/// Bytes of each request.
pub const REQUEST_BYTES: usize = 64;

/// The journal's file name in the server's directory.
pub const JOURNAL: &str = "journal.log";

/// Helper threads of [`Mode::Pool`]: enough that every connection's fsync can be in flight.
pub const POOL_HELPERS: usize = 8;

/// How the server's file calls are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `std::fs`, blocking, on the runtime's kernel thread: each fsync stops every green
    /// thread.
    StdBlocking,
    /// `reel::fs` on io_uring (where the kernel allows it; else the helper pool, and
    /// [`Figures::backend`] says so).
    Uring,
    /// `reel::fs` on the helper pool (`Runtime::io_uring(false)`, [`POOL_HELPERS`] threads).
    Pool,
}

impl Mode {
    /// The three modes, in the order they are shown.
    pub const ALL: [Mode; 3] = [Mode::StdBlocking, Mode::Uring, Mode::Pool];

    /// A short name, as given on a command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::StdBlocking => "std-blocking",
            Mode::Uring => "uring",
            Mode::Pool => "pool",
        }
    }

    /// The mode a [`Mode::name`] names.
    pub fn parse(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|mode| mode.name() == name)
    }
}

/// How much work a run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load {
    /// Clients, each a green thread with one request in flight at a time.
    pub clients: usize,
    /// Requests of each client.
    pub requests: usize,
    /// Rounds of mixing over each request's bytes.
    pub rounds: u32,
}

impl Load {
    /// The load the `find_the_bug` example and the benchmark run: 4 clients of 25 requests,
    /// each about 0.2 ms of computation (an fsync takes 0.15 to 4 ms on this VM's disk).
    pub const DEMO: Load = Load {
        clients: 4,
        requests: 25,
        rounds: 3_000,
    };

    /// Requests in all.
    pub fn total(&self) -> usize {
        self.clients * self.requests
    }
}

/// What a run gave the program: the same in a replay of its recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Requests answered.
    pub requests: usize,
    /// The digest of every reply, client by client, request by request.
    pub digest: u64,
    /// The journal's length in bytes, as read back at the end.
    pub journal_bytes: u64,
    /// A hash of the journal's bytes (their order is the order the requests were served).
    pub journal_hash: u64,
    /// Where the server listened.
    pub address: SocketAddr,
}

impl Outcome {
    /// One line holding the outcome, for a child process to hand to its parent.
    pub fn to_line(&self) -> String {
        format!(
            "requests={} digest={:#018x} journal_bytes={} journal_hash={:#018x} address={}",
            self.requests, self.digest, self.journal_bytes, self.journal_hash, self.address
        )
    }

    /// Reads a line written by [`Outcome::to_line`].
    pub fn from_line(line: &str) -> Option<Outcome> {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
        };
        let hex = |text: &str| u64::from_str_radix(text.strip_prefix("0x")?, 16).ok();
        Some(Outcome {
            requests: field("requests")?.parse().ok()?,
            digest: hex(field("digest")?)?,
            journal_bytes: field("journal_bytes")?.parse().ok()?,
            journal_hash: hex(field("journal_hash")?)?,
            address: field("address")?.parse().ok()?,
        })
    }
}

/// A run's outcome and how long it took.
#[derive(Clone, Debug)]
pub struct Figures {
    /// The mode it ran in.
    pub mode: Mode,
    /// The path the file calls took: `"std blocking calls"`, or [`reel::fs::backend`]'s
    /// answer (`"io_uring"`, `"helper threads"`).
    pub backend: &'static str,
    /// What the program got.
    pub outcome: Outcome,
    /// Wall time of the whole run (the runtime's start and the journal's reading included).
    pub elapsed: Duration,
}

impl Figures {
    /// Requests answered per second.
    pub fn per_second(&self) -> f64 {
        self.outcome.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The runtime a mode runs on: io_uring on for [`Mode::Uring`], off with [`POOL_HELPERS`]
/// helper threads for [`Mode::Pool`]. Add `.record(..)` or `.stall_threshold(..)` to it and
/// hand it to [`run`].
pub fn runtime(mode: Mode) -> reel::Runtime {
    match mode {
        Mode::StdBlocking => reel::Runtime::new(),
        Mode::Uring => reel::Runtime::new().io_uring(true),
        Mode::Pool => reel::Runtime::new()
            .io_uring(false)
            .helper_threads(POOL_HELPERS),
    }
}

/// Runs the server and its clients in `mode` on `runtime` (from [`runtime`]), with the
/// journal in `dir` (created; left there for the caller to look at or remove). Under
/// REEL_REPLAY the run is a replay, as any `Runtime::run`.
pub fn run(mode: Mode, load: &Load, dir: &Path, runtime: reel::Runtime) -> Figures {
    let dir = dir.to_owned();
    let load = *load;
    let start = Instant::now();
    let outcome = runtime.run(move || serve(mode, &load, &dir));
    let elapsed = start.elapsed();
    let backend = match mode {
        Mode::StdBlocking => "std blocking calls",
        // The choice the run made stays this kernel thread's until the next runtime's.
        Mode::Uring | Mode::Pool => reel::fs::backend(),
    };
    Figures {
        mode,
        backend,
        outcome,
        elapsed,
    }
}

/// Replays a recording (read by [`reel::Replay::from_file`]) of a run in `mode` with `load`
/// and `dir` (those of the recording: the program must do what it did). Nothing need exist:
/// not the journal, not its directory, not a listener. Returns what the replayed program
/// got, and the replay's report.
pub fn replay(
    replay: &reel::Replay,
    mode: Mode,
    load: &Load,
    dir: &Path,
) -> Result<(Outcome, reel::ReplayReport), String> {
    let got = std::sync::Mutex::new(None);
    let report = replay
        .run(|| {
            let outcome = serve(mode, load, dir);
            *got.lock().unwrap_or_else(|poison| poison.into_inner()) = Some(outcome);
        })
        .map_err(|error| error.to_string())?;
    let outcome = got
        .into_inner()
        .unwrap_or_else(|poison| poison.into_inner())
        .ok_or_else(|| format!("the replay ended before the program did:\n{report}"))?;
    Ok((outcome, report))
}

/// The digest every run with `load` must give: the same in every mode.
pub fn expected_digest(load: &Load) -> u64 {
    let mut digest = SEED;
    for client in 0..load.clients {
        let mut replies = SEED;
        for number in 0..load.requests {
            replies = fold(replies, mix(&request(client, number), load.rounds));
        }
        digest = fold(digest, replies);
    }
    digest
}

/// The journal, written through std's blocking calls or through reel's.
enum Journal {
    Std(std::fs::File),
    Reel(reel::fs::File),
}

impl Journal {
    fn open(mode: Mode, path: &Path) -> std::io::Result<Journal> {
        Ok(match mode {
            Mode::StdBlocking => Journal::Std(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
            Mode::Uring | Mode::Pool => Journal::Reel(
                reel::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        })
    }

    /// Appends `line` and flushes it to the disk.
    fn append_durably(&self, line: &[u8]) -> std::io::Result<()> {
        match self {
            Journal::Std(file) => {
                (&*file).write_all(line)?;
                file.sync_data() // Blocks the runtime's kernel thread.
            }
            Journal::Reel(file) => {
                (&*file).write_all(line)?;
                file.sync_data() // This green thread waits; the others run.
            }
        }
    }
}

/// The program: a listener, a green thread per connection, `load.clients` clients. Returns
/// the digest of the replies and the journal read back.
fn serve(mode: Mode, load: &Load, dir: &Path) -> Outcome {
    let journal_path = dir.join(JOURNAL);
    let journal = match mode {
        Mode::StdBlocking => std::fs::create_dir_all(dir),
        Mode::Uring | Mode::Pool => reel::fs::create_dir_all(dir),
    }
    .and_then(|()| Journal::open(mode, &journal_path))
    .unwrap_or_else(|error| panic!("cannot open {}: {error}", journal_path.display()));
    let journal = Arc::new(journal);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let address = listener.local_addr().expect("the listener's address");
    let (clients, requests, rounds) = (load.clients, load.requests, load.rounds);

    let acceptor = reel::thread::Builder::new()
        .name("acceptor".to_owned())
        .spawn(move || {
            let mut handlers = Vec::with_capacity(clients);
            for connection in 0..clients {
                let (stream, _) = listener.accept().expect("accept a client");
                let journal = Arc::clone(&journal);
                let handler = reel::thread::Builder::new()
                    .name(format!("handler-{connection}"))
                    .spawn(move || handle(stream, &journal, requests, rounds))
                    .expect("spawn a handler");
                handlers.push(handler);
            }
            for handler in handlers {
                handler.join().expect("a handler panicked");
            }
        })
        .expect("spawn the acceptor");

    let clients: Vec<_> = (0..clients)
        .map(|client| {
            reel::thread::Builder::new()
                .name(format!("client-{client}"))
                .spawn(move || ask(address, client, requests))
                .expect("spawn a client")
        })
        .collect();
    let mut digest = SEED;
    for client in clients {
        digest = fold(digest, client.join().expect("a client panicked"));
    }
    acceptor.join().expect("the acceptor panicked");

    let journal = match mode {
        Mode::StdBlocking => std::fs::read(&journal_path),
        Mode::Uring | Mode::Pool => reel::fs::read(&journal_path),
    }
    .unwrap_or_else(|error| panic!("cannot read {}: {error}", journal_path.display()));
    Outcome {
        requests: load.total(),
        digest,
        journal_bytes: journal.len() as u64,
        journal_hash: hash(&journal),
        address,
    }
}

/// One connection: read a request, mix it, journal it durably, reply with its digest.
fn handle(mut stream: TcpStream, journal: &Journal, requests: usize, rounds: u32) {
    let mut request = [0; REQUEST_BYTES];
    for _ in 0..requests {
        stream.read_exact(&mut request).expect("read a request");
        let digest = mix(&request, rounds);
        let name = String::from_utf8_lossy(&request);
        let line = format!("{} {digest:016x}\n", name.trim_end_matches('.'));
        journal
            .append_durably(line.as_bytes())
            .expect("journal a request");
        stream
            .write_all(&digest.to_le_bytes())
            .expect("reply with the digest");
    }
}

/// One client: `requests` requests, one at a time; returns the digest of the replies.
fn ask(address: SocketAddr, client: usize, requests: usize) -> u64 {
    let mut stream = TcpStream::connect(address).expect("connect to the server");
    stream.set_nodelay(true).expect("set TCP_NODELAY");
    let mut replies = SEED;
    let mut reply = [0; 8];
    for number in 0..requests {
        stream
            .write_all(&request(client, number))
            .expect("send a request");
        stream.read_exact(&mut reply).expect("read a reply");
        replies = fold(replies, u64::from_le_bytes(reply));
    }
    replies
}

/// The bytes of a client's request: its name, padded with dots.
fn request(client: usize, number: usize) -> [u8; REQUEST_BYTES] {
    let mut bytes = [b'.'; REQUEST_BYTES];
    let name = format!("client {client} request {number}");
    bytes[..name.len()].copy_from_slice(name.as_bytes());
    bytes
}

/// FNV-1a's offset basis: where every hash here starts.
const SEED: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a's prime.
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// The server's work: `rounds` rounds of FNV-style mixing over `bytes`.
pub fn mix(bytes: &[u8], rounds: u32) -> u64 {
    let mut state = SEED;
    for round in 0..rounds {
        for &byte in bytes {
            state = (state ^ u64::from(byte)).wrapping_mul(PRIME);
        }
        state = state.rotate_left(29) ^ u64::from(round);
    }
    state
}

/// FNV-1a over `bytes`.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(SEED, |state, &byte| {
        (state ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// Folds `value` into `state`, in order.
fn fold(state: u64, value: u64) -> u64 {
    hash(&[state.to_le_bytes(), value.to_le_bytes()].concat())
}

/// A directory for a run's journal under the system's temp directory, unique to this process
/// and `label`.
pub fn temp_dir(label: &str) -> PathBuf {
    std::env::temp_dir().join(format!("reel-server-{label}-{}", std::process::id()))
}

/// This process's count of read and write system calls so far (`syscr` and `syscw` of
/// `/proc/self/io`), if the kernel tells it.
pub fn syscall_counts() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/io").ok()?;
    let count = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
    };
    Some((count("syscr:")?, count("syscw:")?))
}
