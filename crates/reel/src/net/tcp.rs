//! TCP: [`TcpListener`] and [`TcpStream`], with std's signatures.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::panic::Location;
use std::time::Duration;

use super::sys;
use super::{
    Descriptor, ReadAhead, Timeout, ToSocketAddrs, each_address, no_descriptor, registered,
    stream_read, stream_write, unexpected,
};
use crate::runtime::execution;
use crate::runtime::io::{IoAsk, IoValue, interest};
use crate::runtime::vocabulary::IoOp;

/// A TCP socket server, listening for connections (std's `TcpListener`).
#[derive(Debug)]
pub struct TcpListener {
    /// The socket; `None` in a replay, which performs no I/O.
    inner: Option<mio::net::TcpListener>,
    descriptor: Descriptor,
    local: SocketAddr,
}

impl TcpListener {
    /// Binds a listener to the first of `addresses` that works. Port 0 asks the OS for a
    /// free port; [`TcpListener::local_addr`] says which (recorded, so a replay sees it).
    #[track_caller]
    pub fn bind<A: ToSocketAddrs>(addresses: A) -> io::Result<TcpListener> {
        let location = Location::caller();
        each_address(addresses, location, |address| {
            let descriptor = Descriptor::new();
            let mut inner = None;
            let value = descriptor.operate(
                IoOp::Open,
                IoAsk::NONE.to_addr(&address),
                0,
                None,
                location,
                |io| {
                    let listener = match registered(
                        io,
                        descriptor.object,
                        mio::net::TcpListener::bind(address),
                    ) {
                        Ok(listener) => listener,
                        Err(value) => return value,
                    };
                    let local = listener.local_addr();
                    inner = Some(listener);
                    IoValue::of(local, IoValue::Addr)
                },
            )?;
            match value {
                IoValue::Addr(local) => Ok(TcpListener {
                    inner: inner.take(),
                    descriptor,
                    local,
                }),
                other => Err(unexpected(&other)),
            }
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// Accepts a connection: waits (the other green threads run) until one comes.
    #[track_caller]
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
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
                        IoValue::Addr(peer)
                    }
                    Err(error) => IoValue::error(&error),
                }
            },
        )?;
        let IoValue::Addr(peer) = value else {
            return Err(unexpected(&value));
        };
        let descriptor = Descriptor::new();
        if let Some(stream) = &mut accepted {
            let local = stream.local_addr();
            execution::io_register_accepted(stream, descriptor.object, local, peer)?;
        }
        Ok((TcpStream::new(accepted, descriptor, peer), peer))
    }

    /// An iterator over the connections as they come (`accept` in a loop); it never ends.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }
}

/// The connections of a [`TcpListener`], from [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    #[track_caller]
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

/// A TCP connection (std's `TcpStream`).
#[derive(Debug)]
pub struct TcpStream {
    /// The socket; `None` in a replay, which performs no I/O.
    inner: Option<mio::net::TcpStream>,
    descriptor: Descriptor,
    peer: SocketAddr,
    read_timeout: Timeout,
    write_timeout: Timeout,
    ahead: ReadAhead,
}

impl TcpStream {
    fn new(
        inner: Option<mio::net::TcpStream>,
        descriptor: Descriptor,
        peer: SocketAddr,
    ) -> TcpStream {
        TcpStream {
            inner,
            descriptor,
            peer,
            read_timeout: Timeout::new(),
            write_timeout: Timeout::new(),
            ahead: ReadAhead::default(),
        }
    }

    /// Connects to the first of `addresses` that accepts: waits (the other green threads
    /// run) until the connection is made or refused.
    #[track_caller]
    pub fn connect<A: ToSocketAddrs>(addresses: A) -> io::Result<TcpStream> {
        let location = Location::caller();
        each_address(addresses, location, |address| {
            connect_one(address, location)
        })
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }

