//! Networking and helper jobs under reel: real loopback sockets on 127.0.0.1 (port 0),
//! recorded, then replayed in a new process with the listener gone; divergences; errors
//! that replay as errors; exploration that finds an ordering bug over loopback.

use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use reel::net::{TcpListener, TcpStream, UdpSocket};
use reel::reel_trace::{self, Event, IoEvent, IoResult, OpKind};
use reel::{Checker, Replay, ReplayResult, Runtime};

mod child;

/// Clients that each send `message` with their number to an echo server and read the echo;
/// the server serves them one after another, then everything echoed comes back in order.
/// Also a UDP exchange and a helper job.
fn echo_program(message: &[u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = reel::thread::spawn(move || {
        for _ in 0..2 {
            let (mut stream, _) = listener.accept().unwrap();
            let mut length = [0u8; 1];
            stream.read_exact(&mut length).unwrap();
            let mut request = vec![0; usize::from(length[0])];
            stream.read_exact(&mut request).unwrap();
            stream.write_all(&request).unwrap();
            stream.shutdown(reel::net::Shutdown::Write).unwrap();
        }
    });
    let mut echoed = Vec::new();
    for client in 0..2u8 {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut request = message.to_vec();
        request.push(b'0' + client);
        stream.write_all(&[request.len() as u8]).unwrap();
        stream.write_all(&request).unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        echoed.push(String::from_utf8(reply).unwrap());
    }
    server.join().unwrap();
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.send_to(b"datagram", b.local_addr().unwrap()).unwrap();
    let mut buffer = [0; 64];
    let (received, from) = b.recv_from(&mut buffer).unwrap();
    assert_eq!(from, a.local_addr().unwrap());
    echoed.push(String::from_utf8_lossy(&buffer[..received]).into_owned());
    let product = reel::task::spawn_blocking(|| 6 * 7);
    echoed.push(product.to_string());
    echoed.join(",")
}

#[test]
fn an_echo_server_serves_its_clients_in_a_plain_run() {
    let result = reel::run(|| echo_program(b"ping"));
    assert_eq!(result, "ping0,ping1,datagram,42");
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("net")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The child of the process tests (never run on its own): records the echo program to
/// REEL_NET_TRACE, or replays it when REEL_NET_REPLAY is set; prints the result.
#[test]
#[ignore = "a child process of the record-replay tests"]
fn child_runs_the_echo_program() {
    let Some(path) = std::env::var_os("REEL_NET_TRACE") else {
        return;
    };
    if std::env::var_os("REEL_NET_REPLAY").is_some() {
        let report = Replay::from_file(&path)
            .unwrap()
            .run(|| println!("result {}", echo_program(b"ping")))
            .unwrap();
        assert!(report.reproduced(), "{report}");
        println!("reproduced");
        return;
    }
    Runtime::new()
        .record(PathBuf::from(path))
        .run(|| println!("result {}", echo_program(b"ping")));
}

fn child(trace: &Path, replay: bool) -> String {
    let mut command = child::child_test("child_runs_the_echo_program", "REEL_NET_TRACE");
    command
        .arg("--test-threads=1")
        .env("REEL_NET_TRACE", trace)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    if replay {
        command.env("REEL_NET_REPLAY", "1");
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "the child failed: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// The result the child printed (the test harness may print its name on the same line).
fn result_line(output: &str) -> &str {
    output
        .lines()
        .find_map(|line| line.find("result ").map(|at| &line[at..]))
        .unwrap_or_else(|| panic!("no result in the child's output:\n{output}"))
}

/// Bytes the program read and wrote, as the trace records them.
fn io_bytes(trace: &reel_trace::Trace) -> (u64, u64) {
    let (mut read, mut written) = (0, 0);
    let mut previous = None;
    for event in &trace.events {
        match event {
            Event::Step(step) => previous = Some(step.op),
            Event::Io(io) => {
                if let IoEvent::Done(done) = &**io {
                    read += done.result.data_bytes();
                    if let (Some(OpKind::IoWrite), IoResult::Count(count)) =
                        (previous, &done.result)
                    {
                        written += count;
                    }
                }
            }
            _ => {}
        }
    }
    (read, written)
}

#[test]
fn a_recorded_echo_server_replays_in_a_new_process_without_the_network() {
    let dir = scratch_dir("echo");
    let path = dir.join("echo.reel");
    let recorded = child(&path, false);
    assert_eq!(result_line(&recorded), "result ping0,ping1,datagram,42");
    let trace = reel_trace::read_file(&path).unwrap();
    let (read, written) = io_bytes(&trace);
    // Requests (a length byte and five bytes each), echoes, the datagram: both ways.
    assert_eq!(read, 2 * (1 + 5) + 2 * 5 + 8);
    assert_eq!(written, read);
    let ready = trace
        .events
        .iter()
        .filter(|event| matches!(event, Event::Io(io) if matches!(**io, IoEvent::Ready { .. })))
        .count();
    assert!(ready > 0, "some operation waited for its socket");
    eprintln!(
        "trace: {} bytes for {} bytes of I/O ({:.1} bytes of trace per byte)",
        trace.bytes,
        read + written,
        trace.bytes as f64 / (read + written) as f64
    );
    // The recording process is gone, and its listener with it: the replay performs no I/O.
    let replayed = child(&path, true);
    assert_eq!(result_line(&replayed), result_line(&recorded));
    assert!(replayed.contains("reproduced"), "{replayed}");
}

#[test]
fn a_replay_that_writes_other_bytes_diverges_naming_both() {
    let dir = scratch_dir("divergence");
    let path = dir.join("echo.reel");
    Runtime::new().record(&path).run(|| echo_program(b"ping"));
    let report = Replay::from_file(&path)
        .unwrap()
        .run(|| {
            echo_program(b"pong");
        })
        .unwrap();
    let ReplayResult::Diverged(divergence) = &report.result else {
        panic!("the replay did not diverge: {report}");
    };
    assert!(
        divergence
            .expected
            .contains("asking 5 bytes (bytes hashing to"),
        "{divergence}"
    );
    assert!(
        divergence.actual.contains("I/O write Socket#")
            && divergence
                .actual
                .contains("asking 5 bytes (bytes hashing to"),
        "{divergence}"
    );
    assert_ne!(divergence.expected, divergence.actual);
}

/// A port nothing listens on: bound, then closed.
/// Replays the trace at `path`, the program being `program`: the replay reproduces the
/// recording; returns what the program gave.
fn replay_of<T>(path: &Path, program: impl FnOnce() -> T) -> T {
    let mut value = None;
    let report = Replay::from_file(path)
        .unwrap()
        .run(|| value = Some(program()))
        .unwrap();
    assert!(report.reproduced(), "{report}");
    value.expect("the replay ran the program")
}

/// A loopback TCP port that refuses connections for as long as the returned socket lives:
/// bound but not listening, so no other test's listener can take the port meanwhile.
fn closed_port() -> (std::os::fd::OwnedFd, std::net::SocketAddr) {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: socket(2) with constant arguments; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut address = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    };
    let mut length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `address` is a valid sockaddr_in of `length` bytes for both calls, and `fd`
    // is open (owned by `socket`).
    unsafe {
        assert_eq!(
            libc::bind(fd, (&raw const address).cast(), length),
            0,
            "bind: {}",
            std::io::Error::last_os_error()
        );
        assert_eq!(
            libc::getsockname(fd, (&raw mut address).cast(), &raw mut length),
            0,
            "getsockname: {}",
            std::io::Error::last_os_error()
        );
    }
    let port = u16::from_be(address.sin_port);
    (socket, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
}

#[test]
fn a_refused_connection_replays_as_the_same_error() {
    let dir = scratch_dir("refused");
    let path = dir.join("refused.reel");
    let (_bound, address) = closed_port();
    let connect = move || {
        let error = TcpStream::connect(address).unwrap_err();
        (error.kind(), error.raw_os_error())
    };
    let recorded = Runtime::new().record(&path).run(connect);
    assert_eq!(recorded.0, ErrorKind::ConnectionRefused);
    assert_eq!(replay_of(&path, connect), recorded);
}

#[test]
fn host_names_are_resolved_on_a_helper_and_replayed() {
    let dir = scratch_dir("resolve");
    let path = dir.join("resolve.reel");
    let resolve = || {
        let listener = TcpListener::bind("localhost:0").unwrap();
        listener.local_addr().unwrap().ip().is_loopback()
    };
    assert!(Runtime::new().record(&path).run(resolve));
    let trace = reel_trace::read_file(&path).unwrap();
    assert!(
        trace.step_events().any(|step| step.op == OpKind::IoResolve),
        "the resolution is a step"
    );
    let report = Replay::from_file(&path)
        .unwrap()
        .run(|| assert!(resolve()))
        .unwrap();
    assert!(report.reproduced(), "{report}");
}

#[test]
fn a_read_timeout_gives_would_block() {
    reel::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_millis(20)))
            .unwrap();
        let error = client.read(&mut [0; 4]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::WouldBlock);
        assert!(
            client
                .set_read_timeout(Some(std::time::Duration::ZERO))
                .is_err()
        );
    });
}

