//! Unix-domain sockets: [`UnixListener`] and [`UnixStream`] (streams) and [`UnixDatagram`],
//! with the signatures of `std::os::unix::net`'s.
//!
//! Addresses are recorded as paths (empty for an unnamed socket). A replay gives an unnamed
//! address back as std makes one, from a socket bound to nothing: the one thing a replay
//! asks of the OS here, and no I/O.
//!
//! A datagram is sent whole or not at all: one larger than the trace's datagram limit
//! (`MAX_DATAGRAM_BYTES`, 64 KiB) fails with `EMSGSIZE`, as one larger than the OS allows
//! does, since a receiver could not be given it whole. `recv_from` is two steps: the read,
//! whose result holds the datagram, then the sender's address, recorded as a path like any
//! other address here.

use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::SocketAddr;
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::sys;
use super::{
    Caller, Descriptor, Timeout, no_descriptor, read_step, read_value, registered, stream_read,
    stream_write, unexpected, write_step,
};
use crate::runtime::execution;
use crate::runtime::io::{IoAsk, IoValue, MAX_DATAGRAM_BYTES, interest};
use crate::runtime::vocabulary::IoOp;

/// An address as the trace holds it: its path's bytes, empty when it has none.
fn address_value(address: &SocketAddr) -> IoValue {
    IoValue::Value(
        address
            .as_pathname()
            .map(|path| path.as_os_str().as_bytes().to_vec())
            .unwrap_or_default(),
    )
}

/// The address a recorded path stands for.
fn address_of(value: &IoValue) -> io::Result<SocketAddr> {
    match value {
        IoValue::Value(path) if path.is_empty() => {
            std::os::unix::net::UnixDatagram::unbound()?.local_addr()
        }
        IoValue::Value(path) => {
            SocketAddr::from_pathname(Path::new(std::ffi::OsStr::from_bytes(path)))
        }
        other => Err(unexpected(other)),
    }
}

/// An address step of `descriptor`: `address` asks the OS (`None` in a replay, which has no
/// socket); the result is recorded as a path ([`address_value`]).
fn address_step(
    descriptor: Descriptor,
    location: Caller,
    mut address: impl FnMut() -> Option<io::Result<SocketAddr>>,
) -> io::Result<SocketAddr> {
    let value = descriptor.control(location, || {
        address().map(|address| match address {
            Ok(address) => address_value(&address),
            Err(error) => IoValue::error(&error),
        })
    })?;
    address_of(&value)
}

/// A shutdown step of `descriptor`: `shutdown` does it (`None` in a replay).
fn shutdown_step(
    descriptor: Descriptor,
    location: Caller,
    mut shutdown: impl FnMut() -> Option<io::Result<()>>,
) -> io::Result<()> {
    descriptor
        .control(location, || {
            shutdown().map(|result| IoValue::of(result, |()| IoValue::Done))
        })
        .map(drop)
}

/// A Unix-domain socket server (std's `UnixListener`).
#[derive(Debug)]
pub struct UnixListener {
    /// The socket; `None` in a replay, which performs no I/O.
    inner: Option<mio::net::UnixListener>,
    descriptor: Descriptor,
    path: PathBuf,
}

impl UnixListener {
    /// Binds a listener to `path` (which must not exist).
    #[track_caller]
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let location = Location::caller();
        let path = path.as_ref().to_owned();
        let descriptor = Descriptor::new();
        let mut inner = None;
        descriptor.operate(
            IoOp::Open,
            IoAsk::NONE.to_path(&path),
            0,
            None,
            location,
            |io| {
                let listener =
                    match registered(io, descriptor.object, mio::net::UnixListener::bind(&path)) {
                        Ok(listener) => listener,
                        Err(value) => return value,
                    };
                inner = Some(listener);
                IoValue::Done
            },
        )?;
        Ok(UnixListener {
            inner,
            descriptor,
            path,
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        SocketAddr::from_pathname(&self.path)
    }

    /// Accepts a connection: waits (the other green threads run) until one comes.
    #[track_caller]
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let location = Location::caller();
        let mut accepted = None;
        let value = self.descriptor.operate(
            IoOp::Accept,
            IoAsk::NONE,
            interest::READ,
            None,
            location,
            |_| {
                let Some(listener) = &self.inner else {
                    return no_descriptor();
                };
                match listener.accept() {
                    Ok((stream, peer)) => {
                        accepted = Some(stream);
                        address_value(&peer)
                    }
                    Err(error) => IoValue::error(&error),
                }
            },
        )?;
        let peer = address_of(&value)?;
        let descriptor = Descriptor::new();
        if let Some(stream) = &mut accepted {
            execution::io_register(stream, descriptor.object)?;
        }
        Ok((UnixStream::new(accepted, descriptor), peer))
    }

