//! Loopback echo round trips per second, side by side: reel (unrecorded and recorded), std
//! threads, and tokio's current-thread runtime. One client and one server echo a 64-byte
//! message back and forth over TCP on 127.0.0.1; each contender runs the same number of
//! round trips, and the table gives the median of several runs of each.
//!
//! Run with `cargo bench --bench io [-- --quick]`. Also prints the recorded trace's size
//! per byte of I/O. Timings live here, never in tests.

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

/// The median of `runs` timings of `f`, as round trips per second.
fn rate(runs: usize, round_trips: u64, mut f: impl FnMut() -> Duration) -> f64 {
    let mut rates: Vec<f64> = (0..runs)
        .map(|_| round_trips as f64 / f().as_secs_f64())
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|argument| argument == "--quick");
    let (runs, round_trips) = if quick { (3, 2_000) } else { (7, 20_000) };
    let trace = std::env::temp_dir().join(format!("reel-io-bench-{}.reel", std::process::id()));
    let rows = [
        (
            "reel (not recorded)",
            rate(runs, round_trips, || reel::run(|| reel_echo(round_trips))),
        ),
        (
            "reel (recorded to a file)",
            rate(runs, round_trips, || {
                reel::Runtime::new()
                    .record(&trace)
                    .run(|| reel_echo(round_trips))
            }),
        ),
        (
            "std threads",
            rate(runs, round_trips, || std_echo(round_trips)),
        ),
        (
            "tokio current-thread",
            rate(runs, round_trips, || tokio_echo(round_trips)),
        ),
    ];
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
}