/// Two clients send their number; the server takes the first connection as client 0's (an
/// ordering bug: which client connects first depends on the schedule).
fn two_clients_program() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let clients: Vec<_> = (0..2u8)
        .map(|client| {
            reel::thread::spawn(move || {
                let mut stream = TcpStream::connect(address).unwrap();
                stream.write_all(&[client]).unwrap();
            })
        })
        .collect();
    let (mut first, _) = listener.accept().unwrap();
    let mut id = [0u8; 1];
    first.read_exact(&mut id).unwrap();
    for client in clients {
        client.join().unwrap();
    }
    assert_eq!(id[0], 0, "the first connection is client 0's");
}

#[test]
fn exploration_finds_an_ordering_bug_over_loopback_and_its_trace_replays() {
    let dir = scratch_dir("explore");
    let report = Checker::new()
        .random()
        .seed(5)
        .iterations(100)
        .jobs(1)
        .trace_dir(&dir)
        .run(two_clients_program);
    assert!(report.found(), "some schedule connects client 1 first");
    assert!(
        report
            .to_string()
            .contains("the first connection is client 0's"),
        "{report}"
    );
    let path = report.trace.clone().expect("the failing trace was saved");
    let replayed = Replay::from_file(&path)
        .unwrap()
        .run(two_clients_program)
        .unwrap();
    assert!(replayed.reproduced(), "{replayed}");
    assert_eq!(replayed.failure.unwrap().step, report.failure.unwrap().step);
}

