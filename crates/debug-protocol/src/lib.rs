//! The messages between the `reel debug` REPL and the debug agent inside a replaying
//! program, and the framed, fd-passing channel they travel on.
//!
//! The debugger starts the program in replay mode with one end of a socketpair whose number
//! is in [`DEBUG_FD_ENV`]. The agent greets with [`Reply::Hello`] while paused at step 0,
//! then answers one [`Request`] at a time. A process is *paused at step N* when step N has
//! begun (its thread reached the scheduling point and it matched the trace) and its
//! operation has not happened yet; step 0 is before the program's first step.
//!
//! Checkpoints are forked copies of a paused program. Each has a channel of its own, whose
//! other end travels to the debugger with the reply ([`Reply::Checkpoint`]) as an
//! `SCM_RIGHTS` message; a checkpoint answers only [`Request::Resume`] (fork a copy that runs,
//! whose channel comes back with [`Reply::Resumed`]) and [`Request::Quit`].
//!
//! Frames are a little-endian `u32` length and that many bytes of postcard; a length above
//! [`MAX_MESSAGE_BYTES`] is an error before anything is allocated.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use serde::{Deserialize, Serialize};

/// The environment variable naming the agent's end of the channel: `<descriptor>:<inode>`
/// (the inode tells it from another socket under the same number in a process the program
/// started).
pub const DEBUG_FD_ENV: &str = "REEL_DEBUG_FD";

/// Bumped whenever a message changes shape; the two sides must agree.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest frame either side accepts.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// What the debugger asks of a paused program (or of a checkpoint).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Run forward until paused at step `until` (or until the replay ends, a panic when
    /// `stop_on_panic`, or [`Request::Interrupt`]). At each step in `checkpoints` on the way,
    /// fork a checkpoint and send [`Reply::Checkpoint`] before going on.
    Run {
        /// The step to pause at.
        until: u64,
        /// Pause where a green thread panics (in the panic hook, before it unwinds).
        stop_on_panic: bool,
        /// Steps at which to take checkpoints on the way, ascending.
        checkpoints: Vec<u64>,
    },
    /// Stop a running [`Request::Run`] at the next step.
    Interrupt,
    /// Every green thread's state.
    Threads,
    /// A green thread's backtrace, suspended ones included.
    Backtrace {
        /// The thread id (0 is main).
        thread: u32,
    },
    /// The machine code around a green thread's current instruction in the program's code.
    Code {
        /// The thread id.
        thread: u32,
    },
    /// The locks: holders, waiters, and a wait-for cycle.
    Locks,
    /// Fork a checkpoint here.
    Checkpoint,
    /// (To a checkpoint.) Fork a copy that continues from here.
    Resume,
    /// End the process.
    Quit,
    /// Let the program go on by itself (at the end of the replay: it finishes as it would
    /// without the debugger, printing its report and exiting with its status).
    Detach,
}

/// What the program answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The first message of a new process (the program at step 0, or a resumed copy).
    Hello {
        /// [`PROTOCOL_VERSION`] of the agent.
        version: u32,
        /// The process id.
        pid: u32,
        /// How many kernel threads it has: a checkpoint (a `fork()`) copies only the one
        /// that replays, so others (a test harness's main thread) are not in the copies.
        kernel_threads: u32,
        /// Where it is paused.
        stop: Stop,
    },
    /// A [`Request::Run`] ended.
    Stopped(Stop),
    /// Answer to [`Request::Threads`].
    Threads(Vec<ThreadView>),
    /// Answer to [`Request::Backtrace`]: frames, innermost first.
    Backtrace(Vec<Frame>),
    /// Answer to [`Request::Code`].
    Code(CodeView),
    /// Answer to [`Request::Locks`].
    Locks(LocksView),
    /// A checkpoint was forked; its channel is attached.
    Checkpoint {
        /// The checkpoint's process id.
        pid: u32,
        /// The step it is paused at.
        step: u64,
    },
    /// (From a checkpoint.) A copy was forked; its channel is attached, and it greets on it.
    Resumed {
        /// The copy's process id.
        pid: u32,
    },
    /// The request could not be answered here; the program stays paused.
    Error(String),
}

/// Where and why a program is paused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    /// The step it is paused at (0: before the first step). After the end, the last step.
    pub step: u64,
    /// Why it stopped.
    pub reason: StopReason,
}

/// Why a program stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    /// At the start, or at a checkpoint.
    Start,
    /// It reached the step it was asked to run to.
    Reached,
    /// The debugger interrupted the run.
    Interrupted,
    /// A green thread is panicking (paused in the panic hook, before unwinding).
    Panic {
        /// The panicking thread.
        thread: u32,
        /// The panic message.
        message: String,
        /// Where it panicked.
        location: Option<String>,
    },
    /// The replay ended.
    Finished(Finish),
}

