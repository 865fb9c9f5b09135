//! The wait-for graph: which threads a blocked thread definitely waits for, the search for
//! a cycle through it (a deadlock), and how reports describe a blocked thread.

use super::super::failure::{BlockedThread, Location};
use super::super::vocabulary::{Blocker, ObjectId};
use super::Execution;
use super::threads::ThreadState;

impl Execution {
    /// The `k`th thread a blocked thread definitely waits for (its wait-for edges). Threads
    /// in a timed wait, on a condvar, a channel or a park have no definite edge: someone
    /// else may still wake them.
    fn wait_edge(&self, thread: usize, k: usize) -> Option<usize> {
        let ThreadState::Blocked {
            on, deadline: None, ..
        } = self.threads[thread].state
        else {
            return None;
        };
        match on {
            Blocker::Lock(object) | Blocker::Once(object) => {
                if k == 0 {
                    self.objects[object].owner
                } else {
                    None
                }
            }
            Blocker::ReadLock(object) => {
                // A reader waits for the writer holding the lock and for waiting writers,
                // which go first.
                let state = &self.objects[object];
                let waiting_writers = state.waiters.iter().copied().filter(|&waiter| {
                    matches!(
                        self.threads[waiter].state,
                        ThreadState::Blocked { on: Blocker::WriteLock(on), .. } if on == object
                    )
                });
                state.owner.into_iter().chain(waiting_writers).nth(k)
            }
            Blocker::WriteLock(object) => {
                let state = &self.objects[object];
                match (state.owner, k) {
                    (Some(owner), 0) => Some(owner),
                    (Some(_), k) => state.readers.get(k - 1).copied(),
                    (None, k) => state.readers.get(k).copied(),
                }
            }
            Blocker::Join(target) => (k == 0).then_some(target.index()),
            Blocker::Condvar(_)
            | Blocker::Recv(_)
            | Blocker::Send(_)
            | Blocker::Barrier(_)
            | Blocker::Park
            | Blocker::Sleep
            | Blocker::Signal(_) => None,
            Blocker::Io(_) => None,
        }
    }

    /// A wait-for cycle through `start`, as the list of threads in order, if there is one.
    /// Runs at every block, so the common case (the thread waited for can run) allocates
    /// nothing.
    pub(crate) fn find_cycle(&self, start: usize) -> Option<Vec<usize>> {
        find_cycle(start, self.threads.len(), |thread, k| {
            self.wait_edge(thread, k)
        })
    }

    /// A short description of a blocker, e.g. "lock Mutex#1" or "join T2".
    pub(super) fn describe_blocker(&self, blocker: Blocker) -> String {
        match blocker {
            Blocker::Join(target) => format!("{} {target}", blocker.verb()),
            Blocker::Park | Blocker::Sleep => blocker.verb().to_owned(),
            _ => match blocker.object() {
                Some(object) => format!("{} {}", blocker.verb(), self.object_name(object)),
                None => blocker.verb().to_owned(),
            },
        }
    }

    /// What a blocked thread waits for, as a deadlock report and the debugger say it.
    pub(crate) fn describe_wait(&self, thread: usize) -> BlockedThread {
        let (waiting_for, location) = match self.threads[thread].state {
            ThreadState::Blocked {
                on,
                location,
                deadline,
            } => {
                let mut text = self.describe_waiting_for(thread, on);
                if deadline.is_some() && on != Blocker::Sleep {
                    text.push_str(" (with a timeout)");
                }
                (text, Some(Location::from_std(location)))
            }
            _ => ("run".to_owned(), None),
        };
        BlockedThread {
            thread: self.thread_info(thread),
            waiting_for,
            location,
        }
    }

    fn describe_waiting_for(&self, thread: usize, on: Blocker) -> String {
        let holder = |object: ObjectId| match self.objects[object].owner {
            Some(owner) => {
                let mut text = format!(" held by {}", self.thread_info(owner));
                if let Some(acquired) = self.objects[object].owner_location {
                    text.push_str(&format!(" (acquired at {acquired})"));
                }
                text
            }
            None => String::new(),
        };
        let readers = |object: ObjectId| {
            let readers = &self.objects[object].readers;
            if readers.is_empty() {
                String::new()
            } else {
                let names: Vec<String> = readers
                    .iter()
                    .map(|&reader| self.thread_info(reader).to_string())
                    .collect();
                format!(" read-held by {}", names.join(", "))
            }
        };
        match on {
            Blocker::Lock(object) => {
                format!("lock {}{}", self.object_name(object), holder(object))
            }
            Blocker::ReadLock(object) => {
                let writers: Vec<String> = (0..)
                    .map_while(|k| self.wait_edge(thread, k))
                    .filter(|&waiter| Some(waiter) != self.objects[object].owner)
                    .map(|writer| self.thread_info(writer).to_string())
                    .collect();
                let behind = if writers.is_empty() {
                    String::new()
                } else {
                    format!(" behind waiting writer {}", writers.join(", "))
                };
                format!(
                    "read-lock {}{}{behind}",
                    self.object_name(object),
                    holder(object)
                )
            }
            Blocker::WriteLock(object) => format!(
                "write-lock {}{}{}",
                self.object_name(object),
                holder(object),
                readers(object)
            ),
            Blocker::Condvar(object) => {
                format!("be notified on {}", self.object_name(object))
            }
            Blocker::Join(target) => format!("join {}", self.thread_info(target.index())),
            Blocker::Recv(object) => format!("receive on {}", self.object_name(object)),
            Blocker::Send(object) => format!("send on {}", self.object_name(object)),
            Blocker::Barrier(object) => format!("pass {}", self.object_name(object)),
            Blocker::Signal(object) => {
                format!("receive a signal on {}", self.object_name(object))
            }
            Blocker::Once(object) => {
                format!(
                    "see {} complete{}",
                    self.object_name(object),
                    holder(object)
                )
            }
            Blocker::Io(object) => format!("wait for I/O on {}", self.object_name(object)),
            Blocker::Park => "be unparked".to_owned(),
            Blocker::Sleep => "wake from sleep".to_owned(),
        }
    }
}

