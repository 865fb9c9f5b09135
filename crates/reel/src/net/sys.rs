//! The stream sockets' reads and writes as plain system calls, made through `syscall(2)`
//! rather than glibc's `read`, `write` and `send` wrappers: those are pthread cancellation
//! points, and each switches the thread's cancellation state around the call with two
//! atomic operations. Green threads are never cancelled that way, and a loopback round
//! trip makes four of these calls, so the wrappers' work was a measurable share of it.
//! Each call does what std's does (a TCP write sends with `MSG_NOSIGNAL`, as std's does).
//! Also the reset of a TCP stream closed with bytes left in its spill.

use std::io;
use std::os::fd::RawFd;

/// The result of a raw system call that returns a count or -1 with `errno` set.
fn count(result: libc::c_long) -> io::Result<usize> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result as usize)
    }
}

/// read(2) of `fd` into `buffer`.
pub(super) fn read(fd: RawFd, buffer: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `buffer.len()` bytes at `buffer`'s address, which
    // is valid for writes of that many bytes for the call's duration (it is borrowed
    // mutably); a descriptor that is not open is an error (EBADF), not undefined behaviour.
    count(unsafe { libc::syscall(libc::SYS_read, fd, buffer.as_mut_ptr(), buffer.len()) })
}

/// readv(2) of `fd` into `first`, then `second`.
pub(super) fn read_two(fd: RawFd, first: &mut [u8], second: &mut [u8]) -> io::Result<usize> {
    let vectors = [
        libc::iovec {
            iov_base: first.as_mut_ptr().cast(),
            iov_len: first.len(),
        },
        libc::iovec {
            iov_base: second.as_mut_ptr().cast(),
            iov_len: second.len(),
        },
    ];
    // SAFETY: each vector describes a live slice, valid for writes of its length for the
    // call's duration (the slices are borrowed mutably, so nothing else touches them), and
    // `vectors` outlives the call.
    count(unsafe { libc::syscall(libc::SYS_readv, fd, vectors.as_ptr(), vectors.len()) })
}

/// write(2) of `buffer` to `fd`.
pub(super) fn write(fd: RawFd, buffer: &[u8]) -> io::Result<usize> {
    // SAFETY: the kernel reads at most `buffer.len()` bytes at `buffer`'s address, which is
    // valid for reads of that many bytes for the call's duration.
    count(unsafe { libc::syscall(libc::SYS_write, fd, buffer.as_ptr(), buffer.len()) })
}

/// send(2) of `buffer` on the connected socket `fd`, with `MSG_NOSIGNAL` (a closed peer is
/// EPIPE, never SIGPIPE), as std's `TcpStream::write`.
pub(super) fn send(fd: RawFd, buffer: &[u8]) -> io::Result<usize> {
    // SAFETY: as in `write`; a null address of length 0 is sendto's form of send.
    count(unsafe {
        libc::syscall(
            libc::SYS_sendto,
            fd,
            buffer.as_ptr(),
            buffer.len(),
            libc::MSG_NOSIGNAL,
            std::ptr::null::<libc::sockaddr>(),
            0 as libc::socklen_t,
        )
    })
}

/// Makes the close of socket `fd` reset the connection (`SO_LINGER` on, 0 seconds), as a
/// close with bytes left unread in the kernel's queue does; best effort, as a close is.
pub(super) fn reset_on_close(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `linger` is a valid `struct linger` that outlives the call, and its size is
    // the length passed; a descriptor that is not a socket is an error, not undefined
    // behaviour.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}
