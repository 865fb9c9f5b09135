//! Networking with std's signatures: [`TcpListener`], [`TcpStream`], [`UdpSocket`],
//! [`ToSocketAddrs`], and Unix-domain [`UnixListener`], [`UnixStream`] and [`UnixDatagram`]
//! (`std::os::unix::net`'s), on non-blocking sockets registered with the runtime's I/O
//! driver.
//!
//! Every operation is a step whose result is an input: a plain run performs it (a thread
//! whose operation would block waits, and the others run), a recording writes down what it
//! gave the program (bytes read and their contents, counts written, errors with their
//! errno, accepted peers, resolved addresses), and a replay performs none of it: the
//! results come from the trace, so a replay of a server's run works with the port closed.
//!
//! A read takes at most 8 KiB in one step (a read may always return fewer bytes than
//! asked). Host names are resolved (getaddrinfo) on a helper thread; addresses that are
//! already numeric need no resolution and are not recorded.
//!
//! ```
//! use std::io::{Read, Write};
//! use reel::net::{TcpListener, TcpStream};
//!
//! reel::run(|| {
//!     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//!     let address = listener.local_addr().unwrap();
//!     let server = reel::thread::spawn(move || {
//!         let (mut stream, _) = listener.accept().unwrap();
//!         let mut buffer = [0; 5];
//!         stream.read_exact(&mut buffer).unwrap();
//!         stream.write_all(&buffer).unwrap();
//!     });
//!     let mut client = TcpStream::connect(address).unwrap();
//!     client.write_all(b"hello").unwrap();
//!     let mut echoed = [0; 5];
//!     client.read_exact(&mut echoed).unwrap();
//!     assert_eq!(&echoed, b"hello");
//!     server.join().unwrap();
//! });
//! ```

/// `Read` and `Write` for a stream and for a shared reference to it, each a step at its
/// caller's location, through the stream's own `read_at` and `write_at`.
macro_rules! stream_read_write {
    ($stream:ty) => {
        impl std::io::Read for $stream {
            #[track_caller]
            fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
                self.read_at(buffer, std::panic::Location::caller())
            }
        }

        impl std::io::Read for &$stream {
            #[track_caller]
            fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
                self.read_at(buffer, std::panic::Location::caller())
            }
        }

        impl std::io::Write for $stream {
            #[track_caller]
            fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
                self.write_at(buffer, std::panic::Location::caller())
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Write for &$stream {
            #[track_caller]
            fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
                self.write_at(buffer, std::panic::Location::caller())
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}

mod addr;
mod sys;
mod tcp;
mod udp;
mod unix;

use std::io;
use std::os::fd::RawFd;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

pub use addr::ToSocketAddrs;
pub use std::net::Shutdown;
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixIncoming, UnixListener, UnixStream};

use crate::runtime::execution::{self, IoState, ObjectId};
use crate::runtime::io::{IoAsk, IoValue, MAX_IO_BYTES, interest};
use crate::runtime::vocabulary::IoOp;

type Caller = &'static Location<'static>;

/// A descriptor's identity in the execution: its object and the execution's generation.
#[derive(Clone, Copy, Debug)]
struct Descriptor {
    object: ObjectId,
    generation: u64,
}

impl Descriptor {
    fn new() -> Descriptor {
        let (object, generation) =
            execution::io_object(crate::runtime::vocabulary::ObjectKind::Socket);
        Descriptor { object, generation }
    }

    /// Runs an I/O operation to its end: a step; while it would block, a wait for
    /// `readiness` (at most `timeout`: then the error std gives, `WouldBlock`) and another
    /// step. An error result is returned as the error.
    fn operate(
        self,
        op: IoOp,
        ask: IoAsk<'_>,
        readiness: u8,
        timeout: Option<Duration>,
        location: Caller,
        mut perform: impl FnMut(&mut IoState) -> IoValue,
    ) -> io::Result<IoValue> {
        loop {
            let value = execution::io_step(
                op,
                self.object,
                self.generation,
                ask,
                location,
                &mut perform,
            );
            match value {
                IoValue::WouldBlock => {
                    if !execution::io_wait(self.object, readiness, timeout, location) {
                        return Err(io::Error::from_raw_os_error(libc::EAGAIN));
                    }
                }
                IoValue::Error(..) => {
                    return Err(value.as_error().expect("an error value is an error"));
                }
                value => return Ok(value),
            }
        }
    }

    /// A control operation (an address, a shutdown, an option, a pending error): one step,
    /// whose value `control` gives (`None` when there is no socket, as in a replay).
    fn control(
        self,
        location: Caller,
        mut control: impl FnMut() -> Option<IoValue>,
    ) -> io::Result<IoValue> {
        self.operate(IoOp::Control, IoAsk::NONE, 0, None, location, |_| {
            control().unwrap_or_else(no_descriptor)
        })
    }
}

