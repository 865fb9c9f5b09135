//! UDP: [`UdpSocket`], with std's signatures.

use std::io;
use std::net::SocketAddr;
use std::panic::Location;
use std::sync::Mutex;

use super::{
    Descriptor, ToSocketAddrs, addr, each_address, no_descriptor, registered, unexpected,
    write_step,
};
use crate::runtime::io::{IoAsk, IoValue, MAX_DATAGRAM_BYTES, interest};
use crate::runtime::vocabulary::IoOp;

/// A UDP socket (std's `UdpSocket`).
#[derive(Debug)]
pub struct UdpSocket {
    /// The socket; `None` in a replay, which performs no I/O.
    inner: Option<mio::net::UdpSocket>,
    descriptor: Descriptor,
    local: SocketAddr,
    peer: Mutex<Option<SocketAddr>>,
}

impl UdpSocket {
    /// Binds a socket to the first of `addresses` that works (port 0: the OS picks one).
    #[track_caller]
    pub fn bind<A: ToSocketAddrs>(addresses: A) -> io::Result<UdpSocket> {
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
                    let socket =
                        match registered(io, descriptor.object, mio::net::UdpSocket::bind(address))
                        {
                            Ok(socket) => socket,
                            Err(value) => return value,
                        };
                    let local = socket.local_addr();
                    inner = Some(socket);
                    IoValue::of(local, IoValue::Addr)
                },
            )?;
            match value {
                IoValue::Addr(local) => Ok(UdpSocket {
                    inner: inner.take(),
                    descriptor,
                    local,
                    peer: Mutex::new(None),
                }),
                other => Err(unexpected(&other)),
            }
        })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// The address [`UdpSocket::connect`] connected it to.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.peer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOTCONN))
    }

    /// Sends `buffer` to the first of `addresses`; returns the bytes sent.
    #[track_caller]
    pub fn send_to<A: ToSocketAddrs>(&self, buffer: &[u8], addresses: A) -> io::Result<usize> {
        let location = Location::caller();
        let target = addr::resolve(&addresses, location)?
            .into_iter()
            .next()
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to")
            })?;
        self.send_with(buffer, Some(target), location, |socket| {
            socket.send_to(buffer, target)
        })
    }

    /// Receives a datagram into `buffer` (at most 64 KiB of it, a datagram's most); returns
    /// the bytes received and the sender.
    #[track_caller]
    pub fn recv_from(&self, buffer: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let asked = buffer.len().min(MAX_DATAGRAM_BYTES);
        let value = self.receive(asked, Location::caller(), true)?;
        match value {
            IoValue::BytesFrom(bytes, from) if bytes.len() <= asked => {
                buffer[..bytes.len()].copy_from_slice(&bytes);
                Ok((bytes.len(), from))
            }
            other => Err(unexpected(&other)),
        }
    }

    /// Connects the socket to the first of `addresses` that works: `send` and `recv` then
    /// talk to it only.
    #[track_caller]
    pub fn connect<A: ToSocketAddrs>(&self, addresses: A) -> io::Result<()> {
        let location = Location::caller();
        each_address(addresses, location, |address| {
            self.descriptor.operate(
                IoOp::Connect,
                IoAsk::NONE.to_addr(&address),
                0,
                None,
                location,
                |_| match &self.inner {
                    Some(socket) => IoValue::of(socket.connect(address), |()| IoValue::Done),
                    None => no_descriptor(),
                },
            )?;
            *self
                .peer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(address);
            Ok(())
        })
    }

    /// Sends `buffer` to the connected peer; returns the bytes sent.
    #[track_caller]
    pub fn send(&self, buffer: &[u8]) -> io::Result<usize> {
        self.send_with(buffer, None, Location::caller(), |socket| {
            socket.send(buffer)
        })
    }

    /// Receives a datagram from the connected peer into `buffer`.
    #[track_caller]
    pub fn recv(&self, buffer: &mut [u8]) -> io::Result<usize> {
        let asked = buffer.len().min(MAX_DATAGRAM_BYTES);
        match self.receive(asked, Location::caller(), false)? {
            IoValue::Bytes(bytes) if bytes.len() <= asked => {
                buffer[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            }
            other => Err(unexpected(&other)),
        }
    }

    fn send_with(
        &self,
        buffer: &[u8],
        target: Option<SocketAddr>,
        location: &'static Location<'static>,
        mut send: impl FnMut(&mio::net::UdpSocket) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let ask = match target {
            Some(target) => IoAsk::write(buffer).to_addr(&target),
            None => IoAsk::write(buffer),
        };
        write_step(self.descriptor, buffer, ask, None, location, || {
            self.inner.as_ref().map(&mut send)
        })
    }

    fn receive(
        &self,
        asked: usize,
        location: &'static Location<'static>,
        with_sender: bool,
    ) -> io::Result<IoValue> {
        self.descriptor.operate(
            IoOp::Read,
            IoAsk::read(asked),
            interest::READ,
            None,
            location,
            |_| {
                let Some(socket) = &self.inner else {
                    return no_descriptor();
                };
                let mut bytes = vec![0; asked];
                if with_sender {
                    match socket.recv_from(&mut bytes) {
                        Ok((received, from)) => {
                            bytes.truncate(received);
                            IoValue::BytesFrom(bytes, from)
                        }
                        Err(error) => IoValue::error(&error),
                    }
                } else {
                    match socket.recv(&mut bytes) {
                        Ok(received) => {
                            bytes.truncate(received);
                            IoValue::Bytes(bytes)
                        }
                        Err(error) => IoValue::error(&error),
                    }
                }
            },
        )
    }
}
