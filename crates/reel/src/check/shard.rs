//! Sharding: `REEL_SHARD=K/N` (or [`Checker::shard`](super::Checker::shard)) gives every
//! exploration's iterations out among N processes, iteration `i` to shard `((i - 1) mod N) + 1`.

use std::fmt;

/// One of N shards of every exploration: iteration `i` (1-based) belongs to shard
/// `((i - 1) mod N) + 1`, so the N shards together run exactly the iterations of one serial
/// exploration, each once. Spelt `K/N`, as REEL_SHARD takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    index: usize,
    count: usize,
}

/// The most shards an exploration may be split into.
pub const MAX_SHARDS: usize = 1 << 20;

impl Shard {
    /// Shard `index` of `count` (1-based: `1 <= index <= count`), or why that is not a shard.
    pub fn new(index: usize, count: usize) -> Result<Shard, String> {
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "{index}/{count} is not a shard: the count N of K/N goes from 1 to {MAX_SHARDS}"
            ));
        }
        if index == 0 || index > count {
            return Err(format!(
                "{index}/{count} is not a shard: K of K/N goes from 1 to N (here 1 to {count})"
            ));
        }
        Ok(Shard { index, count })
    }

    /// Reads `K/N`, as REEL_SHARD holds it.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (index, count) = text.trim().split_once('/').ok_or_else(|| {
            format!("{text:?} is not a shard: write K/N, as 2/4 (the second of four)")
        })?;
        let number = |part: &str| {
            part.trim().parse::<usize>().map_err(|_| {
                format!("{text:?} is not a shard: {part:?} is not a whole number (K/N, as 2/4)")
            })
        };
        Shard::new(number(index)?, number(count)?)
    }

    /// Which shard this is, from 1.
    pub fn index(self) -> usize {
        self.index
    }

    /// How many shards there are.
    pub fn count(self) -> usize {
        self.count
    }

    /// Whether iteration `iteration` (1-based) is this shard's.
    pub fn contains(self, iteration: usize) -> bool {
        iteration >= 1 && (iteration - 1) % self.count == self.index - 1
    }

    /// This shard's iterations among `1..=iterations`, in order.
    pub(crate) fn share(self, iterations: usize) -> Share {
        Share {
            first: self.index,
            stride: self.count,
            len: match iterations.checked_sub(self.index) {
                Some(after) => after / self.count + 1,
                None => 0,
            },
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The iterations one kernel thread or shard runs: `first`, `first + stride`, ...,
/// `len` of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Share {
    pub(crate) first: usize,
    pub(crate) stride: usize,
    pub(crate) len: usize,
}

impl Share {
    /// Every iteration of `1..=iterations`.
    pub(crate) fn all(iterations: usize) -> Share {
        Share {
            first: 1,
            stride: 1,
            len: iterations,
        }
    }

    /// The `position`th iteration (from 0), if the share has one there.
    pub(crate) fn get(self, position: usize) -> Option<usize> {
        if position >= self.len {
            return None;
        }
        position
            .checked_mul(self.stride)
            .and_then(|offset| offset.checked_add(self.first))
    }

    /// The share without its first `count` iterations.
    pub(crate) fn skip(self, count: usize) -> Share {
        let count = count.min(self.len);
        Share {
            first: self.first + count * self.stride,
            stride: self.stride,
            len: self.len - count,
        }
    }
}

/// REEL_SHARD, if set. A malformed value is a usage error.
pub(crate) fn from_env() -> Option<Shard> {
    let text = std::env::var("REEL_SHARD").ok()?;
    match Shard::parse(&text) {
        Ok(shard) => Some(shard),
        Err(error) => panic!("reel: REEL_SHARD={error}; REEL_SHARD=K/N runs shard K of N"),
    }
}

#[cfg(test)]
mod tests {
    use super::{Shard, Share};

    #[test]
    fn shards_partition_the_iterations() {
        for iterations in [0, 1, 2, 7, 100, 101] {
            for count in 1..=5 {
                let mut seen = vec![0; iterations + 1];
                for index in 1..=count {
                    let shard = Shard::new(index, count).unwrap();
                    let share = shard.share(iterations);
                    for position in 0..share.len {
                        let iteration = share.get(position).unwrap();
                        assert!(shard.contains(iteration));
                        seen[iteration] += 1;
                    }
                    assert_eq!(share.get(share.len), None);
                }
                assert!(seen[1..].iter().all(|&times| times == 1), "{seen:?}");
            }
        }
        assert_eq!(Share::all(5).skip(1).get(0), Some(2));
        assert_eq!(Shard::new(2, 3).unwrap().share(usize::MAX).get(1), Some(5));
    }

    #[test]
    fn bad_shards_are_refused() {
        for text in ["3/2", "0/2", "x", "1/0", "1/", "/2", "a/b", "-1/2", "1/2/3"] {
            assert!(Shard::parse(text).is_err(), "{text}");
        }
        assert_eq!(Shard::parse(" 2/4 ").unwrap().to_string(), "2/4");
    }
}