/// A socket just made (`made`), registered with the execution's driver for `object`; the
/// error of making or of registering it, as the step's value.
fn registered<S: mio::event::Source>(
    io: &mut IoState,
    object: ObjectId,
    made: io::Result<S>,
) -> Result<S, IoValue> {
    let mut socket = made.map_err(|error| IoValue::error(&error))?;
    io.register(&mut socket, object)
        .map_err(|error| IoValue::error(&error))?;
    Ok(socket)
}

/// The error of a descriptor that a replay does not have (it performs no I/O) or that a
/// result did not fit.
fn unexpected(value: &IoValue) -> io::Error {
    io::Error::other(format!(
        "reel: an I/O operation gave an unexpected result ({})",
        value.describe()
    ))
}

/// The result of an operation on a descriptor that only a recording has.
fn no_descriptor() -> IoValue {
    IoValue::Error(libc::EBADF, String::new())
}

/// How many bytes a stream may read beyond what the program asked.
const SPILL_BYTES: usize = 4096;

/// What a TCP stream read from the kernel beyond what the program asked. A read asks the
/// kernel for the program's buffer and this spill at once (readv), so the answer shows
/// whether the socket is drained: when the spill is not filled, nothing was left (unless
/// the read stopped at an urgent mark, which the driver reports: `interest::PRIORITY`),
/// and the next read may wait for the driver's word instead of making a system call that
/// could only say EAGAIN (`IoState::may_read`). The next read takes the spill's bytes
/// first (and only those), so the program sees the stream's bytes in order, as if it had
/// read them from the kernel then. A stream dropped with bytes in its spill resets the
/// connection, as the kernel does for bytes left unread in its own queue.
#[derive(Debug, Default)]
struct ReadAhead(Mutex<Spill>);

#[derive(Debug, Default)]
struct Spill {
    /// `SPILL_BYTES` long once the stream first reads.
    bytes: Vec<u8>,
    /// The bytes not taken yet: `bytes[start..end]`.
    start: usize,
    end: usize,
}

impl ReadAhead {
    /// Reads into `buffer` from the stream `fd` of `object`: from the spill if it holds
    /// bytes, else from the kernel (unless the stream showed itself drained and the driver
    /// reported nothing since: then it would block).
    fn read(&self, io: &mut IoState, object: ObjectId, fd: RawFd, buffer: &mut [u8]) -> IoValue {
        let mut spill = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let read = if spill.start < spill.end {
            let taken = buffer.len().min(spill.end - spill.start);
            buffer[..taken].copy_from_slice(&spill.bytes[spill.start..spill.start + taken]);
            spill.start += taken;
            taken
        } else if !io.may_read(object) {
            return IoValue::WouldBlock;
        } else {
            if spill.bytes.is_empty() {
                spill.bytes = vec![0; SPILL_BYTES];
            }
            let read = match sys::read_two(fd, buffer, &mut spill.bytes) {
                Ok(read) => read,
                Err(error) => return IoValue::error(&error),
            };
            let spilled = read.saturating_sub(buffer.len());
            spill.start = 0;
            spill.end = spilled;
            // A read of 0 is the end of the stream, which every later read gives too.
            if read > 0 && spilled < SPILL_BYTES {
                io.drained(object);
            }
            read - spilled
        };
        filled(io, buffer, read)
    }

    /// Whether the spill holds bytes the program has not read.
    fn holds_bytes(&self) -> bool {
        let spill = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        spill.start < spill.end
    }
}

/// Reads into `buffer` from a stream of `descriptor` (at most [`MAX_IO_BYTES`] in one step),
/// waiting at most `timeout` each time it would block; `read` does the read and gives its
/// value.
fn stream_read(
    descriptor: Descriptor,
    buffer: &mut [u8],
    timeout: Option<Duration>,
    location: Caller,
    read: impl FnMut(&mut IoState, &mut [u8]) -> IoValue,
) -> io::Result<usize> {
    if buffer.is_empty() {
        return Ok(0);
    }
    let asked = buffer.len().min(MAX_IO_BYTES);
    read_value_step(descriptor, &mut buffer[..asked], timeout, location, read)
}

/// Reads into `buffer` (all of it asked, in one step) from `descriptor`, waiting at most
/// `timeout` each time it would block; `read` does the OS's read (or receive).
fn read_step(
    descriptor: Descriptor,
    buffer: &mut [u8],
    timeout: Option<Duration>,
    location: Caller,
    mut read: impl FnMut(&mut [u8]) -> Option<io::Result<usize>>,
) -> io::Result<usize> {
    read_value_step(
        descriptor,
        buffer,
        timeout,
        location,
        // Read where the program asked (no buffer made for a read that would block).
        |io, buffer| {
            let result = read(buffer);
            read_value(io, buffer, result)
        },
    )
}

