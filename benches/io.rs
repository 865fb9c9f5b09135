//! I/O throughput, three tables:
//! - loopback echo round trips per second, side by side: reel (unrecorded and recorded), std
//!   threads, and tokio's current-thread runtime. One client and one server echo a 64-byte
//!   message back and forth over TCP on 127.0.0.1; each contender runs the same number of
//!   round trips. Also the recorded trace's size per byte of I/O;
//! - file writes, each of 4 KiB and followed by an fdatasync, per second, from a few writers
//!   (each with its own file): `reel::fs` on io_uring, `reel::fs` on the helper pool, std's
//!   blocking calls in green threads, and std's on plain kernel threads;
//! - the journaling server's requests per second (`reel_suite::server`) in its three modes.
//!
//! Each table gives the median of several runs of each contender, run round-robin (each run
//! times every contender once, so a drift of the machine's speed weighs on all alike). Run with
//! `cargo bench --bench io [-- --quick]`. Timings live here, never in tests.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Bytes of each message.
const MESSAGE_BYTES: usize = 64;

/// One echo session on reel: a server thread echoes `round_trips` messages.
fn reel_echo(round_trips: u64) -> Duration {
    use reel::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = reel::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        let mut buffer = [0; MESSAGE_BYTES];
        for _ in 0..round_trips {
            stream.read_exact(&mut buffer).unwrap();
            stream.write_all(&buffer).unwrap();
        }
    });
    let mut client = TcpStream::connect(address).unwrap();
    client.set_nodelay(true).unwrap();
    let message = [7u8; MESSAGE_BYTES];
    let mut reply = [0; MESSAGE_BYTES];
    let start = Instant::now();
    for _ in 0..round_trips {
        client.write_all(&message).unwrap();
        client.read_exact(&mut reply).unwrap();
    }
    let elapsed = start.elapsed();
    server.join().unwrap();
    elapsed
}

/// The same session on std threads (two kernel threads, blocking sockets).
fn std_echo(round_trips: u64) -> Duration {
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        let mut buffer = [0; MESSAGE_BYTES];
        for _ in 0..round_trips {
            stream.read_exact(&mut buffer).unwrap();
            stream.write_all(&buffer).unwrap();
        }
    });
    let mut client = TcpStream::connect(address).unwrap();
    client.set_nodelay(true).unwrap();
    let message = [7u8; MESSAGE_BYTES];
    let mut reply = [0; MESSAGE_BYTES];
    let start = Instant::now();
    for _ in 0..round_trips {
        client.write_all(&message).unwrap();
        client.read_exact(&mut reply).unwrap();
    }
    let elapsed = start.elapsed();
    server.join().unwrap();
    elapsed
}

/// The same session on tokio's current-thread runtime (one kernel thread, as reel).
fn tokio_echo(round_trips: u64) -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            let mut buffer = [0; MESSAGE_BYTES];
            for _ in 0..round_trips {
                stream.read_exact(&mut buffer).await.unwrap();
                stream.write_all(&buffer).await.unwrap();
            }
        });
        let mut client = TcpStream::connect(address).await.unwrap();
        client.set_nodelay(true).unwrap();
        let message = [7u8; MESSAGE_BYTES];
        let mut reply = [0; MESSAGE_BYTES];
        let start = Instant::now();
        for _ in 0..round_trips {
            client.write_all(&message).await.unwrap();
            client.read_exact(&mut reply).await.unwrap();
        }
        let elapsed = start.elapsed();
        server.await.unwrap();
        elapsed
    })
}

/// The median of `runs` timings of each contender, as units (round trips, writes,
/// requests) per second.
fn rates(runs: usize, units: u64, mut contenders: Vec<Contender<'_>>) -> Vec<f64> {
    // Round-robin: each run times every contender once, so a machine whose speed drifts
    // (a VM's neighbours) weighs on them all alike.
    let mut timings: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); contenders.len()];
    for _ in 0..runs {
        for (contender, timings) in contenders.iter_mut().zip(&mut timings) {
            timings.push(units as f64 / contender().as_secs_f64());
        }
    }
    timings
        .into_iter()
        .map(|mut rates| {
            rates.sort_by(f64::total_cmp);
            rates[rates.len() / 2]
        })
        .collect()
}