    /// An iterator over the connections as they come (`accept` in a loop); it never ends.
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }
}

/// The connections of a [`UnixListener`], from [`UnixListener::incoming`].
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

    #[track_caller]
    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

/// Two connected sockets, each with its descriptor (a replay has no sockets).
type Paired<S> = ((Option<S>, Descriptor), (Option<S>, Descriptor));

/// Two connected sockets that `make` opens (a `pair`), registered with the driver: one
/// step, on the first.
fn open_pair<S: mio::event::Source>(
    location: Caller,
    make: impl FnOnce() -> io::Result<(S, S)>,
) -> io::Result<Paired<S>> {
    let first = Descriptor::new();
    let second = Descriptor::new();
    let mut pair = None;
    let mut make = Some(make);
    first.operate(IoOp::Open, IoAsk::NONE, 0, None, location, |io| {
        let make = make.take().expect("an open does not block");
        let (one, other) = match make() {
            Ok(pair) => pair,
            Err(error) => return IoValue::error(&error),
        };
        let both = registered(io, first.object, Ok(one))
            .and_then(|one| Ok((one, registered(io, second.object, Ok(other))?)));
        match both {
            Ok(both) => {
                pair = Some(both);
                IoValue::Done
            }
            Err(value) => value,
        }
    })?;
    let (one, other) = pair.unzip();
    Ok(((one, first), (other, second)))
}

/// A Unix-domain stream connection (std's `UnixStream`).
#[derive(Debug)]
pub struct UnixStream {
    /// The socket; `None` in a replay, which performs no I/O.
    inner: Option<mio::net::UnixStream>,
    descriptor: Descriptor,
    read_timeout: Timeout,
    write_timeout: Timeout,
}

impl UnixStream {
    fn new(inner: Option<mio::net::UnixStream>, descriptor: Descriptor) -> UnixStream {
        UnixStream {
            inner,
            descriptor,
            read_timeout: Timeout::new(),
            write_timeout: Timeout::new(),
        }
    }

    /// Two streams connected to each other, neither bound to an address (one step, on the
    /// first).
    #[track_caller]
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let ((one, first), (other, second)) =
            open_pair(Location::caller(), mio::net::UnixStream::pair)?;
        Ok((UnixStream::new(one, first), UnixStream::new(other, second)))
    }

    /// Connects to the socket at `path`.
    #[track_caller]
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let location = Location::caller();
        let path = path.as_ref().to_owned();
        let descriptor = Descriptor::new();
        let mut inner: Option<mio::net::UnixStream> = None;
        descriptor.operate(
            IoOp::Connect,
            IoAsk::NONE.to_path(&path),
            interest::WRITE,
            None,
            location,
            |io| {
                if inner.is_none() {
                    let stream = match registered(
                        io,
                        descriptor.object,
                        mio::net::UnixStream::connect(&path),
                    ) {
                        Ok(stream) => stream,
                        Err(value) => return value,
                    };
                    inner = Some(stream);
                }
                let stream = inner.as_ref().expect("made above");
                match stream.take_error() {
                    Ok(Some(error)) | Err(error) => return IoValue::error(&error),
                    Ok(None) => {}
                }
                match stream.peer_addr() {
                    Ok(_) => IoValue::Done,
                    Err(error) if error.kind() == io::ErrorKind::NotConnected => {
                        IoValue::WouldBlock
                    }
                    Err(error) => IoValue::error(&error),
                }
            },
        )?;
        Ok(UnixStream::new(inner, descriptor))
    }

    /// The address of this end (a step).
    #[track_caller]
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let inner = self.inner.as_ref();
        address_step(self.descriptor, Location::caller(), || {
            inner.map(mio::net::UnixStream::local_addr)
        })
    }

    /// The address of the other end (a step).
    #[track_caller]
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let inner = self.inner.as_ref();
        address_step(self.descriptor, Location::caller(), || {
            inner.map(mio::net::UnixStream::peer_addr)
        })
    }

    /// Shuts down the reading, the writing or both halves of the connection.
    #[track_caller]
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let inner = self.inner.as_ref();
        shutdown_step(self.descriptor, Location::caller(), || {
            inner.map(|stream| stream.shutdown(how))
        })
    }

    /// Sets how long a read waits before it fails with `WouldBlock` (`None`: forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout.set(timeout)
    }

    /// Sets how long a write waits before it fails with `WouldBlock` (`None`: forever).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.write_timeout.set(timeout)
    }

    fn read_at(&self, buffer: &mut [u8], location: Caller) -> io::Result<usize> {
        let timeout = self.read_timeout.get();
        let fd = self.inner.as_ref().map(AsRawFd::as_raw_fd);
        stream_read(self.descriptor, buffer, timeout, location, |io, bytes| {
            let result = fd.map(|fd| sys::read(fd, bytes));
            read_value(io, bytes, result)
        })
    }

    fn write_at(&self, buffer: &[u8], location: Caller) -> io::Result<usize> {
        let timeout = self.write_timeout.get();
        stream_write(self.descriptor, buffer, timeout, location, |bytes| {
            let stream = self.inner.as_ref()?;
            Some(sys::write(stream.as_raw_fd(), bytes))
        })
    }
}

