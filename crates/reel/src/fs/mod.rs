//! Files with std's signatures: [`File`], [`OpenOptions`], [`Metadata`], [`ReadDir`] and
//! [`read`], [`read_to_string`], [`write()`], [`rename`], [`remove_file`], [`create_dir`],
//! [`create_dir_all`], [`read_dir`], [`metadata`].
//!
//! No file operation blocks the runtime's kernel thread: each is submitted to the runtime's
//! io_uring or runs on a helper thread (the runtime's bounded pool) while the calling green
//! thread waits and the others run. On io_uring go opens, reads, writes, syncs, metadata
//! (statx), renames, removals, `create_dir` and `set_len`, each where the kernel's io_uring
//! has the operation (the ring is probed when it is made); on the helper threads go the rest
//! (seeks, `read_dir`, `create_dir_all`), and everything where io_uring is
//! unavailable or turned off ([`backend`]). Every operation is a step on its file's object
//! whose result is recorded (the bytes read, the counts written, positions, metadata,
//! directory entries, errors with their errno), the same whichever path ran it, so a replay
//! performs none of it: a replay of a run that wrote and read files works with the files
//! deleted. A read takes at most 8 KiB in one step, as any read may.
//!
//! ```
//! use std::io::{Read, Write};
//!
//! let path = std::env::temp_dir().join(format!("reel-fs-doc-{}", std::process::id()));
//! let text = reel::run(|| {
//!     reel::fs::write(&path, b"written by a green thread").unwrap();
//!     let text = reel::fs::read_to_string(&path).unwrap();
//!     reel::fs::remove_file(&path).unwrap();
//!     text
//! });
//! assert_eq!(text, "written by a green thread");
//! ```

mod file;

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::panic::Location;
use std::path::{Path, PathBuf};

pub use file::{File, Metadata, OpenOptions};

/// Which path file operations take in a runtime started now: `"io_uring"` where the kernel
/// allows it and it is not turned off (REEL_IO_URING=0, `Runtime::io_uring(false)`), else
/// `"helper threads"`. Either way each operation is a step with a recorded result, so a
/// trace replays whichever path recorded it.
pub fn backend() -> &'static str {
    crate::runtime::io::uring::backend()
}

use crate::runtime::execution::{self, ObjectId};
use crate::runtime::io::uring::RingOp;
use crate::runtime::io::{IoAsk, IoValue, MAX_IO_BYTES};
use crate::runtime::vocabulary::{IoOp, ObjectKind};
use crate::task::RingValue;

type Caller = &'static Location<'static>;

/// A file's (or a path operation's) identity in the execution.
#[derive(Clone, Copy, Debug)]
struct Descriptor {
    object: ObjectId,
    generation: u64,
}

impl Descriptor {
    fn new() -> Descriptor {
        let (object, generation) = execution::io_object(ObjectKind::File);
        Descriptor { object, generation }
    }

    /// Runs `job` on a helper thread as one operation: its value, or its error.
    fn run(
        self,
        op: IoOp,
        ask: IoAsk<'_>,
        location: Caller,
        job: impl FnOnce() -> IoValue + Send + 'static,
    ) -> io::Result<IoValue> {
        self.run_on_ring(op, ask, location, None, job)
    }

