//! [`File`], [`OpenOptions`] and [`Metadata`]: each operation one recorded step, run on the
//! io_uring where the kernel has its operation, else on a helper thread.

use std::ffi::CString;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::panic::Location;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use super::{Caller, Descriptor, ring_value, unexpected};
use crate::runtime::io::uring::{RingOp, statx_of};
use crate::runtime::io::{IoAsk, IoValue, MAX_IO_BYTES};
use crate::runtime::vocabulary::IoOp;
use crate::task::RingValue;

/// An open file (std's `File`). Reads, writes and seeks go through the OS's file position,
/// as std's do; `read_at` and `write_at` ([`std::os::unix::fs::FileExt`]) do not move it.
#[derive(Debug)]
pub struct File {
    /// The file; `None` in a replay, which performs no I/O.
    inner: Option<Arc<std::fs::File>>,
    descriptor: Descriptor,
}

/// How to open a file (std's `OpenOptions`).
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
}

/// The permission bits a created file asks for (the umask takes its share), as std's.
const CREATE_MODE: u32 = 0o666;

impl OpenOptions {
    /// Options with every flag off.
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }

    /// Opens for reading.
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.read = read;
        self
    }

    /// Opens for writing.
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.write = write;
        self
    }

    /// Opens for appending.
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.append = append;
        self
    }

    /// Truncates the file to 0 bytes.
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.truncate = truncate;
        self
    }

    /// Creates the file if it does not exist.
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.create = create;
        self
    }

    /// Creates the file, failing if it exists.
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.create_new = create_new;
        self
    }

    /// Opens the file at `path` with these options (a step).
    #[track_caller]
    pub fn open<P: AsRef<Path>>(&self, path: P) -> io::Result<File> {
        self.open_at(path.as_ref(), Location::caller())
    }

    /// These options as std's.
    fn std_options(&self) -> std::fs::OpenOptions {
        let mut options = std::fs::OpenOptions::new();
        options
            .read(self.read)
            .write(self.write)
            .append(self.append)
            .truncate(self.truncate)
            .create(self.create)
            .create_new(self.create_new);
        options
    }

    /// The open(2) flags std opens with for these options; `None` for a combination std
    /// refuses (no access mode; creating or truncating without write access; truncating an
    /// append without `create_new`), whose error std itself then gives.
    fn flags(&self) -> Option<i32> {
        let access = match (self.read, self.write, self.append) {
            (true, false, false) => libc::O_RDONLY,
            (false, true, false) => libc::O_WRONLY,
            (true, true, false) => libc::O_RDWR,
            (false, _, true) => libc::O_WRONLY | libc::O_APPEND,
            (true, _, true) => libc::O_RDWR | libc::O_APPEND,
            (false, false, false) => return None,
        };
        if !self.write && !self.append && (self.truncate || self.create || self.create_new) {
            return None;
        }
        if self.append && self.truncate && !self.create_new {
            return None;
        }
        let creation = match (self.create, self.truncate, self.create_new) {
            (false, false, false) => 0,
            (true, false, false) => libc::O_CREAT,
            (false, true, false) => libc::O_TRUNC,
            (true, true, false) => libc::O_CREAT | libc::O_TRUNC,
            (_, _, true) => libc::O_CREAT | libc::O_EXCL,
        };
        Some(libc::O_CLOEXEC | access | creation)
    }

    fn open_at(&self, path: &Path, location: Caller) -> io::Result<File> {
        let descriptor = Descriptor::new();
        let opened: Arc<Mutex<Option<std::fs::File>>> = Arc::default();
        let ask = IoAsk::NONE.to_path(path);
        // On the ring where std's flags are known and the path is one open(2) takes; else
        // (and where the kernel's io_uring cannot open) std opens it on a helper thread.
        let ring = self.flags().zip(c_path(path)).map(|(flags, c_path)| {
            let slot = Arc::clone(&opened);
            let op = RingOp::Open {
                path: c_path,
                flags,
                mode: CREATE_MODE,
            };
            let value: RingValue = Box::new(move |result, _| {
                ring_value(result, |fd| {
                    // SAFETY: the ring's open made this descriptor and gives it to this
                    // completion alone: the File is its only owner.
                    let file = unsafe { std::fs::File::from_raw_fd(fd) };
                    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(file);
                    IoValue::Done
                })
            });
            (op, value)
        });
        let (options, path, slot) = (self.std_options(), path.to_owned(), Arc::clone(&opened));
        let value =
            descriptor.run_on_ring(IoOp::Open, ask, location, ring, move || {
                match options.open(path) {
                    Ok(file) => {
                        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(file);
                        IoValue::Done
                    }
                    Err(error) => IoValue::error(&error),
                }
            })?;
        if value != IoValue::Done {
            return Err(unexpected(&value));
        }
        let inner = opened
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .map(Arc::new);
        Ok(File { inner, descriptor })
    }
}