stream_read_write!(UnixStream);

/// A Unix-domain datagram socket (std's `UnixDatagram`).
///
/// ```
/// use reel::net::UnixDatagram;
///
/// let reply = reel::run(|| {
///     let (client, server) = UnixDatagram::pair().unwrap();
///     let serving = reel::thread::spawn(move || {
///         let mut request = [0; 16];
///         let length = server.recv(&mut request).unwrap();
///         request[..length].make_ascii_uppercase();
///         server.send(&request[..length]).unwrap();
///     });
///     client.send(b"datagram").unwrap();
///     let mut reply = [0; 16];
///     let length = client.recv(&mut reply).unwrap();
///     serving.join().unwrap();
///     reply[..length].to_vec()
/// });
/// assert_eq!(reply, b"DATAGRAM");
/// ```
#[derive(Debug)]
pub struct UnixDatagram {
    /// The socket; `None` in a replay, which performs no I/O.
    inner: Option<mio::net::UnixDatagram>,
    descriptor: Descriptor,
    read_timeout: Timeout,
    write_timeout: Timeout,
}

impl UnixDatagram {
    fn new(inner: Option<mio::net::UnixDatagram>, descriptor: Descriptor) -> UnixDatagram {
        UnixDatagram {
            inner,
            descriptor,
            read_timeout: Timeout::new(),
            write_timeout: Timeout::new(),
        }
    }

    /// Makes a socket with `open` in an open step (to `path`, when it names one).
    fn open(
        path: Option<&Path>,
        location: Caller,
        mut open: impl FnMut() -> io::Result<mio::net::UnixDatagram>,
    ) -> io::Result<UnixDatagram> {
        let descriptor = Descriptor::new();
        let mut inner = None;
        let ask = match path {
            Some(path) => IoAsk::NONE.to_path(path),
            None => IoAsk::NONE,
        };
        descriptor.operate(IoOp::Open, ask, 0, None, location, |io| {
            let socket = match registered(io, descriptor.object, open()) {
                Ok(socket) => socket,
                Err(value) => return value,
            };
            inner = Some(socket);
            IoValue::Done
        })?;
        Ok(UnixDatagram::new(inner, descriptor))
    }