    /// Runs one operation: on the io_uring as `ring` where there is one, else `job` on a
    /// helper thread.
    fn run_on_ring(
        self,
        op: IoOp,
        ask: IoAsk<'_>,
        location: Caller,
        ring: Option<(RingOp, RingValue)>,
        job: impl FnOnce() -> IoValue + Send + 'static,
    ) -> io::Result<IoValue> {
        let value =
            crate::task::run_on_helper(op, self.object, self.generation, ask, location, ring, job);
        match value.as_error() {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }
}

/// The error of a result that does not fit its operation.
fn unexpected(value: &IoValue) -> io::Error {
    io::Error::other(format!(
        "reel: a file operation gave an unexpected result ({})",
        value.describe()
    ))
}

/// A path operation: one step on a new object, `Done` or an error; on the ring as `ring`
/// where it can, else by `job` on a helper thread.
fn path_operation(
    ask: IoAsk<'_>,
    location: Caller,
    ring: Option<RingOp>,
    job: impl FnOnce() -> io::Result<()> + Send + 'static,
) -> io::Result<()> {
    let ring = ring.map(|op| (op, Box::new(done_of) as RingValue));
    let value = Descriptor::new().run_on_ring(IoOp::Control, ask, location, ring, move || {
        IoValue::of(job(), |()| IoValue::Done)
    })?;
    match value {
        IoValue::Done => Ok(()),
        other => Err(unexpected(&other)),
    }
}

/// The value of a ring's completion `result`: its error (a negative errno), else what `ok`
/// makes of it.
fn ring_value(result: i32, ok: impl FnOnce(i32) -> IoValue) -> IoValue {
    if result < 0 {
        IoValue::Error(-result, String::new())
    } else {
        ok(result)
    }
}

/// The value of a ring's path operation: done, or its error.
fn done_of(result: i32, _bytes: Vec<u8>) -> IoValue {
    ring_value(result, |_| IoValue::Done)
}

/// Reads the whole file at `path`.
#[track_caller]
pub fn read<P: AsRef<Path>>(path: P) -> io::Result<Vec<u8>> {
    let mut file = File::open_at(path.as_ref(), Location::caller())?;
    let mut bytes = Vec::new();
    file.read_to_end_at(&mut bytes, Location::caller())?;
    Ok(bytes)
}

/// Reads the whole file at `path` as UTF-8.
#[track_caller]
pub fn read_to_string<P: AsRef<Path>>(path: P) -> io::Result<String> {
    let bytes = read(path)?;
    String::from_utf8(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// Writes `contents` to the file at `path`, creating it or replacing what it held.
#[track_caller]
pub fn write<P: AsRef<Path>, C: AsRef<[u8]>>(path: P, contents: C) -> io::Result<()> {
    let location = Location::caller();
    let file = File::create_at(path.as_ref(), location)?;
    let mut contents = contents.as_ref();
    while !contents.is_empty() {
        match file.write_at_position(contents, None, location)? {
            0 => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            written => contents = &contents[written..],
        }
    }
    Ok(())
}

/// Renames `from` to `to`, replacing `to` if it exists.
#[track_caller]
pub fn rename<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<()> {
    let (from, to) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    // Both paths, apart by a zero byte (which no path holds).
    let mut both = from.as_os_str().as_bytes().to_vec();
    both.push(0);
    both.extend_from_slice(to.as_os_str().as_bytes());
    let ask = IoAsk::NONE.to_target(&both);
    let ring = file::c_path(&from)
        .zip(file::c_path(&to))
        .map(|(from, to)| RingOp::Rename { from, to });
    path_operation(ask, Location::caller(), ring, move || {
        std::fs::rename(from, to)
    })
}

/// Removes the file at `path`.
#[track_caller]
pub fn remove_file<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let ring = file::c_path(&path).map(|path| RingOp::Unlink { path });
    path_operation(
        IoAsk::NONE.to_path(&path),
        Location::caller(),
        ring,
        move || std::fs::remove_file(path),
    )
}

/// Creates the directory at `path` (its parent must exist).
#[track_caller]
pub fn create_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    // std's mode for a new directory (the umask takes its share).
    let ring = file::c_path(&path).map(|path| RingOp::MkDir { path, mode: 0o777 });
    path_operation(
        IoAsk::NONE.to_path(&path),
        Location::caller(),
        ring,
        move || std::fs::create_dir(path),
    )
}

/// Creates the directory at `path` and any of its parents that are missing (one step, on a
/// helper thread: std's walk up and down the path is several system calls).
#[track_caller]
pub fn create_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    path_operation(
        IoAsk::NONE.to_path(&path),
        Location::caller(),
        None,
        move || std::fs::create_dir_all(path),
    )
}

/// The metadata of the file at `path` (following symbolic links).
#[track_caller]
pub fn metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    let path = path.as_ref().to_owned();
    let ring = file::c_path(&path).map(|c_path| RingOp::Stat {
        file: None,
        path: c_path,
    });
    Metadata::recorded(
        Descriptor::new(),
        IoAsk::NONE.to_path(&path),
        Location::caller(),
        ring,
        move || std::fs::metadata(path),
    )
}

/// The entries of the directory at `path`, in the order the OS gives them (recorded, so a
/// replay gives the same order).
#[track_caller]
pub fn read_dir<P: AsRef<Path>>(path: P) -> io::Result<ReadDir> {
    let location = Location::caller();
    let path = path.as_ref().to_owned();
    let descriptor = Descriptor::new();
    let listed = path.clone();
    // One step lists the directory: the names, each ended by a zero byte.
    let value = descriptor.run(
        IoOp::Read,
        IoAsk::NONE.to_path(&path),
        location,
        move || {
            let entries = match std::fs::read_dir(&listed) {
                Ok(entries) => entries,
                Err(error) => return IoValue::error(&error),
            };
            let mut names = Vec::new();
            for entry in entries {
                match entry {
                    Ok(entry) => {
                        let name = entry.file_name();
                        if names.len() + name.len() + 1 > MAX_IO_BYTES {
                            return IoValue::Error(
                                0,
                                format!(
                                    "reel records directory listings of up to {MAX_IO_BYTES} bytes \
                                 of names; {} has more",
                                    listed.display()
                                ),
                            );
                        }
                        names.extend_from_slice(name.as_bytes());
                        names.push(0);
                    }
                    Err(error) => return IoValue::error(&error),
                }
            }
            IoValue::Value(names)
        },
    )?;
    let IoValue::Value(names) = value else {
        return Err(unexpected(&value));
    };
    use std::os::unix::ffi::OsStringExt;
    let entries: Vec<DirEntry> = names
        .split(|&byte| byte == 0)
        .filter(|name| !name.is_empty())
        .map(|name| {
            let name = OsString::from_vec(name.to_vec());
            DirEntry {
                path: path.join(&name),
                name,
            }
        })
        .collect();
    Ok(ReadDir {
        entries: entries.into_iter(),
    })
}

/// The entries of a directory, from [`read_dir`].
#[derive(Debug)]
pub struct ReadDir {
    entries: std::vec::IntoIter<DirEntry>,
}

impl Iterator for ReadDir {
    type Item = io::Result<DirEntry>;

    fn next(&mut self) -> Option<io::Result<DirEntry>> {
        self.entries.next().map(Ok)
    }
}

/// An entry of a directory.
#[derive(Clone, Debug)]
pub struct DirEntry {
    path: PathBuf,
    name: OsString,
}

impl DirEntry {
    /// The entry's full path (the directory's path joined with its name).
    pub fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The entry's name.
    pub fn file_name(&self) -> OsString {
        self.name.clone()
    }

    /// The entry's metadata (a step).
    #[track_caller]
    pub fn metadata(&self) -> io::Result<Metadata> {
        metadata(&self.path)
    }
}