#[test]
fn explored_signals_arrive_while_threads_wait_for_sockets() {
    let report = Checker::new()
        .random()
        .seed(9)
        .iterations(30)
        .jobs(1)
        .signal(reel::signal::SIGUSR1)
        .run(|| {
            let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            reel::signal::flag::register(reel::signal::SIGUSR1, std::sync::Arc::clone(&flag))
                .unwrap();
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let address = listener.local_addr().unwrap();
            let client = reel::thread::spawn(move || {
                let mut stream = TcpStream::connect(address).unwrap();
                stream.write_all(b"x").unwrap();
            });
            let (mut stream, _) = listener.accept().unwrap();
            let mut byte = [0; 1];
            stream.read_exact(&mut byte).unwrap();
            client.join().unwrap();
            assert_eq!(&byte, b"x");
        });
    assert!(!report.found(), "{report}");
}

#[test]
fn a_unix_stream_pair_talks_both_ways_while_the_reader_waits_and_replays() {
    use reel::net::UnixStream;
    let dir = scratch_dir("unix-stream-pair");
    let path = dir.join("pair.reel");
    let program = || {
        let (mut left, mut right) = UnixStream::pair().unwrap();
        assert!(left.peer_addr().unwrap().is_unnamed());
        // The reader starts first and waits for bytes that the writer sends later.
        let reader = reel::thread::spawn(move || {
            let mut request = [0; 5];
            right.read_exact(&mut request).unwrap();
            right
                .write_all(&request.map(|byte| byte.to_ascii_uppercase()))
                .unwrap();
            right.shutdown(std::net::Shutdown::Write).unwrap();
            request
        });
        reel::thread::yield_now(); // The reader runs first, and waits.
        left.write_all(b"hello").unwrap();
        let mut reply = Vec::new();
        left.read_to_end(&mut reply).unwrap();
        (reader.join().unwrap(), reply)
    };
    let expected = (*b"hello", b"HELLO".to_vec());
    assert_eq!(reel::run(program), expected);
    assert_eq!(Runtime::new().record(&path).run(program), expected);
    // The reader's first read would have blocked: the trace holds the wait's end.
    let trace = reel_trace::read_file(&path).unwrap();
    assert!(
        trace
            .events
            .iter()
            .any(|event| matches!(event, Event::Io(io) if matches!(**io, IoEvent::Ready { .. }))),
        "a wait for I/O ended in the recording"
    );
    assert_eq!(replay_of(&path, program), expected);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_unix_socket_echo_is_recorded_and_replays_with_the_socket_gone() {
    use reel::net::{UnixListener, UnixStream};
    let dir = scratch_dir("unix");
    let socket = dir.join("echo.sock");
    let path = dir.join("unix.reel");
    let program = |socket: PathBuf| {
        move || {
            let listener = UnixListener::bind(&socket).unwrap();
            assert_eq!(
                listener.local_addr().unwrap().as_pathname(),
                Some(socket.as_path())
            );
            let server = reel::thread::spawn(move || {
                let (mut stream, peer) = listener.accept().unwrap();
                assert!(peer.is_unnamed());
                let mut request = [0; 4];
                stream.read_exact(&mut request).unwrap();
                stream.write_all(&request).unwrap();
            });
            let mut client = UnixStream::connect(&socket).unwrap();
            assert_eq!(
                client.peer_addr().unwrap().as_pathname(),
                Some(socket.as_path())
            );
            client.write_all(b"unix").unwrap();
            let mut reply = [0; 4];
            client.read_exact(&mut reply).unwrap();
            server.join().unwrap();
            reply
        }
    };
    assert_eq!(
        &Runtime::new().record(&path).run(program(socket.clone())),
        b"unix"
    );
    std::fs::remove_file(&socket).unwrap();
    assert_eq!(replay_of(&path, || program(socket.clone())()), *b"unix");
    assert!(!socket.exists(), "the replay bound nothing");
}

#[test]
fn a_replay_that_sends_to_another_address_diverges() {
    let dir = scratch_dir("send-to");
    let path = dir.join("send_to.reel");
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer = peer.local_addr().unwrap();
    let send = |to: std::net::SocketAddr| {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.send_to(b"x", to).unwrap()
    };
    assert_eq!(Runtime::new().record(&path).run(|| send(peer)), 1);
    let same = Replay::from_file(&path).unwrap().run(|| {
        send(peer);
    });
    assert!(same.unwrap().reproduced());
    let elsewhere = "10.1.2.3:9".parse().unwrap();
    let report = Replay::from_file(&path)
        .unwrap()
        .run(|| {
            send(elsewhere);
        })
        .unwrap();
    let ReplayResult::Diverged(divergence) = &report.result else {
        panic!("the replay did not diverge: {report}");
    };
    assert!(
        divergence.actual.contains("sends to a different address")
            && divergence
                .expected
                .contains("the recorded place hashes to 0x"),
        "{divergence}"
    );
    assert!(!divergence.to_string().contains("10.1.2.3"), "{divergence}");
}

#[test]
fn a_replay_that_connects_to_another_address_diverges() {
    let dir = scratch_dir("connect-to");
    let path = dir.join("connect.reel");
    let (_bound, address) = closed_port();
    let connect = |to: std::net::SocketAddr| TcpStream::connect(to).is_ok();
    assert!(!Runtime::new().record(&path).run(|| connect(address)));
    let report = Replay::from_file(&path)
        .unwrap()
        .run(|| {
            connect("127.0.0.1:9".parse().unwrap());
        })
        .unwrap();
    let ReplayResult::Diverged(divergence) = &report.result else {
        panic!("the replay did not diverge: {report}");
    };
    assert!(
        divergence
            .actual
            .contains("connects to a different address"),
        "{divergence}"
    );
}

#[test]
fn a_datagram_of_20000_bytes_is_received_whole_and_replayed() {
    let dir = scratch_dir("datagram");
    let path = dir.join("datagram.reel");
    let program = || {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sent: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let to = receiver.local_addr().unwrap();
        assert_eq!(sender.send_to(&sent, to).unwrap(), sent.len());
        let mut buffer = vec![0; 65_536];
        let (received, from) = receiver.recv_from(&mut buffer).unwrap();
        assert_eq!(from, sender.local_addr().unwrap());
        assert_eq!(&buffer[..received], &sent[..]);
        received
    };
    assert_eq!(Runtime::new().record(&path).run(program), 20_000);
    assert_eq!(replay_of(&path, program), 20_000);
}

#[test]
fn a_unix_datagram_pair_sends_and_receives_whole_datagrams() {
    use reel::net::UnixDatagram;
    let (sent, received, peer_unnamed, pending) = reel::run(|| {
        let (one, other) = UnixDatagram::pair().unwrap();
        let receiver = reel::thread::spawn(move || {
            let mut received = Vec::new();
            let mut buffer = [0; 64];
            for _ in 0..3 {
                let count = other.recv(&mut buffer).unwrap();
                received.push(buffer[..count].to_vec());
            }
            other.send(b"done").unwrap();
            received
        });
        let mut sent = 0;
        for message in [&b"first"[..], b"", b"third datagram"] {
            sent += one.send(message).unwrap();
        }
        let received = receiver.join().unwrap();
        let mut reply = [0; 8];
        let count = one.recv(&mut reply).unwrap();
        assert_eq!(&reply[..count], b"done");
        let peer_unnamed = one.peer_addr().unwrap().is_unnamed();
        let pending = one.take_error().unwrap().is_none();
        one.shutdown(std::net::Shutdown::Both).unwrap();
        (sent, received, peer_unnamed, pending)
    });
    assert_eq!(sent, 19);
    assert_eq!(
        received,
        vec![b"first".to_vec(), Vec::new(), b"third datagram".to_vec()],
        "each datagram arrives whole and apart, the empty one too"
    );
    assert!(peer_unnamed && pending);
}

/// A server bound to `dir/server.sock` answers each datagram to its sender (a client bound
/// to `dir/client.sock`) with it reversed; returns the replies and the addresses seen: the
/// server's own, the senders it saw, and the client's peer once connected.
fn unix_datagram_program(dir: &Path) -> (Vec<Vec<u8>>, Vec<PathBuf>) {
    use reel::net::UnixDatagram;
    let server_path = dir.join("server.sock");
    let client_path = dir.join("client.sock");
    let server = UnixDatagram::bind(&server_path).unwrap();
    let mut seen = vec![
        server
            .local_addr()
            .unwrap()
            .as_pathname()
            .unwrap()
            .to_owned(),
    ];
    let answering = reel::thread::spawn(move || {
        let mut buffer = [0; 32];
        let mut senders = Vec::new();
        for _ in 0..2 {
            let (count, from) = server.recv_from(&mut buffer).unwrap();
            let from = from.as_pathname().expect("the client is bound").to_owned();
            let reply: Vec<u8> = buffer[..count].iter().rev().copied().collect();
            assert_eq!(server.send_to(&reply, &from).unwrap(), reply.len());
            senders.push(from);
        }
        (server, senders)
    });
    let client = UnixDatagram::bind(&client_path).unwrap();
    let mut replies = Vec::new();
    for message in [&b"ping"[..], b"datagram"] {
        assert_eq!(
            client.send_to(message, &server_path).unwrap(),
            message.len()
        );
        let mut buffer = [0; 32];
        let (count, from) = client.recv_from(&mut buffer).unwrap();
        assert_eq!(from.as_pathname(), Some(server_path.as_path()));
        replies.push(buffer[..count].to_vec());
    }
    let (server, senders) = answering.join().unwrap();
    seen.extend(senders);
    client.connect(&server_path).unwrap();
    seen.push(
        client
            .peer_addr()
            .unwrap()
            .as_pathname()
            .unwrap()
            .to_owned(),
    );
    drop(server);
    (replies, seen)
}

#[test]
fn unix_datagrams_go_to_paths_and_name_their_senders() {
    let dir = scratch_dir("unix-datagram");
    let (replies, seen) = reel::run(|| unix_datagram_program(&dir));
    assert_eq!(replies, vec![b"gnip".to_vec(), b"margatad".to_vec()]);
    let server = dir.join("server.sock");
    let client = dir.join("client.sock");
    assert_eq!(seen, vec![server.clone(), client.clone(), client, server]);
}

#[test]
fn unix_datagrams_are_recorded_and_replay_with_the_sockets_gone() {
    let dir = scratch_dir("unix-datagram-replay");
    let path = dir.join("unix_datagram.reel");
    let recorded = Runtime::new()
        .record(&path)
        .run(|| unix_datagram_program(&dir));
    for socket in ["server.sock", "client.sock"] {
        std::fs::remove_file(dir.join(socket)).unwrap();
    }
    let trace = reel_trace::read_file(&path).unwrap();
    let (read, written) = io_bytes(&trace);
    assert_eq!(
        (read, written),
        (24, 24),
        "two requests and two replies each way"
    );
    assert_eq!(replay_of(&path, || unix_datagram_program(&dir)), recorded);
    assert!(
        !dir.join("server.sock").exists() && !dir.join("client.sock").exists(),
        "the replay bound nothing"
    );
}

#[test]
fn a_unix_datagram_above_the_trace_limit_fails_with_emsgsize_and_replays() {
    use reel::net::UnixDatagram;
    let dir = scratch_dir("unix-datagram-emsgsize");
    let path = dir.join("emsgsize.reel");
    let program = || {
        let (one, other) = UnixDatagram::pair().unwrap();
        let too_big = vec![7; 65_537];
        let error = one.send(&too_big).unwrap_err();
        let unsent = other.take_error().unwrap().is_none();
        let at_limit = one.send(&too_big[..65_536]).unwrap();
        let mut buffer = vec![0; 70_000];
        let received = other.recv(&mut buffer).unwrap();
        assert!(unsent);
        (error.raw_os_error(), at_limit, received)
    };
    let expected = (Some(libc::EMSGSIZE), 65_536, 65_536);
    assert_eq!(reel::run(program), expected, "nothing is truncated");
    assert_eq!(Runtime::new().record(&path).run(program), expected);
    assert_eq!(replay_of(&path, program), expected);
}

#[test]
fn a_unix_datagram_sender_waits_while_the_receivers_queue_is_full_and_replays() {
    use reel::net::UnixDatagram;
    let dir = scratch_dir("unix-datagram-full");
    // More datagrams than a receiver queues by default (net.unix.max_dgram_qlen, 10 on Linux
    // unless raised), sent before the receiver reads any: the sender waits, the receiver
    // runs, and every datagram arrives in order, through a connected pair and through paths.
    const DATAGRAMS: u32 = 64;
    let path = dir.join("receiver.sock");
    let trace_path = dir.join("full.reel");
    let program = || {
        let exchange = |sender: UnixDatagram,
                        receiver: UnixDatagram,
                        send: fn(&UnixDatagram, &[u8], &Path) -> std::io::Result<usize>,
                        to: PathBuf| {
            let sending = reel::thread::spawn(move || {
                for number in 0..DATAGRAMS {
                    send(&sender, &number.to_le_bytes(), &to).unwrap();
                }
            });
            let mut received = Vec::new();
            let mut buffer = [0; 8];
            reel::thread::yield_now();
            for _ in 0..DATAGRAMS {
                let count = receiver.recv(&mut buffer).unwrap();
                received.push(u32::from_le_bytes(buffer[..count].try_into().unwrap()));
            }
            sending.join().unwrap();
            received
        };
        let (one, other) = UnixDatagram::pair().unwrap();
        let pair = exchange(
            one,
            other,
            |socket, bytes, _| socket.send(bytes),
            PathBuf::new(),
        );
        let receiver = UnixDatagram::bind(&path).unwrap();
        let sender = UnixDatagram::unbound().unwrap();
        let paths = exchange(
            sender,
            receiver,
            |socket, bytes, to| socket.send_to(bytes, to),
            path.clone(),
        );
        (pair, paths)
    };
    let expected: Vec<u32> = (0..DATAGRAMS).collect();
    let recorded = Runtime::new().record(&trace_path).run(program);
    assert_eq!(recorded, (expected.clone(), expected));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(replay_of(&trace_path, program), recorded);
    // The trace shows the waits: sends that would have blocked.
    let trace = reel_trace::read_file(&trace_path).unwrap();
    let mut previous = None;
    let mut blocked_sends = 0;
    for event in &trace.events {
        match event {
            Event::Step(step) => previous = Some(step.op),
            Event::Io(io) => {
                if let (IoEvent::Done(done), Some(OpKind::IoWrite)) = (&**io, previous)
                    && done.result == IoResult::WouldBlock
                {
                    blocked_sends += 1;
                }
            }
            _ => {}
        }
    }
    assert!(blocked_sends >= 2, "both senders waited: {blocked_sends}");
}

/// The bytes `0..count` of a pattern that shows any byte out of place.
fn pattern(count: usize) -> Vec<u8> {
    (0..count).map(|index| (index * 7 % 251) as u8).collect()
}

/// A writer sends 20,000 bytes in bursts of 3,000 (yielding between them) and closes; the
/// reader takes them in pieces of 1, 7, 100 and 5,000 bytes until the end. A read may take
/// more from the kernel than it asked (the rest waits for the next read): every byte must
/// still come once and in order.
fn pieces_program(pair: impl FnOnce() -> (Box<dyn Read + Send>, Box<dyn Write + Send>)) -> Vec<u8> {
    let (mut reader, mut writer) = pair();
    let sender = reel::thread::spawn(move || {
        for burst in pattern(20_000).chunks(3_000) {
            writer.write_all(burst).unwrap();
            reel::thread::yield_now();
        }
        // Dropped: the reader sees the end.
    });
    let mut received = Vec::new();
    for size in [1, 7, 100, 5_000].into_iter().cycle() {
        let mut buffer = vec![0; size];
        let read = reader.read(&mut buffer).unwrap();
        if read == 0 {
            break;
        }
        received.extend_from_slice(&buffer[..read]);
    }
    sender.join().unwrap();
    received
}

fn tcp_pair() -> (Box<dyn Read + Send>, Box<dyn Write + Send>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let writer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (reader, _) = listener.accept().unwrap();
    (Box::new(reader), Box::new(writer))
}

fn unix_pair() -> (Box<dyn Read + Send>, Box<dyn Write + Send>) {
    let (reader, writer) = reel::net::UnixStream::pair().unwrap();
    (Box::new(reader), Box::new(writer))
}

#[test]
fn a_stream_read_in_small_pieces_gets_every_byte_in_order_and_replays() {
    let dir = scratch_dir("pieces");
    for (name, pair) in [
        ("tcp", tcp_pair as fn() -> _),
        ("unix", unix_pair as fn() -> _),
    ] {
        let path = dir.join(format!("{name}.reel"));
        assert_eq!(
            reel::run(|| pieces_program(pair)),
            pattern(20_000),
            "{name}"
        );
        let recorded = Runtime::new().record(&path).run(|| pieces_program(pair));
        assert_eq!(recorded, pattern(20_000), "{name}");
        assert_eq!(
            replay_of(&path, || pieces_program(pair)),
            recorded,
            "{name}"
        );
        // Exploration reorders the bursts and the reads; the bytes stay in order.
        Checker::new()
            .iterations(20)
            .check(|| assert_eq!(pieces_program(pair), pattern(20_000), "{name}"));
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bytes_and_the_close_that_came_with_them_read_to_the_end() {
    // The reader waits first; the peer then sends its bytes and closes, so one report of
    // the driver says both. The read that takes the bytes finds the socket drained: the
    // next read must still see the end (a close is never forgotten), not wait for a
    // report that will not come. The read timeout turns such a wait into an error.
    let reply = reel::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let peer = reel::thread::spawn(move || {
            server.write_all(b"hello").unwrap();
        });
        let mut reply = Vec::new();
        let ended = client.read_to_end(&mut reply).map(|_| reply);
        peer.join().unwrap();
        ended
    });
    assert_eq!(reply.unwrap(), b"hello");
}

/// The child of the strace test (never run on its own): 300 round trips of 64 bytes between
/// two green threads over loopback.
#[test]
#[ignore = "a child process of the strace test"]
fn child_echoes_300_round_trips() {
    if std::env::var_os("REEL_NET_ECHO_CHILD").is_none() {
        return;
    }
    reel::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = reel::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.set_nodelay(true).unwrap();
            let mut buffer = [0; 64];
            for _ in 0..300 {
                stream.read_exact(&mut buffer).unwrap();
                stream.write_all(&buffer).unwrap();
            }
        });
        let mut client = TcpStream::connect(address).unwrap();
        client.set_nodelay(true).unwrap();
        let mut reply = [0; 64];
        for round in 0..300u32 {
            let message = [round as u8; 64];
            client.write_all(&message).unwrap();
            client.read_exact(&mut reply).unwrap();
            assert_eq!(reply, message);
        }
        server.join().unwrap();
    });
    println!("echoed");
}