    /// Binds a socket to `path` (which must not exist).
    #[track_caller]
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        let path = path.as_ref();
        UnixDatagram::open(Some(path), Location::caller(), || {
            mio::net::UnixDatagram::bind(path)
        })
    }

    /// A socket bound to no address.
    #[track_caller]
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::open(None, Location::caller(), mio::net::UnixDatagram::unbound)
    }

    /// Two sockets connected to each other, neither bound to an address (one step, on the
    /// first).
    #[track_caller]
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let ((one, first), (other, second)) =
            open_pair(Location::caller(), mio::net::UnixDatagram::pair)?;
        Ok((
            UnixDatagram::new(one, first),
            UnixDatagram::new(other, second),
        ))
    }

    /// Connects the socket to the socket at `path`: `send` and `recv` then talk to it only.
    #[track_caller]
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        let path = path.as_ref();
        self.descriptor
            .operate(
                IoOp::Connect,
                IoAsk::NONE.to_path(path),
                0,
                None,
                Location::caller(),
                |_| match &self.inner {
                    Some(socket) => IoValue::of(socket.connect(path), |()| IoValue::Done),
                    None => no_descriptor(),
                },
            )
            .map(drop)
    }

    /// The address the socket is bound to (a step).
    #[track_caller]
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let inner = self.inner.as_ref();
        address_step(self.descriptor, Location::caller(), || {
            inner.map(mio::net::UnixDatagram::local_addr)
        })
    }

    /// The address of the socket it is connected to (a step).
    #[track_caller]
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let inner = self.inner.as_ref();
        address_step(self.descriptor, Location::caller(), || {
            inner.map(mio::net::UnixDatagram::peer_addr)
        })
    }

    /// Sends `buffer` as one datagram to the connected socket; returns the bytes sent. A
    /// datagram larger than 64 KiB fails with `EMSGSIZE` and sends nothing.
    #[track_caller]
    pub fn send(&self, buffer: &[u8]) -> io::Result<usize> {
        self.send_with(buffer, IoAsk::write(buffer), Location::caller(), |socket| {
            socket.send(buffer)
        })
    }

    /// Sends `buffer` as one datagram to the socket at `path`; returns the bytes sent. A
    /// datagram larger than 64 KiB fails with `EMSGSIZE` and sends nothing.
    #[track_caller]
    pub fn send_to<P: AsRef<Path>>(&self, buffer: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        let ask = IoAsk::write(buffer).to_path(path);
        self.send_with(buffer, ask, Location::caller(), |socket| {
            socket.send_to(buffer, path)
        })
    }

    /// Receives a datagram into `buffer` (at most 64 KiB of it; the rest of a longer one is
    /// lost, as with std); returns the bytes received.
    #[track_caller]
    pub fn recv(&self, buffer: &mut [u8]) -> io::Result<usize> {
        self.receive(buffer, Location::caller(), |socket, bytes| {
            socket.recv(bytes)
        })
    }

    /// Receives a datagram into `buffer` as [`UnixDatagram::recv`] does; returns the bytes
    /// received and the sender's address (a second step, whose result is that address).
    #[track_caller]
    pub fn recv_from(&self, buffer: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let location = Location::caller();
        let mut sender = None;
        let received = self.receive(buffer, location, |socket, bytes| {
            let (received, from) = socket.recv_from(bytes)?;
            sender = Some(from);
            Ok(received)
        })?;
        let sender = address_step(self.descriptor, location, || {
            self.inner.as_ref().map(|_| {
                sender
                    .clone()
                    .ok_or_else(|| io::Error::other("reel: no sender was received"))
            })
        })?;
        Ok((received, sender))
    }

    /// Shuts down the reading, the writing or both halves of the socket.
    #[track_caller]
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let inner = self.inner.as_ref();
        shutdown_step(self.descriptor, Location::caller(), || {
            inner.map(|socket| socket.shutdown(how))
        })
    }

    /// The socket's pending error (`SO_ERROR`), cleared as it is taken (a step).
    #[track_caller]
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        let value = self.descriptor.control(Location::caller(), || {
            // The pending error is a count: its errno, 0 for none.
            self.inner.as_ref().map(|socket| {
                IoValue::of(socket.take_error(), |pending| {
                    IoValue::Count(
                        pending.and_then(|error| error.raw_os_error()).unwrap_or(0) as u64
                    )
                })
            })
        })?;
        match value {
            IoValue::Count(0) => Ok(None),
            IoValue::Count(errno) => match i32::try_from(errno) {
                Ok(errno) => Ok(Some(io::Error::from_raw_os_error(errno))),
                Err(_) => Err(unexpected(&value)),
            },
            other => Err(unexpected(&other)),
        }
    }

    /// Sets how long a receive waits before it fails with `WouldBlock` (`None`: forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout.set(timeout)
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.read_timeout.get())
    }

    /// Sets how long a send waits before it fails with `WouldBlock` (`None`: forever).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.write_timeout.set(timeout)
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.write_timeout.get())
    }

    fn send_with(
        &self,
        buffer: &[u8],
        ask: IoAsk<'_>,
        location: Caller,
        mut send: impl FnMut(&mio::net::UnixDatagram) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if buffer.len() > MAX_DATAGRAM_BYTES {
            // Deterministic, so no step: the trace could not hold it whole for a receiver.
            return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
        }
        write_step(
            self.descriptor,
            buffer,
            ask,
            self.write_timeout.get(),
            location,
            || self.inner.as_ref().map(&mut send),
        )
    }

    /// One read step of a datagram into `buffer`; `receive` does the OS's receive.
    fn receive(
        &self,
        buffer: &mut [u8],
        location: Caller,
        mut receive: impl FnMut(&mio::net::UnixDatagram, &mut [u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let asked = buffer.len().min(MAX_DATAGRAM_BYTES);
        read_step(
            self.descriptor,
            &mut buffer[..asked],
            self.read_timeout.get(),
            location,
            |bytes| Some(receive(self.inner.as_ref()?, bytes)),
        )
    }
}
