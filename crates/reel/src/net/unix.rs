//! Unix-domain stream sockets: [`UnixListener`] and [`UnixStream`], with the signatures of
//! `std::os::unix::net`'s.
//!
//! Addresses are recorded as paths (empty for an unnamed socket). A replay gives an unnamed
//! address back as std makes one, from a socket bound to nothing: the one thing a replay
//! asks of the OS here, and no I/O.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::SocketAddr;
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Caller, Descriptor, Timeout, no_descriptor, stream_read, stream_write, unexpected};
use crate::runtime::execution;
use crate::runtime::io::{IoAsk, IoValue, interest};
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
                let mut listener = match mio::net::UnixListener::bind(&path) {
                    Ok(listener) => listener,
                    Err(error) => return IoValue::error(&error),
                };
                let registered = io
                    .driver()
                    .and_then(|driver| driver.register(&mut listener, descriptor.object));
                if let Err(error) = registered {
                    return IoValue::error(&error);
                }
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
                    let mut stream = match mio::net::UnixStream::connect(&path) {
                        Ok(stream) => stream,
                        Err(error) => return IoValue::error(&error),
                    };
                    let registered = io
                        .driver()
                        .and_then(|driver| driver.register(&mut stream, descriptor.object));
                    if let Err(error) = registered {
                        return IoValue::error(&error);
                    }
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
        self.address(Location::caller(), |stream| stream.local_addr())
    }

    /// The address of the other end (a step).
    #[track_caller]
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.address(Location::caller(), |stream| stream.peer_addr())
    }

    fn address(
        &self,
        location: Caller,
        address: impl Fn(&mio::net::UnixStream) -> io::Result<SocketAddr>,
    ) -> io::Result<SocketAddr> {
        let value = self.descriptor.operate(
            IoOp::Control,
            IoAsk::NONE,
            0,
            None,
            location,
            |_| match &self.inner {
                Some(stream) => match address(stream) {
                    Ok(address) => address_value(&address),
                    Err(error) => IoValue::error(&error),
                },
                None => no_descriptor(),
            },
        )?;
        address_of(&value)
    }

    /// Shuts down the reading, the writing or both halves of the connection.
    #[track_caller]
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.descriptor
            .operate(
                IoOp::Control,
                IoAsk::NONE,
                0,
                None,
                Location::caller(),
                |_| match &self.inner {
                    Some(stream) => IoValue::of(stream.shutdown(how), |()| IoValue::Done),
                    None => no_descriptor(),
                },
            )
            .map(drop)
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
        stream_read(self.descriptor, buffer, timeout, location, |bytes| {
            let mut stream = self.inner.as_ref()?;
            Some(stream.read(bytes))
        })
    }

    fn write_at(&self, buffer: &[u8], location: Caller) -> io::Result<usize> {
        let timeout = self.write_timeout.get();
        stream_write(self.descriptor, buffer, timeout, location, |bytes| {
            let mut stream = self.inner.as_ref()?;
            Some(stream.write(bytes))
        })
    }
}

stream_read_write!(UnixStream);