#[test]
fn a_round_trip_between_green_threads_makes_no_epoll_wait_nor_a_read_that_says_eagain() {
    if !child::strace_usable() {
        return;
    }
    let dir = scratch_dir("strace-echo");
    let log = dir.join("strace.txt");
    let output = child::child_test_under_strace(
        "child_echoes_300_round_trips",
        "REEL_NET_ECHO_CHILD",
        &log,
        "read,readv,recvfrom,epoll_wait",
    )
    .arg("--test-threads=1")
    .stdin(Stdio::null())
    .output()
    .unwrap();
    assert!(output.status.success(), "the child failed: {output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("echoed"));
    let log = std::fs::read_to_string(&log).unwrap();
    // `-f -o`: each line is the thread's id, then the call.
    let count = |call: &str, eagain: bool| {
        log.lines()
            .filter(|line| {
                line.split_whitespace()
                    .nth(1)
                    .is_some_and(|text| text.split('(').next() == Some(call))
            })
            .filter(|line| line.contains("EAGAIN") == eagain)
            .count()
    };
    let reads = count("readv", false);
    let would_block: usize = ["read", "readv", "recvfrom"]
        .into_iter()
        .map(|call| count(call, true))
        .sum();
    let waits = count("epoll_wait", false);
    eprintln!("{reads} reads with bytes, {would_block} that would block, {waits} waits");
    // Each side reads each message once.
    assert!(reads >= 600, "the filter sees the reads: {reads}");
    // Only a socket's first read, before anything showed it drained, may find nothing; and
    // a read woken by its peer's write before the kernel delivered the bytes (rare: loopback
    // delivers them before the write returns, unless the machine defers that work). Each
    // of those then waits in epoll.
    assert!(
        would_block <= 4 + 300 / 10,
        "{would_block} reads could only say EAGAIN (reel knew the socket was drained)"
    );
    // Both ends are streams of the run: a write shows the other end readable without the
    // driver, which is asked only at one in 32 of the decisions that note such writes (two
    // a round trip), and for the connection's setup (tokio's round trip makes two epoll
    // waits, and two reads that say EAGAIN).
    assert!(
        waits <= 300 / 16 + 4 + would_block,
        "{waits} epoll waits for 300 round trips"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_read_after_urgent_data_still_gets_the_bytes_behind_it() {
    // A read stops short at TCP's urgent mark with bytes still queued: the short read must
    // not count as a drained socket (the driver's report of the urgent data says so).
    let received = reel::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // A std peer: its blocking connect ends at once on loopback.
        let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        peer.set_nodelay(true).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        // Runs while the reader waits: the driver then reports the bytes, the urgent byte
        // and the bytes after it at once.
        let sender = reel::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            for (bytes, flags) in [(&b"hello"[..], 0), (b"!", libc::MSG_OOB), (b"world", 0)] {
                // SAFETY: `bytes` is valid for reads of its length during the call.
                let sent = unsafe {
                    libc::send(peer.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), flags)
                };
                assert_eq!(sent, bytes.len() as isize);
            }
            peer
        });
        let mut received = Vec::new();
        let mut buffer = [0; 64];
        while received.len() < 10 {
            match server.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => received.extend_from_slice(&buffer[..read]),
                Err(error) => return Err(error),
            }
        }
        drop(sender.join().unwrap());
        Ok(received)
    });
    // The urgent byte is out of band (no SO_OOBINLINE), as std's reads give it.
    assert_eq!(received.unwrap(), b"helloworld");
}