/// `path` as the kernel takes it; `None` when it holds a zero byte (std then gives its
/// error from a helper thread).
pub(super) fn c_path(path: &Path) -> Option<CString> {
    CString::new(path.as_os_str().as_bytes()).ok()
}

/// A file's metadata, as recorded (std's `Metadata` cannot be made from a trace).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    len: u64,
    kind: u8,
    mode: u32,
}

/// Metadata kinds.
const KIND_FILE: u8 = 0;
const KIND_DIR: u8 = 1;
const KIND_SYMLINK: u8 = 2;
const KIND_OTHER: u8 = 3;

impl Metadata {
    /// The size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the size is 0.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether it is a regular file.
    pub fn is_file(&self) -> bool {
        self.kind == KIND_FILE
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == KIND_DIR
    }

    /// Whether it is a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.kind == KIND_SYMLINK
    }

    /// The permission bits and file type (`st_mode`).
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// Whether no one may write it (no write bit set).
    pub fn readonly(&self) -> bool {
        self.mode & 0o222 == 0
    }

    /// A step that reads metadata, on the ring as `ring`'s statx where it can, else by `job`
    /// on a helper thread; the result is recorded as 13 bytes either way.
    pub(super) fn recorded(
        descriptor: Descriptor,
        ask: IoAsk<'_>,
        location: Caller,
        ring: Option<RingOp>,
        job: impl FnOnce() -> io::Result<std::fs::Metadata> + Send + 'static,
    ) -> io::Result<Metadata> {
        let ring = ring.map(|op| {
            let value: RingValue = Box::new(|result, bytes| {
                ring_value(result, |_| match statx_of(&bytes) {
                    Some(status) => Metadata::value(status.stx_size, u32::from(status.stx_mode)),
                    None => IoValue::Error(0, "reel: a statx gave no status".to_owned()),
                })
            });
            (op, value)
        });
        let value = descriptor.run_on_ring(IoOp::Control, ask, location, ring, move || {
            IoValue::of(job(), |metadata| {
                use std::os::unix::fs::MetadataExt;
                Metadata::value(metadata.len(), metadata.mode())
            })
        })?;
        match &value {
            IoValue::Value(bytes) if bytes.len() == 13 => Ok(Metadata {
                len: u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")),
                kind: bytes[8],
                mode: u32::from_le_bytes(bytes[9..].try_into().expect("4 bytes")),
            }),
            _ => Err(unexpected(&value)),
        }
    }

    /// The recorded value of metadata: the length (8 bytes), the kind (from the file type
    /// bits of `mode`, 1 byte) and `mode` (`st_mode`, 4 bytes), little-endian.
    fn value(len: u64, mode: u32) -> IoValue {
        let kind = match mode & libc::S_IFMT {
            libc::S_IFREG => KIND_FILE,
            libc::S_IFDIR => KIND_DIR,
            libc::S_IFLNK => KIND_SYMLINK,
            _ => KIND_OTHER,
        };
        let mut bytes = len.to_le_bytes().to_vec();
        bytes.push(kind);
        bytes.extend_from_slice(&mode.to_le_bytes());
        IoValue::Value(bytes)
    }
}

impl File {
    /// Opens the file at `path` for reading.
    #[track_caller]
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<File> {
        File::open_at(path.as_ref(), Location::caller())
    }