    /// The address of this end (a step: the OS chose it).
    #[track_caller]
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let value = self.control(Location::caller(), |stream| {
            IoValue::of(stream.local_addr(), IoValue::Addr)
        })?;
        match value {
            IoValue::Addr(local) => Ok(local),
            other => Err(unexpected(&other)),
        }
    }

    /// Shuts down the reading, the writing or both halves of the connection.
    #[track_caller]
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.control(Location::caller(), |stream| {
            IoValue::of(stream.shutdown(how), |()| IoValue::Done)
        })
        .map(drop)
    }

    /// Sets `TCP_NODELAY`.
    #[track_caller]
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.control(Location::caller(), |stream| {
            IoValue::of(stream.set_nodelay(nodelay), |()| IoValue::Done)
        })
        .map(drop)
    }

    /// Sets how long a read waits before it fails with `WouldBlock` (`None`: forever). A
    /// zero duration is an error, as with std. The wait is a timed wait of the runtime:
    /// under exploration its clock is virtual.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout.set(timeout)
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.read_timeout.get())
    }

    /// Sets how long a write waits before it fails with `WouldBlock` (`None`: forever).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.write_timeout.set(timeout)
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.write_timeout.get())
    }

    /// A control operation on the socket: one step.
    fn control(
        &self,
        location: &'static Location<'static>,
        mut f: impl FnMut(&mio::net::TcpStream) -> IoValue,
    ) -> io::Result<IoValue> {
        self.descriptor
            .control(location, || self.inner.as_ref().map(&mut f))
    }

    fn read_at(
        &self,
        buffer: &mut [u8],
        location: &'static Location<'static>,
    ) -> io::Result<usize> {
        let timeout = self.read_timeout.get();
        let fd = self.inner.as_ref().map(AsRawFd::as_raw_fd);
        let object = self.descriptor.object;
        stream_read(
            self.descriptor,
            buffer,
            timeout,
            location,
            |io, bytes| match fd {
                Some(fd) => self.ahead.read(io, object, fd, bytes),
                None => no_descriptor(),
            },
        )
    }

    fn write_at(&self, buffer: &[u8], location: &'static Location<'static>) -> io::Result<usize> {
        let timeout = self.write_timeout.get();
        stream_write(self.descriptor, buffer, timeout, location, |bytes| {
            let stream = self.inner.as_ref()?;
            Some(sys::send(stream.as_raw_fd(), bytes))
        })
    }
}

/// Bytes the program left unread reset the connection when it closes, as the kernel does
/// for bytes in its own queue: here they may be in the stream's spill instead. And the
/// execution forgets the stream's pairing.
impl Drop for TcpStream {
    fn drop(&mut self) {
        if let Some(stream) = &self.inner {
            if self.ahead.holds_bytes() {
                sys::reset_on_close(stream.as_raw_fd());
            }
            execution::io_forget(self.descriptor.object, self.descriptor.generation);
        }
    }
}

/// One connection attempt (rule: a step that starts it, a wait, a step that finds how it
/// ended).
fn connect_one(address: SocketAddr, location: &'static Location<'static>) -> io::Result<TcpStream> {
    let descriptor = Descriptor::new();
    let mut inner: Option<mio::net::TcpStream> = None;
    let value = descriptor.operate(
        IoOp::Connect,
        IoAsk::NONE.to_addr(&address),
        interest::WRITE,
        None,
        location,
        |io| {
            let Some(stream) = &inner else {
                let stream = match registered(
                    io,
                    descriptor.object,
                    mio::net::TcpStream::connect(address),
                ) {
                    Ok(stream) => stream,
                    Err(value) => return value,
                };
                inner = Some(stream);
                return IoValue::WouldBlock; // Under way: the socket says when it is writable.
            };
            match stream.take_error() {
                Ok(Some(error)) | Err(error) => return IoValue::error(&error),
                Ok(None) => {}
            }
            match stream.peer_addr() {
                Ok(peer) => {
                    io.connected(descriptor.object, stream.local_addr(), peer);
                    IoValue::Addr(peer)
                }
                Err(error)
                    if error.kind() == io::ErrorKind::NotConnected
                        || error.raw_os_error() == Some(libc::EINPROGRESS) =>
                {
                    IoValue::WouldBlock
                }
                Err(error) => IoValue::error(&error),
            }
        },
    )?;
    match value {
        IoValue::Addr(peer) => Ok(TcpStream::new(inner, descriptor, peer)),
        other => Err(unexpected(&other)),
    }
}

stream_read_write!(TcpStream);