#[test]
fn bytes_that_came_after_a_drained_read_are_read_while_another_thread_computes() {
    // The reader's first read drains the socket; the next bytes come before its next read,
    // while another thread computes for longer than the read's timeout without waiting
    // for anything: the read still gets them at once, as with std.
    let result = reel::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut writer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        writer.set_nodelay(true).unwrap();
        let (mut reader, _) = listener.accept().unwrap();
        writer.write_all(b"a").unwrap();
        let mut byte = [0; 1];
        reader.read_exact(&mut byte).unwrap();
        writer.write_all(b"b").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5)); // The kernel has it.
        let busy = reel::thread::spawn(|| {
            let counter = reel::sync::Mutex::new(0u64);
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_millis(300) {
                *counter.lock().unwrap() += 1;
            }
        });
        reader
            .set_read_timeout(Some(std::time::Duration::from_millis(50)))
            .unwrap();
        let read = reader.read(&mut byte).map(|read| (read, byte[0]));
        busy.join().unwrap();
        read
    });
    assert_eq!(result.unwrap(), (1, b'b'));
}

#[test]
fn a_stream_dropped_with_bytes_unread_resets_the_connection() {
    // The server reads 1 of 10 bytes (its read took the rest from the kernel too) and
    // closes: the peer sees a reset, as it would with std, not a clean end.
    let error = reel::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(&[7; 10]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5)); // The kernel has them.
        let mut byte = [0; 1];
        server.read_exact(&mut byte).unwrap();
        drop(server);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).map(|_| rest)
    });
    assert_eq!(error.unwrap_err().kind(), ErrorKind::ConnectionReset);
}

