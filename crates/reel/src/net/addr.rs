//! [`ToSocketAddrs`]: std's trait of things that name socket addresses, whose host names
//! reel resolves on a helper thread (a recorded helper job) instead of the runtime's kernel
//! thread.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::panic::Location;
use std::sync::{Arc, Mutex, PoisonError};

use crate::runtime::io::{IoValue, MAX_IO_ADDRS};
use crate::runtime::vocabulary::IoOp;

/// What an address argument names: addresses, or a host to look up (`host:port`).
#[derive(Debug)]
#[doc(hidden)]
pub enum Target {
    /// Addresses, no lookup needed.
    Addresses(Vec<SocketAddr>),
    /// A host name and port to resolve.
    Host(String, u16),
}

/// Things that name one or more socket addresses, as std's `ToSocketAddrs`, implemented for
/// the same types. [`ToSocketAddrs::to_socket_addrs`] resolves host names on a helper thread.
pub trait ToSocketAddrs {
    /// What the argument names, without resolving anything.
    #[doc(hidden)]
    fn target(&self) -> io::Result<Target>;

    /// The addresses named, resolving a host name on a helper thread (inside a reel
    /// runtime: a recorded step).
    #[track_caller]
    fn to_socket_addrs(&self) -> io::Result<std::vec::IntoIter<SocketAddr>> {
        resolve(self, Location::caller()).map(Vec::into_iter)
    }
}

/// Resolves `addresses`: a host name on a helper thread, with its result recorded.
pub(crate) fn resolve<A: ToSocketAddrs + ?Sized>(
    addresses: &A,
    location: &'static Location<'static>,
) -> io::Result<Vec<SocketAddr>> {
    let (host, port) = match addresses.target()? {
        Target::Addresses(addresses) => return Ok(addresses),
        Target::Host(host, port) => (host, port),
    };
    let slot: Arc<Mutex<Option<io::Result<Vec<SocketAddr>>>>> = Arc::new(Mutex::new(None));
    let job_slot = Arc::clone(&slot);
    let mut job = Some(move || {
        let resolved = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
            .map(|addresses| addresses.take(MAX_IO_ADDRS).collect());
        *job_slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(resolved);
    });
    let value = crate::task::run_job(IoOp::Resolve, location, &mut job, false, || {
        match slot.lock().unwrap_or_else(PoisonError::into_inner).take() {
            Some(Ok(addresses)) => IoValue::Addrs(addresses),
            Some(Err(error)) => IoValue::error(&error),
            None => IoValue::Error(0, "the resolution left no result".to_owned()),
        }
    });
    match value {
        IoValue::Addrs(addresses) => Ok(addresses),
        other => Err(other
            .as_error()
            .unwrap_or_else(|| super::unexpected(&other))),
    }
}

impl ToSocketAddrs for SocketAddr {
    fn target(&self) -> io::Result<Target> {
        Ok(Target::Addresses(vec![*self]))
    }
}

impl ToSocketAddrs for SocketAddrV4 {
    fn target(&self) -> io::Result<Target> {
        SocketAddr::V4(*self).target()
    }
}

impl ToSocketAddrs for SocketAddrV6 {
    fn target(&self) -> io::Result<Target> {
        SocketAddr::V6(*self).target()
    }
}

impl ToSocketAddrs for (IpAddr, u16) {
    fn target(&self) -> io::Result<Target> {
        SocketAddr::new(self.0, self.1).target()
    }
}

impl ToSocketAddrs for (Ipv4Addr, u16) {
    fn target(&self) -> io::Result<Target> {
        SocketAddr::new(IpAddr::V4(self.0), self.1).target()
    }
}

impl ToSocketAddrs for (Ipv6Addr, u16) {
    fn target(&self) -> io::Result<Target> {
        SocketAddr::new(IpAddr::V6(self.0), self.1).target()
    }
}

impl ToSocketAddrs for (&str, u16) {
    fn target(&self) -> io::Result<Target> {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, self.1).target(),
            Err(_) => Ok(Target::Host(self.0.to_owned(), self.1)),
        }
    }
}

impl ToSocketAddrs for (String, u16) {
    fn target(&self) -> io::Result<Target> {
        (self.0.as_str(), self.1).target()
    }
}

impl ToSocketAddrs for str {
    fn target(&self) -> io::Result<Target> {
        if let Ok(address) = self.parse::<SocketAddr>() {
            return address.target();
        }
        let (host, port) = self
            .rsplit_once(':')
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "invalid socket address"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "invalid port value"))?;
        (host, port).target()
    }
}

impl ToSocketAddrs for String {
    fn target(&self) -> io::Result<Target> {
        self.as_str().target()
    }
}

impl ToSocketAddrs for [SocketAddr] {
    fn target(&self) -> io::Result<Target> {
        Ok(Target::Addresses(self.to_vec()))
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn target(&self) -> io::Result<Target> {
        (**self).target()
    }
}