/// How a replay ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finish {
    /// Against the trace.
    pub verdict: Verdict,
    /// The failure the replay reproduced (or ran into), as the runtime reports it.
    pub failure: Option<String>,
    /// Notes: moved locations and the like.
    pub notes: Vec<String>,
}

/// A replay's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Every step and the outcome matched the recording.
    Reproduced,
    /// The program left the trace.
    Diverged {
        /// The step at which it did.
        step: u64,
        /// What the trace has there.
        expected: String,
        /// What the program did.
        actual: String,
    },
    /// The trace (cut short) ended and the replay followed all of it.
    EndOfTrace,
}

/// One green thread, as `info threads` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadView {
    /// The thread id (0 is main).
    pub id: u32,
    /// Its name.
    pub name: Option<String>,
    /// What it is doing.
    pub state: ThreadState,
    /// Where it is: the location of its latest step (or where it was spawned).
    pub location: Option<String>,
}

/// A green thread's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThreadState {
    /// It is taking the current step.
    Running,
    /// It could run.
    Runnable,
    /// It waits.
    Blocked {
        /// What for, e.g. `lock Mutex#2 (held by T1)`.
        on: String,
        /// Whether the wait has a deadline.
        timed: bool,
    },
    /// Spawned, not yet run.
    NotStarted,
    /// Its body returned (or it panicked).
    Finished,
}

/// One frame of a backtrace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// The instruction address (a return address for every frame but a trap's innermost).
    pub ip: u64,
    /// The demangled function name, when symbols were found.
    pub function: Option<String>,
    /// The source file, when line tables were found.
    pub file: Option<String>,
    /// The line.
    pub line: Option<u32>,
}

/// Machine code around a thread's current instruction in the program's code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeView {
    /// The thread.
    pub thread: u32,
    /// The frame the code is from (the innermost frame of the program's own code).
    pub frame: Frame,
    /// The address of `bytes[0]`.
    pub base: u64,
    /// The code, read from the program's memory.
    pub bytes: Vec<u8>,
    /// The target architecture (`std::env::consts::ARCH`).
    pub arch: String,
}

/// One lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockView {
    /// Its object id.
    pub object: u32,
    /// `Mutex#2`, `RwLock#4`.
    pub name: String,
    /// The threads holding it (a writer or mutex holder, or the readers).
    pub holders: Vec<u32>,
    /// Whether the holders are readers.
    pub shared: bool,
    /// Where the holder locked it, when known.
    pub held_at: Option<String>,
    /// The threads waiting for it, in arrival order.
    pub waiters: Vec<u32>,
    /// Poisoned by a panic.
    pub poisoned: bool,
}

/// The locks and the wait-for graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocksView {
    /// Every lock that has been used.
    pub locks: Vec<LockView>,
    /// A wait-for cycle among the threads, if there is one, in order.
    pub cycle: Vec<u32>,
}

/// A framed, fd-passing message channel over a Unix stream socket.
pub struct Channel {
    stream: UnixStream,
    /// Descriptors received with bytes not yet handed out.
    received_fds: Vec<OwnedFd>,
}

impl Channel {
    /// A channel over a connected Unix stream socket.
    pub fn new(stream: UnixStream) -> Channel {
        Channel {
            stream,
            received_fds: Vec::new(),
        }
    }

    /// A connected pair, both ends close-on-exec.
    pub fn pair() -> io::Result<(Channel, Channel)> {
        let (a, b) = UnixStream::pair()?;
        Ok((Channel::new(a), Channel::new(b)))
    }

    /// The socket.
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// Gives the socket back.
    pub fn into_stream(self) -> UnixStream {
        self.stream
    }

    /// Sends `message`, with `fd` attached if given.
    pub fn send<T: Serialize>(
        &mut self,
        message: &T,
        fd: Option<BorrowedFd<'_>>,
    ) -> io::Result<()> {
        let body = postcard::to_allocvec(message)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error.to_string()))?;
        if body.len() > MAX_MESSAGE_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a message of {} bytes is above the limit", body.len()),
            ));
        }
        let mut frame = Vec::with_capacity(4 + body.len());
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&body);
        let mut sent = match fd {
            Some(fd) => send_with_fd(self.stream.as_raw_fd(), &frame, fd.as_raw_fd())?,
            None => 0,
        };
        while sent < frame.len() {
            let rest = &frame[sent..];
            // SAFETY: `rest` is a live buffer of `rest.len()` bytes. MSG_NOSIGNAL: a closed
            // peer is an EPIPE error here, not a SIGPIPE that ends the process.
            let written = unsafe {
                libc::send(
                    self.stream.as_raw_fd(),
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if written < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            sent += written as usize;
        }
        Ok(())
    }

    /// Receives one message, and the descriptor that came with it, if any. End of file before
    /// a frame begins is `UnexpectedEof`.
    pub fn recv<T: for<'de> Deserialize<'de>>(&mut self) -> io::Result<(T, Option<OwnedFd>)> {
        let mut length = [0u8; 4];
        self.read_exact(&mut length)?;
        let length = u32::from_le_bytes(length) as usize;
        if length > MAX_MESSAGE_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a frame claims {length} bytes, above the limit of {MAX_MESSAGE_BYTES}"),
            ));
        }
        let mut body = vec![0u8; length];
        self.read_exact(&mut body)?;
        let message = postcard::from_bytes(&body)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error.to_string()))?;
        let fd = (!self.received_fds.is_empty()).then(|| self.received_fds.remove(0));
        Ok((message, fd))
    }

    /// Whether bytes (or the peer's end) are waiting to be read, without blocking.
    pub fn readable_now(&self) -> bool {
        let mut poll = libc::pollfd {
            fd: self.stream.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, a zero timeout.
        let ready = unsafe { libc::poll(&mut poll, 1, 0) };
        ready > 0
    }

    fn read_exact(&mut self, buffer: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while filled < buffer.len() {
            let read = recv_with_fds(
                self.stream.as_raw_fd(),
                &mut buffer[filled..],
                &mut self.received_fds,
            )?;
            if read == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the other side closed the channel",
                ));
            }
            filled += read;
        }
        Ok(())
    }
}