#[test]
fn a_conversation_of_paired_streams_does_not_starve_other_waits_for_io() {
    // Two green threads ping-pong over a connection whose ends are both the program's (a
    // write ends the other end's wait without the driver, so some thread can always run),
    // until a third, waiting to accept a connection from outside the program, reads "stop".
    // The driver must still be asked now and then, or that accept waits for ever.
    const MOST: u64 = 100_000;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (control_address, rounds, outside) = reel::run(|| {
        let control = TcpListener::bind("127.0.0.1:0").unwrap();
        let control_address = control.local_addr().unwrap();
        let outside = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let mut stream = std::net::TcpStream::connect(control_address).unwrap();
            stream.write_all(b"stop").unwrap();
            // Until the controller is done with it.
            let _ = stream.read(&mut [0; 1]);
        });
        let flag = stop.clone();
        let controller = reel::thread::spawn(move || {
            let (mut stream, _) = control.accept().unwrap();
            let mut word = [0; 4];
            stream.read_exact(&mut word).unwrap();
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let data = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = data.local_addr().unwrap();
        let server = reel::thread::spawn(move || {
            let (mut stream, _) = data.accept().unwrap();
            let mut message = [0; 64];
            while stream.read_exact(&mut message).is_ok() {
                if stream.write_all(&message).is_err() {
                    break;
                }
            }
        });
        let mut client = TcpStream::connect(address).unwrap();
        client.set_nodelay(true).unwrap();
        let mut rounds = 0;
        let mut message = [1; 64];
        while !stop.load(std::sync::atomic::Ordering::SeqCst) && rounds < MOST {
            client.write_all(&message).unwrap();
            client.read_exact(&mut message).unwrap();
            rounds += 1;
        }
        drop(client);
        server.join().unwrap();
        controller.join().unwrap();
        (control_address, rounds, outside)
    });
    outside.join().unwrap();
    eprintln!("{rounds} round trips before the stop from {control_address} was seen");
    assert!(
        rounds < MOST,
        "the accept waited through {rounds} round trips"
    );
}

