//! The file position after a read or write at it on io_uring: where read(2) and write(2)
//! would have left it. A short transfer of a regular file is continued by the kernel's
//! io_uring, and when the continuation fails (a write past RLIMIT_FSIZE: EFBIG, or ENOSPC)
//! the completion reports the bytes moved but the position is not advanced; the ring reads
//! the position before such an operation ([`position`]) and puts it right after a short one
//! ([`fix_position`]).

use std::os::fd::AsRawFd;

/// The file position of `file` (`None` for a file without one, a pipe); an lseek(2) that
/// only reads the position, so it never blocks.
pub(super) fn position(file: &std::fs::File) -> Option<i64> {
    // SAFETY: `file` is open for the call; SEEK_CUR with offset 0 moves nothing.
    let start = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_CUR) };
    (start >= 0).then_some(start)
}

/// Puts the file position where read(2) or write(2) would have left it, after a read or
/// write at the position (which started at `start` and asked `asked` bytes) that moved
/// `result` bytes: after those bytes (an append's, at the end of the file). A position that
/// moved (the kernel advanced it, or another operation did meanwhile) is left alone.
pub(super) fn fix_position(file: &std::fs::File, start: i64, asked: usize, result: i32) {
    let Ok(moved) = usize::try_from(result) else {
        return; // An error: the position stays, as with read(2) and write(2).
    };
    if moved == 0 || moved >= asked || position(file) != Some(start) {
        return;
    }
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is open (held by `file`) for these calls, which only read its flags and
    // set its position.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 && flags & libc::O_APPEND != 0 {
            libc::lseek(fd, 0, libc::SEEK_END);
        } else {
            libc::lseek(fd, start + moved as i64, libc::SEEK_SET);
        }
    }
}
