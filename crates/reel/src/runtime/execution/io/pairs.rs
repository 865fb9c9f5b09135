//! TCP connections whose two ends are both streams of the execution (rule 3 of the parent
//! module): paired when the second end is made, by their local and peer addresses, so that
//! a write to one end notes the other readable without asking the driver.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::runtime::vocabulary::ObjectId;

/// The execution's TCP streams, paired or waiting for their other end.
#[derive(Default)]
pub(super) struct Pairs {
    /// The streams whose other end is not known to be in the execution, by their (local,
    /// peer) addresses, and those addresses by stream (object index).
    endpoints: HashMap<(SocketAddr, SocketAddr), ObjectId>,
    unpaired: HashMap<usize, (SocketAddr, SocketAddr)>,
    /// The other end of each stream (by object index) whose two ends are both streams of
    /// the execution.
    peers: Vec<Option<ObjectId>>,
}

impl Pairs {
    /// Stream `object`, connected from `local` to `peer`: when the other end is a stream of
    /// the execution too, the two are paired.
    pub(super) fn connected(&mut self, object: ObjectId, local: SocketAddr, peer: SocketAddr) {
        // One end of a connection to a dual-stack listener sees IPv4-mapped addresses.
        let (local, peer) = (unmapped(local), unmapped(peer));
        match self.endpoints.remove(&(peer, local)) {
            Some(other) => {
                self.unpaired.remove(&other.index());
                let most = object.index().max(other.index());
                if self.peers.len() <= most {
                    self.peers.resize(most + 1, None);
                }
                self.peers[object.index()] = Some(other);
                self.peers[other.index()] = Some(object);
            }
            None => {
                // A stream of these addresses that is gone is forgotten (`forget`); one
                // still here is replaced: it no longer pairs.
                if let Some(earlier) = self.endpoints.insert((local, peer), object) {
                    self.unpaired.remove(&earlier.index());
                }
                self.unpaired.insert(object.index(), (local, peer));
            }
        }
    }

    /// Stream `object` is closed: it pairs no more.
    pub(super) fn forget(&mut self, object: ObjectId) {
        if let Some(addresses) = self.unpaired.remove(&object.index()) {
            self.endpoints.remove(&addresses);
        }
        if let Some(other) = self.peers.get_mut(object.index()).and_then(Option::take)
            && let Some(back) = self.peers.get_mut(other.index())
        {
            *back = None;
        }
    }

    /// The other end of stream `object`, when it is paired.
    #[inline]
    pub(super) fn other_end(&self, object: ObjectId) -> Option<ObjectId> {
        self.peers.get(object.index()).copied().flatten()
    }
}

/// The address `address` names, an IPv4-mapped IPv6 one as IPv4.
fn unmapped(address: SocketAddr) -> SocketAddr {
    match address {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => address,
        },
        SocketAddr::V4(_) => address,
    }
}