/// Round trips of one byte between two green threads over loopback, beside a thread that
/// takes a mutex; `fail` makes the run fail if that thread ran to its end first.
fn paired_ping_pong(rounds: u8, fail: bool) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = reel::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut byte = [0; 1];
        while stream.read_exact(&mut byte).is_ok() {
            byte[0] += 1;
            stream.write_all(&byte).unwrap();
        }
    });
    let counter = std::sync::Arc::new(reel::sync::Mutex::new(0u32));
    let other = {
        let counter = counter.clone();
        reel::thread::spawn(move || {
            for _ in 0..3 {
                *counter.lock().unwrap() += 1;
            }
        })
    };
    let mut client = TcpStream::connect(address).unwrap();
    let mut byte = [0u8; 1];
    for _ in 0..rounds {
        client.write_all(&byte).unwrap();
        client.read_exact(&mut byte).unwrap();
    }
    assert_eq!(byte[0], rounds);
    let done = *counter.lock().unwrap();
    drop(client);
    server.join().unwrap();
    other.join().unwrap();
    assert!(
        !fail || done != 3,
        "the other thread finished before the round trips"
    );
}

#[test]
fn paired_streams_explore_under_dfs_and_their_failures_replay() {
    // DFS repeats its prefixes: the ends of waits that paired writes make are the program's
    // doing, not the kernel's timing.
    let report = Checker::new()
        .dfs(Some(1))
        .run(|| paired_ping_pong(3, false));
    assert!(!report.found(), "{report}");
    let dir = scratch_dir("paired");
    for seed in 0..3 {
        let report = Checker::new()
            .random()
            .seed(seed)
            .iterations(50)
            .jobs(1)
            .trace_dir(&dir)
            .run(|| paired_ping_pong(5, true));
        assert!(report.found(), "{report}");
        let path = report
            .trace
            .clone()
            .expect("the failing run's trace is saved");
        let replayed = Replay::from_file(&path)
            .unwrap()
            .run(|| paired_ping_pong(5, true))
            .unwrap();
        assert!(replayed.reproduced(), "{replayed}");
        assert_eq!(
            replayed.failure.map(|failure| failure.step),
            report.failure.map(|failure| failure.step)
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