impl Read for Channel {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        recv_with_fds(self.stream.as_raw_fd(), buffer, &mut self.received_fds)
    }
}

/// Room for one `SCM_RIGHTS` control message carrying up to four descriptors.
const CONTROL_BYTES: usize = 64;

/// Sends the start of `bytes` with `fd` attached; returns how many bytes went.
fn send_with_fd(socket: RawFd, bytes: &[u8], fd: RawFd) -> io::Result<usize> {
    let mut control = [0u64; CONTROL_BYTES / 8];
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: an all-zero msghdr is a valid empty one; its pointers are set below.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    header.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    header.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<RawFd>() as u32) } as usize;
    // SAFETY: the control buffer is aligned (u64s) and at least CMSG_SPACE(one fd) bytes, so
    // the first header and its data fit in it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&header);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
    }
    loop {
        // SAFETY: `header` points at the live iovec and control buffer above.
        let sent = unsafe { libc::sendmsg(socket, &header, libc::MSG_NOSIGNAL) };
        if sent >= 0 {
            return Ok(sent as usize);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Reads into `buffer`, keeping any descriptors that arrive (close-on-exec).
fn recv_with_fds(socket: RawFd, buffer: &mut [u8], fds: &mut Vec<OwnedFd>) -> io::Result<usize> {
    let mut control = [0u64; CONTROL_BYTES / 8];
    let mut iov = libc::iovec {
        iov_base: buffer.as_mut_ptr().cast(),
        iov_len: buffer.len(),
    };
    // SAFETY: an all-zero msghdr is a valid empty one; its pointers are set below.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = CONTROL_BYTES;
    let read = loop {
        // SAFETY: `header` points at the live iovec (over `buffer`) and control buffer.
        let read = unsafe { libc::recvmsg(socket, &mut header, libc::MSG_CMSG_CLOEXEC) };
        if read >= 0 {
            break read as usize;
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    };
    // SAFETY: the kernel filled the control buffer and set msg_controllen; the CMSG macros
    // walk it within those bounds, and SCM_RIGHTS data is an array of descriptors that are
    // now ours.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&header);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg);
                let count = ((*cmsg).cmsg_len - libc::CMSG_LEN(0) as usize) / size_of::<RawFd>();
                for index in 0..count {
                    let fd = std::ptr::read_unaligned(data.cast::<RawFd>().add(index));
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&header, cmsg);
        }
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn messages_and_descriptors_cross() {
        let (mut a, mut b) = Channel::pair().unwrap();
        let (extra, _keep) = UnixStream::pair().unwrap();
        let reply = Reply::Checkpoint { pid: 7, step: 42 };
        a.send(&reply, Some(extra.as_fd_borrowed())).unwrap();
        a.send(&Request::Threads, None).unwrap();
        let (got, fd) = b.recv::<Reply>().unwrap();
        assert_eq!(got, reply);
        assert!(fd.is_some());
        let (got, fd) = b.recv::<Request>().unwrap();
        assert_eq!(got, Request::Threads);
        assert!(fd.is_none());
    }

    #[test]
    fn an_oversized_frame_is_refused() {
        let (a, mut b) = Channel::pair().unwrap();
        (&a.stream).write_all(&u32::MAX.to_le_bytes()).unwrap();
        let error = b.recv::<Reply>().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn end_of_file_is_said() {
        let (a, mut b) = Channel::pair().unwrap();
        drop(a);
        let error = b.recv::<Reply>().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }

    trait Borrowed {
        fn as_fd_borrowed(&self) -> BorrowedFd<'_>;
    }
    impl Borrowed for UnixStream {
        fn as_fd_borrowed(&self) -> BorrowedFd<'_> {
            std::os::fd::AsFd::as_fd(self)
        }
    }
}