/// A cycle through `start` in a wait-for graph of `threads` threads whose `k`th edge out of
/// a thread is `edge(thread, k)` (edges of one thread are numbered from 0 without gaps), as
/// the threads in order from `start`. The common case, a first edge to a thread that waits
/// for nothing, is decided without allocating.
fn find_cycle(
    start: usize,
    threads: usize,
    edge: impl Fn(usize, usize) -> Option<usize>,
) -> Option<Vec<usize>> {
    let stuck = |thread: usize| edge(thread, 0).is_some();
    let leads_on = |target: usize| target == start || stuck(target);
    if !(0..).map_while(|k| edge(start, k)).any(leads_on) {
        return None;
    }
    // Depth-first search: `path` holds (thread, index of its next edge to try).
    let mut path = vec![(start, 0usize)];
    let mut visited = vec![false; threads];
    visited[start] = true;
    while let Some(&mut (thread, ref mut next_edge)) = path.last_mut() {
        match edge(thread, *next_edge) {
            Some(target) => {
                *next_edge += 1;
                if target == start {
                    return Some(path.iter().map(|&(thread, _)| thread).collect());
                }
                if !visited[target] {
                    visited[target] = true;
                    path.push((target, 0));
                }
            }
            None => {
                path.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::find_cycle;

    /// A graph given as each thread's edges.
    fn search(edges: &[&[usize]], start: usize) -> Option<Vec<usize>> {
        find_cycle(start, edges.len(), |thread, k| {
            edges[thread].get(k).copied()
        })
    }

    #[test]
    fn no_edges_no_cycle() {
        assert_eq!(search(&[&[], &[]], 0), None);
    }

    #[test]
    fn a_chain_that_ends_is_no_cycle() {
        // 0 -> 1 -> 2, and 2 waits for nothing.
        assert_eq!(search(&[&[1], &[2], &[]], 0), None);
    }

    #[test]
    fn two_threads_waiting_for_each_other() {
        assert_eq!(search(&[&[1], &[0]], 0), Some(vec![0, 1]));
        assert_eq!(search(&[&[1], &[0]], 1), Some(vec![1, 0]));
    }

    #[test]
    fn a_thread_waiting_for_itself() {
        assert_eq!(search(&[&[0]], 0), Some(vec![0]));
    }

    #[test]
    fn a_cycle_elsewhere_is_not_through_start() {
        // 0 -> 1 -> 2 -> 1: a cycle, but 0 is not on it.
        assert_eq!(search(&[&[1], &[2], &[1]], 0), None);
        assert_eq!(search(&[&[1], &[2], &[1]], 1), Some(vec![1, 2]));
    }

    #[test]
    fn a_long_cycle_is_listed_in_order() {
        // 0 -> 1 -> 2 -> 3 -> 0.
        assert_eq!(search(&[&[1], &[2], &[3], &[0]], 2), Some(vec![2, 3, 0, 1]));
    }

    #[test]
    fn the_search_backtracks_over_dead_ends() {
        // A writer (0) waits for two readers: 1 can run (no edges), 2 waits for 0.
        assert_eq!(search(&[&[1, 2], &[], &[0]], 0), Some(vec![0, 2]));
        // And a dead end deeper down: 0 -> 1 -> {3 (free), 2}, 2 -> 0.
        assert_eq!(search(&[&[1], &[3, 2], &[0], &[]], 0), Some(vec![0, 1, 2]));
    }

    #[test]
    fn shared_targets_are_visited_once() {
        // 0 -> {1, 2}, 1 -> 3, 2 -> 3, 3 -> 4 (free): no cycle, and 3 is searched once.
        assert_eq!(search(&[&[1, 2], &[3], &[3], &[4], &[]], 0), None);
    }
}