    pub(super) fn open_at(path: &Path, location: Caller) -> io::Result<File> {
        OpenOptions::new().read(true).open_at(path, location)
    }

    /// Creates the file at `path` for writing, truncating it if it exists.
    #[track_caller]
    pub fn create<P: AsRef<Path>>(path: P) -> io::Result<File> {
        File::create_at(path.as_ref(), Location::caller())
    }

    pub(super) fn create_at(path: &Path, location: Caller) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open_at(path, location)
    }

    /// Options to open a file with.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// The file's metadata.
    #[track_caller]
    pub fn metadata(&self) -> io::Result<Metadata> {
        let file = self.inner.clone();
        let ring = file.clone().map(|file| RingOp::Stat {
            file: Some(file),
            path: CString::default(),
        });
        Metadata::recorded(
            self.descriptor,
            IoAsk::NONE,
            Location::caller(),
            ring,
            move || match file {
                Some(file) => file.metadata(),
                None => Err(io::Error::from_raw_os_error(libc::EBADF)),
            },
        )
    }

    /// Flushes the file's data and metadata to the device.
    #[track_caller]
    pub fn sync_all(&self) -> io::Result<()> {
        self.sync(false, Location::caller())
    }

    /// Flushes the file's data to the device.
    #[track_caller]
    pub fn sync_data(&self) -> io::Result<()> {
        self.sync(true, Location::caller())
    }

    fn sync(&self, data_only: bool, location: Caller) -> io::Result<()> {
        self.ring_control(
            location,
            |file| RingOp::Sync { file, data_only },
            move |file| {
                if data_only {
                    file.sync_data()
                } else {
                    file.sync_all()
                }
            },
        )
    }

    /// Truncates or extends the file to `size` bytes.
    #[track_caller]
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        self.ring_control(
            Location::caller(),
            |file| RingOp::Truncate { file, len: size },
            move |file| file.set_len(size),
        )
    }

    /// An operation on the file that gives nothing back (a sync, a truncation): `ring`'s
    /// operation on the io_uring where it has it, else `job` on a helper thread; one step.
    fn ring_control(
        &self,
        location: Caller,
        ring: impl FnOnce(Arc<std::fs::File>) -> RingOp,
        job: impl FnOnce(&std::fs::File) -> io::Result<()> + Send + 'static,
    ) -> io::Result<()> {
        let file = self.inner.clone();
        let ring = file
            .clone()
            .map(|file| (ring(file), Box::new(count_of) as RingValue));
        let value =
            self.descriptor
                .run_on_ring(
                    IoOp::Control,
                    IoAsk::NONE,
                    location,
                    ring,
                    move || match file {
                        Some(file) => IoValue::of(job(&file), |()| IoValue::Count(0)),
                        None => IoValue::Error(libc::EBADF, String::new()),
                    },
                )?;
        match value {
            IoValue::Count(_) => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// A control operation on the file: one step, whose result is a count.
    fn control(
        &self,
        location: Caller,
        job: impl FnOnce(&std::fs::File) -> io::Result<u64> + Send + 'static,
    ) -> io::Result<u64> {
        let file = self.inner.clone();
        let value =
            self.descriptor
                .run(IoOp::Control, IoAsk::NONE, location, move || match file {
                    Some(file) => IoValue::of(job(&file), IoValue::Count),
                    None => IoValue::Error(libc::EBADF, String::new()),
                })?;
        match value {
            IoValue::Count(count) => Ok(count),
            other => Err(unexpected(&other)),
        }
    }

    /// Reads into `buffer` at `offset`, or at the file's position (`None`).
    fn read_at_position(
        &self,
        buffer: &mut [u8],
        offset: Option<u64>,
        location: Caller,
    ) -> io::Result<usize> {
        if buffer.is_empty() {
            return Ok(0);
        }
        let asked = buffer.len().min(MAX_IO_BYTES);
        let file = self.inner.clone();
        let ring = file.clone().map(|file| {
            let op = RingOp::Read {
                file,
                len: asked,
                offset,
            };
            (op, Box::new(bytes_of) as RingValue)
        });
        let value = self.descriptor.run_on_ring(
            IoOp::Read,
            IoAsk::read(asked),
            location,
            ring,
            move || {
                let Some(file) = file else {
                    return IoValue::Error(libc::EBADF, String::new());
                };
                let mut bytes = vec![0; asked];
                let read = match offset {
                    Some(offset) => std::os::unix::fs::FileExt::read_at(&*file, &mut bytes, offset),
                    None => (&*file).read(&mut bytes),
                };
                IoValue::of(read, |read| {
                    bytes.truncate(read);
                    IoValue::Bytes(bytes)
                })
            },
        )?;
        match value {
            IoValue::Bytes(bytes) if bytes.len() <= asked => {
                buffer[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            }
            other => Err(unexpected(&other)),
        }
    }

    /// Writes `buffer` at `offset`, or at the file's position (`None`).
    pub(super) fn write_at_position(
        &self,
        buffer: &[u8],
        offset: Option<u64>,
        location: Caller,
    ) -> io::Result<usize> {
        if buffer.is_empty() {
            return Ok(0);
        }
        let file = self.inner.clone();
        let bytes = buffer.to_vec();
        let ring = file.clone().map(|file| {
            let op = RingOp::Write {
                file,
                bytes: bytes.clone(),
                offset,
            };
            (op, Box::new(count_of) as RingValue)
        });
        let value = self.descriptor.run_on_ring(
            IoOp::Write,
            IoAsk::write(buffer),
            location,
            ring,
            move || {
                let Some(file) = file else {
                    return IoValue::Error(libc::EBADF, String::new());
                };
                let written = match offset {
                    Some(offset) => std::os::unix::fs::FileExt::write_at(&*file, &bytes, offset),
                    None => (&*file).write(&bytes),
                };
                IoValue::of(written, |written| IoValue::Count(written as u64))
            },
        )?;
        match value {
            IoValue::Count(written) if written as usize <= buffer.len() => Ok(written as usize),
            other => Err(unexpected(&other)),
        }
    }

    /// Reads to the end, each read a step.
    pub(super) fn read_to_end_at(
        &mut self,
        bytes: &mut Vec<u8>,
        location: Caller,
    ) -> io::Result<usize> {
        let start = bytes.len();
        let mut buffer = vec![0; MAX_IO_BYTES];
        loop {
            match self.read_at_position(&mut buffer, None, location)? {
                0 => return Ok(bytes.len() - start),
                read => bytes.extend_from_slice(&buffer[..read]),
            }
        }
    }

    fn seek_at(&self, position: SeekFrom, location: Caller) -> io::Result<u64> {
        self.control(location, move |mut file| file.seek(position))
    }
}

/// The value of a ring's read: its bytes, or its error.
fn bytes_of(result: i32, bytes: Vec<u8>) -> IoValue {
    ring_value(result, |_| IoValue::Bytes(bytes))
}

/// The value of a ring's write or sync: its count, or its error.
fn count_of(result: i32, _bytes: Vec<u8>) -> IoValue {
    ring_value(result, |count| IoValue::Count(count as u64))
}

impl Read for File {
    #[track_caller]
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        self.read_at_position(buffer, None, Location::caller())
    }
}

impl Read for &File {
    #[track_caller]
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        self.read_at_position(buffer, None, Location::caller())
    }
}

impl Write for File {
    #[track_caller]
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        self.write_at_position(buffer, None, Location::caller())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &File {
    #[track_caller]
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        self.write_at_position(buffer, None, Location::caller())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for File {
    #[track_caller]
    fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        self.seek_at(position, Location::caller())
    }
}

impl Seek for &File {
    #[track_caller]
    fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        self.seek_at(position, Location::caller())
    }
}

impl std::os::unix::fs::FileExt for File {
    #[track_caller]
    fn read_at(&self, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
        self.read_at_position(buffer, Some(offset), Location::caller())
    }

    #[track_caller]
    fn write_at(&self, buffer: &[u8], offset: u64) -> io::Result<usize> {
        self.write_at_position(buffer, Some(offset), Location::caller())
    }
}