/// One contender of a table: runs once and says how long its work took.
type Contender<'a> = Box<dyn FnMut() -> Duration + 'a>;

/// Bytes of each file write.
const BLOCK_BYTES: usize = 4096;

/// How the file benchmark's writers make their calls.
#[derive(Clone, Copy)]
enum FileWay {
    /// `reel::fs` in green threads, on io_uring.
    Uring,
    /// `reel::fs` in green threads, on the helper pool.
    Pool,
    /// std's blocking calls in green threads.
    StdGreen,
    /// std's blocking calls on plain kernel threads.
    StdThreads,
}

/// One writer's work: `writes` blocks, each followed by an fdatasync, to its own file.
fn std_writer(path: &std::path::Path, writes: usize) {
    let mut file = std::fs::File::create(path).unwrap();
    let block = [b'x'; BLOCK_BYTES];
    for _ in 0..writes {
        file.write_all(&block).unwrap();
        file.sync_data().unwrap();
    }
}

/// The same with `reel::fs`.
fn reel_writer(path: &std::path::Path, writes: usize) {
    let mut file = reel::fs::File::create(path).unwrap();
    let block = [b'x'; BLOCK_BYTES];
    for _ in 0..writes {
        file.write_all(&block).unwrap();
        file.sync_data().unwrap();
    }
}