/// The value of a read into `buffer` that gave `result` (`None`: there is no descriptor).
fn read_value(io: &IoState, buffer: &[u8], result: Option<io::Result<usize>>) -> IoValue {
    match result {
        Some(Ok(read)) => filled(io, buffer, read),
        Some(Err(error)) => IoValue::error(&error),
        None => no_descriptor(),
    }
}

/// The value of a read that put `read` bytes at the start of `buffer`: kept as the value
/// the trace records if an observer is told of it, else left where they are.
fn filled(io: &IoState, buffer: &[u8], read: usize) -> IoValue {
    if io.observed() {
        IoValue::Bytes(buffer[..read].to_vec())
    } else {
        IoValue::Filled(read)
    }
}

/// A read step into `buffer` (all of it asked) from `descriptor`, waiting at most `timeout`
/// each time it would block; `perform` does the read and gives its value.
fn read_value_step(
    descriptor: Descriptor,
    buffer: &mut [u8],
    timeout: Option<Duration>,
    location: Caller,
    mut perform: impl FnMut(&mut IoState, &mut [u8]) -> IoValue,
) -> io::Result<usize> {
    let value = descriptor.operate(
        IoOp::Read,
        IoAsk::read(buffer.len()),
        interest::READ,
        timeout,
        location,
        |io| perform(io, buffer),
    )?;
    read_result(value, buffer)
}

/// What a read step's `value` gave the program in `buffer`: the count.
fn read_result(value: IoValue, buffer: &mut [u8]) -> io::Result<usize> {
    let asked = buffer.len();
    match value {
        IoValue::Filled(read) if read <= asked => Ok(read),
        IoValue::Bytes(bytes) if bytes.len() <= asked => {
            buffer[..bytes.len()].copy_from_slice(&bytes);
            Ok(bytes.len())
        }
        other => Err(unexpected(&other)),
    }
}

/// Writes `buffer` to a stream of `descriptor`, waiting at most `timeout` each time it would
/// block; `write` does the OS's write.
fn stream_write(
    descriptor: Descriptor,
    buffer: &[u8],
    timeout: Option<Duration>,
    location: Caller,
    mut write: impl FnMut(&[u8]) -> Option<io::Result<usize>>,
) -> io::Result<usize> {
    if buffer.is_empty() {
        return Ok(0);
    }
    write_step(
        descriptor,
        buffer,
        IoAsk::write(buffer),
        timeout,
        location,
        || write(buffer),
    )
}

/// Writes (or sends) `buffer`, asking `ask`, to `descriptor` in one step, waiting at most
/// `timeout` each time it would block; `write` does the OS's write.
fn write_step(
    descriptor: Descriptor,
    buffer: &[u8],
    ask: IoAsk<'_>,
    timeout: Option<Duration>,
    location: Caller,
    mut write: impl FnMut() -> Option<io::Result<usize>>,
) -> io::Result<usize> {
    let value =
        descriptor.operate(
            IoOp::Write,
            ask,
            interest::WRITE,
            timeout,
            location,
            |io| match write() {
                Some(Ok(written)) => {
                    if written > 0 {
                        io.wrote(descriptor.object);
                    }
                    IoValue::Count(written as u64)
                }
                Some(Err(error)) => IoValue::error(&error),
                None => no_descriptor(),
            },
        )?;
    match value {
        IoValue::Count(written) if written as usize <= buffer.len() => Ok(written as usize),
        other => Err(unexpected(&other)),
    }
}

/// A timeout as std stores it: `None`, or nanoseconds (u64::MAX for none).
#[derive(Debug)]
struct Timeout(AtomicU64);

impl Timeout {
    const NONE: u64 = u64::MAX;

    fn new() -> Timeout {
        Timeout(AtomicU64::new(Timeout::NONE))
    }

    fn set(&self, timeout: Option<Duration>) -> io::Result<()> {
        let nanos = match timeout {
            Some(duration) if duration.is_zero() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "cannot set a 0 duration timeout",
                ));
            }
            Some(duration) => u64::try_from(duration.as_nanos())
                .unwrap_or(Timeout::NONE - 1)
                .min(Timeout::NONE - 1),
            None => Timeout::NONE,
        };
        self.0.store(nanos, Ordering::Relaxed);
        Ok(())
    }

    fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            Timeout::NONE => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }
}

/// Resolves `addresses` (a helper job when they name a host) and calls `f` with each in
/// turn until it succeeds; the last error otherwise.
fn each_address<T>(
    addresses: impl ToSocketAddrs,
    location: Caller,
    mut f: impl FnMut(std::net::SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for address in addr::resolve(&addresses, location)? {
        match f(address) {
            Ok(value) => return Ok(value),
            Err(error) => last = Some(error),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}