/// `writers` writers of `writes` synced blocks each, the chosen way; the wall time.
fn file_writes(way: FileWay, writers: usize, writes: usize) -> Duration {
    let dir = std::env::temp_dir().join(format!("reel-io-bench-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let paths: Vec<_> = (0..writers)
        .map(|writer| dir.join(format!("writer-{writer}")))
        .collect();
    let in_green_threads = |runtime: reel::Runtime, writer: fn(&std::path::Path, usize)| {
        let paths = paths.clone();
        runtime.run(move || {
            let handles: Vec<_> = paths
                .into_iter()
                .map(|path| reel::thread::spawn(move || writer(&path, writes)))
                .collect();
            for handle in handles {
                handle.join().unwrap();
            }
        });
    };
    let start = Instant::now();
    match way {
        FileWay::Uring => in_green_threads(reel::Runtime::new().io_uring(true), reel_writer),
        FileWay::Pool => in_green_threads(
            reel::Runtime::new().io_uring(false).helper_threads(writers),
            reel_writer,
        ),
        // The watchdog off: its reports of the stalls would be timed too.
        FileWay::StdGreen => {
            in_green_threads(reel::Runtime::new().stall_threshold(None), std_writer)
        }
        FileWay::StdThreads => {
            let handles: Vec<_> = paths
                .iter()
                .cloned()
                .map(|path| std::thread::spawn(move || std_writer(&path, writes)))
                .collect();
            for handle in handles {
                handle.join().unwrap();
            }
        }
    }
    let elapsed = start.elapsed();
    std::fs::remove_dir_all(&dir).unwrap();
    elapsed
}

/// The file table: synced 4 KiB writes per second, four ways.
fn file_table(runs: usize, writers: usize, writes: usize) {
    let total = (writers * writes) as u64;
    // io_uring's availability, asked as a runtime that turns it on does.
    let uring = reel::Runtime::new().io_uring(true).run(reel::fs::backend);
    let ways = [
        ("reel::fs on io_uring", FileWay::Uring),
        ("reel::fs on the helper pool", FileWay::Pool),
        ("std blocking calls in green threads", FileWay::StdGreen),
        ("std blocking calls on kernel threads", FileWay::StdThreads),
    ];
    let contenders = ways
        .iter()
        .map(|&(_, way)| -> Contender<'_> { Box::new(move || file_writes(way, writers, writes)) })
        .collect();
    let rows: Vec<(&str, f64)> = ways
        .iter()
        .map(|&(name, _)| name)
        .zip(rates(runs, total, contenders))
        .collect();
    println!();
    println!(
        "file writes of {BLOCK_BYTES} bytes, each followed by fdatasync: {writers} writers x \
         {writes} writes (each writer its own file), median of {runs} runs; reel::fs with io_uring \
         on runs on: {uring}"
    );
    println!("| contender | synced writes/s | vs std on kernel threads |");
    println!("|---|---:|---:|");
    let threads_rate = rows[3].1;
    for (name, rate) in rows {
        println!("| {name} | {rate:.0} | {:.2}x |", rate / threads_rate);
    }
}

/// The server table: the journaling server's requests per second in its three modes.
fn server_table(runs: usize) {
    use reel_suite::server::{self, Load, Mode};
    let load = Load::DEMO;
    let mut backends = [""; Mode::ALL.len()];
    let contenders = Mode::ALL
        .iter()
        .zip(backends.iter_mut())
        .map(|(&mode, backend)| -> Contender<'_> {
            Box::new(move || {
                let dir = server::temp_dir(&format!("bench-{}", mode.name()));
                let figures = server::run(mode, &load, &dir, server::runtime(mode));
                std::fs::remove_dir_all(&dir).unwrap();
                assert_eq!(figures.outcome.digest, server::expected_digest(&load));
                *backend = figures.backend;
                figures.elapsed
            })
        })
        .collect();
    let rates = rates(runs, load.total() as u64, contenders);
    let rows: Vec<_> = Mode::ALL
        .iter()
        .zip(backends)
        .zip(rates)
        .map(|((&mode, backend), rate)| (mode, backend, rate))
        .collect();
    println!();
    println!(
        "journaling server (reel_suite::server): {} clients x {} requests, each {} rounds of \
         mixing, a journal line and fdatasync; median of {runs} runs",
        load.clients, load.requests, load.rounds
    );
    println!("| mode | file calls | requests/s | vs std blocking |");
    println!("|---|---|---:|---:|");
    let std_rate = rows[0].2;
    for (mode, backend, rate) in rows {
        println!(
            "| {} | {backend} | {rate:.0} | {:.2}x |",
            mode.name(),
            rate / std_rate
        );
    }
}

fn main() {
    let quick = std::env::args().any(|argument| argument == "--quick");
    let (runs, round_trips) = if quick { (3, 2_000) } else { (7, 20_000) };
    let trace = std::env::temp_dir().join(format!("reel-io-bench-{}.reel", std::process::id()));
    let names = [
        "reel (not recorded)",
        "reel (recorded to a file)",
        "std threads",
        "tokio current-thread",
    ];
    let contenders: Vec<Contender<'_>> = vec![
        Box::new(|| reel::run(|| reel_echo(round_trips))),
        Box::new(|| {
            reel::Runtime::new()
                .record(&trace)
                .run(|| reel_echo(round_trips))
        }),
        Box::new(|| std_echo(round_trips)),
        Box::new(|| tokio_echo(round_trips)),
    ];
    let rows: Vec<(&str, f64)> = names
        .into_iter()
        .zip(rates(runs, round_trips, contenders))
        .collect();
    let trace_bytes = std::fs::metadata(&trace).map_or(0, |metadata| metadata.len());
    let _ = std::fs::remove_file(&trace);
    println!(
        "loopback echo, {MESSAGE_BYTES}-byte messages, {round_trips} round trips, median of \
         {runs} runs, {} CPUs",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!("| contender | round trips/s | vs std threads |");
    println!("|---|---:|---:|");
    let std_rate = rows[2].1;
    for (name, rate) in rows {
        println!("| {name} | {rate:.0} | {:.2}x |", rate / std_rate);
    }
    let io_bytes = round_trips * MESSAGE_BYTES as u64 * 4;
    println!(
        "recorded trace: {trace_bytes} bytes for {io_bytes} bytes of I/O read and written \
         ({:.2} bytes of trace per byte of I/O)",
        trace_bytes as f64 / io_bytes as f64
    );
    let (file_runs, writes) = if quick { (3, 25) } else { (5, 100) };
    file_table(file_runs, 4, writes);
    server_table(if quick { 3 } else { 7 });
}
