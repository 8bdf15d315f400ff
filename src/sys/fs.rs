//! Files and directories: /proc files kept open and re-read with pread, whole-file reads (one
//! read-to-EOF loop), readlink, fstat, and directories walked with getdents64 (one entry
//! walker). Every descriptor opened here is an `OwnedFd`, closed when dropped.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{byte_count, SysResult};
use crate::error::last_errno;

/// open(2) / openat(2) of a NUL-terminated `path` (relative to `dir` when given).
fn open_at(dir: Option<&DirFd>, path: &[u8], flags: libc::c_int) -> SysResult<OwnedFd> {
    if path.last() != Some(&0) {
        return Err(libc::EINVAL);
    }
    let fd = match dir {
        // SAFETY: path is NUL-terminated (checked above) and lives for the call.
        None => unsafe { libc::open(path.as_ptr().cast(), flags | libc::O_CLOEXEC) },
        // SAFETY: dir is open for the call; path is NUL-terminated (checked above).
        Some(d) => unsafe { libc::openat(d.raw(), path.as_ptr().cast(), flags | libc::O_CLOEXEC) },
    };
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: fd was just opened and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn c_path(path: &[u8]) -> SysResult<Vec<u8>> {
    CString::new(path)
        .map(CString::into_bytes_with_nul)
        .map_err(|_| libc::EINVAL)
}

/// One read(2) into `buf`, retried on EINTR.
fn read_some(fd: &OwnedFd, buf: &mut [std::mem::MaybeUninit<u8>]) -> SysResult<usize> {
    loop {
        // SAFETY: fd is open; buf is writable for buf.len() bytes (read only writes into it).
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        match byte_count(n) {
            Err(libc::EINTR) => continue,
            r => return r,
        }
    }
}

/// The one read-to-EOF loop: reads `fd` into `buf` until EOF or `buf` is full; the count.
fn read_full(fd: &OwnedFd, buf: &mut [std::mem::MaybeUninit<u8>]) -> SysResult<usize> {
    let mut total = 0;
    while total < buf.len() {
        let n = read_some(fd, &mut buf[total..])?;
        if n == 0 {
            break;
        }
        total += n;
    }
    Ok(total)
}

/// Reads `fd` to EOF into `buf`, growing it as needed.
fn read_to_end(fd: &OwnedFd, buf: &mut Vec<u8>) -> SysResult<()> {
    loop {
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(buf.capacity().max(4096));
        }
        let spare = buf.spare_capacity_mut();
        let room = spare.len();
        let n = read_full(fd, spare)?;
        let len = buf.len() + n;
        // SAFETY: read() initialised n more bytes right after the current length.
        unsafe { buf.set_len(len) };
        if n < room {
            return Ok(());
        }
    }
}

/// A file that stays open and is re-read from offset 0 with `pread`: the cheap way to sample
/// /proc files that the kernel regenerates on every read.
pub struct ProcFile {
    fd: OwnedFd,
}

impl ProcFile {
    pub fn open(path: &str) -> SysResult<ProcFile> {
        let fd = open_at(None, &c_path(path.as_bytes())?, libc::O_RDONLY)?;
        Ok(ProcFile { fd })
    }

    /// Reads the whole file (up to buf.len() bytes) from offset 0.
    pub fn read(&self, buf: &mut [u8]) -> SysResult<usize> {
        // SAFETY: fd is owned by self and open; buf is a valid writable region of buf.len() bytes.
        let n = unsafe { libc::pread(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        byte_count(n)
    }
}

/// Reads a file in one go into `buf` (open, read until EOF or full, close). Returns bytes read.
pub fn read_file_into(path: &[u8], buf: &mut [u8]) -> SysResult<usize> {
    let fd = open_at(None, &c_path(path)?, libc::O_RDONLY)?;
    // SAFETY: u8 and MaybeUninit<u8> have the same layout, and the slice stays initialised:
    // read() only writes bytes into it.
    let buf = unsafe {
        std::slice::from_raw_parts_mut(
            buf.as_mut_ptr().cast::<std::mem::MaybeUninit<u8>>(),
            buf.len(),
        )
    };
    read_full(&fd, buf)
}

/// Reads the whole file `name` (NUL-terminated) in `dir` into `buf` (cleared first, grown as
/// needed): openat, read until EOF, close.
pub fn read_file_at(dir: &DirFd, name: &[u8], buf: &mut Vec<u8>) -> SysResult<()> {
    buf.clear();
    let fd = open_at(Some(dir), name, libc::O_RDONLY)?;
    read_to_end(&fd, buf)
}

/// readlink(2) into a String (lossy for non-UTF-8 bytes).
pub fn readlink(path: &[u8]) -> SysResult<String> {
    let c = c_path(path)?;
    let mut buf = [0u8; 4096];
    // SAFETY: c is NUL-terminated; buf is a writable region of buf.len() bytes.
    let n = unsafe { libc::readlink(c.as_ptr().cast(), buf.as_mut_ptr().cast(), buf.len()) };
    let n = byte_count(n)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// readlinkat(2) of `name` (NUL-terminated) relative to an open directory, into `buf`.
/// Returns the length of the target (truncated at buf.len()).
pub fn readlinkat(dir: &DirFd, name: &[u8], buf: &mut [u8]) -> SysResult<usize> {
    if name.last() != Some(&0) {
        return Err(libc::EINVAL);
    }
    // SAFETY: dir is open; name is NUL-terminated (checked above); buf is writable for its length.
    let n = unsafe {
        libc::readlinkat(
            dir.raw(),
            name.as_ptr().cast(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    byte_count(n)
}

/// An open directory read with getdents64 into a caller buffer, no allocation per entry.
pub struct DirFd {
    fd: OwnedFd,
}

impl DirFd {
    pub fn open(path: &Path) -> SysResult<DirFd> {
        let fd = open_at(
            None,
            &c_path(path.as_os_str().as_bytes())?,
            libc::O_RDONLY | libc::O_DIRECTORY,
        )?;
        Ok(DirFd { fd })
    }

    pub fn raw(&self) -> libc::c_int {
        self.fd.as_raw_fd()
    }

    /// st_nlink of the open directory (fstat). For /proc/<pid>/task it is 2 + the number of
    /// threads, recomputed by the kernel on every call.
    pub fn nlink(&self) -> SysResult<u64> {
        // nlink_t is u64 on x86-64 and u32 on aarch64
        #[allow(clippy::useless_conversion)]
        fstat_raw(self.raw()).map(|st| u64::from(st.st_nlink))
    }

    /// One getdents64 batch into buf; 0 at the end of the directory.
    fn getdents(&self, buf: &mut [u8]) -> SysResult<usize> {
        // SAFETY: fd is an open directory owned by self; buf is writable for buf.len() bytes.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                self.raw(),
                buf.as_mut_ptr(),
                buf.len() as libc::c_uint,
            )
        };
        byte_count(n)
    }

    /// The one directory-entry walker: calls `each` with every entry's name (without "." and
    /// ".."), read in getdents64 batches into `buf` from where the directory stands (a freshly
    /// opened one: its start). Once per opened directory.
    pub fn for_each_name(&self, buf: &mut [u8], mut each: impl FnMut(&[u8])) -> SysResult<()> {
        loop {
            let n = self.getdents(buf)?;
            if n == 0 {
                return Ok(());
            }
            for name in dirent_names(&buf[..n]) {
                if name != b"." && name != b".." {
                    each(name);
                }
            }
        }
    }
}

/// The names in one getdents64 batch (struct linux_dirent64: d_ino u64, d_off i64,
/// d_reclen u16, d_type u8, d_name NUL-terminated).
fn dirent_names(batch: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut off = 0;
    std::iter::from_fn(move || {
        if off + 19 >= batch.len() {
            return None;
        }
        let reclen = u16::from_ne_bytes([batch[off + 16], batch[off + 17]]) as usize;
        if reclen == 0 || off + reclen > batch.len() {
            return None;
        }
        let name = &batch[off + 19..off + reclen];
        off += reclen;
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Some(&name[..end])
    })
}

/// Entries of the directory at `path` parsed as numbers (pids, tids, fds), others skipped.
pub fn numeric_entries(path: &Path) -> SysResult<Vec<i32>> {
    let dir = DirFd::open(path)?;
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::new();
    dir.for_each_name(&mut buf, |name| {
        if let Some(n) = parse_i32(name) {
            out.push(n);
        }
    })?;
    Ok(out)
}

/// A non-negative decimal name as a number.
pub fn parse_i32(name: &[u8]) -> Option<i32> {
    std::str::from_utf8(name).ok()?.parse::<i32>().ok()
}

/// st_mode and st_ino of what a descriptor refers to.
#[derive(Debug, Clone, Copy)]
pub struct ModeIno {
    pub mode: u32,
    pub ino: u64,
    pub dev: u64,
}

fn fstat_raw(fd: i32) -> SysResult<libc::stat> {
    // SAFETY: stat is plain old data; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // The fstat system call itself: glibc's fstat() is newfstatat(fd, "", AT_EMPTY_PATH), which
    // first reads the empty path from user memory (an fds() scan makes one or two per fd).
    // SAFETY: st is a valid, writable stat, the kernel's struct stat on the 64-bit targets
    // (x86-64, aarch64; glibc and musl lay it out alike); fstat of any fd has no side effects.
    let rc = unsafe { libc::syscall(libc::SYS_fstat, fd, &mut st as *mut libc::stat) };
    if rc != 0 {
        return Err(last_errno());
    }
    Ok(st)
}

fn mode_ino(st: &libc::stat) -> ModeIno {
    ModeIno {
        mode: st.st_mode,
        ino: st.st_ino,
        dev: st.st_dev,
    }
}

/// fstat(2) of one of this process's own descriptors.
pub fn fstat_fd(fd: i32) -> SysResult<ModeIno> {
    fstat_raw(fd).map(|st| mode_ino(&st))
}

/// fstatat(2) following the /proc/<pid>/fd/<n> link `name` (NUL-terminated) in `dir`.
pub fn fstatat_follow(dir: &DirFd, name: &[u8]) -> SysResult<ModeIno> {
    if name.last() != Some(&0) {
        return Err(libc::EINVAL);
    }
    // SAFETY: stat is plain old data; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: dir is open, name is NUL-terminated (checked above), st is writable.
    let rc = unsafe { libc::fstatat(dir.raw(), name.as_ptr().cast(), &mut st, 0) };
    if rc != 0 {
        return Err(last_errno());
    }
    Ok(mode_ino(&st))
}

/// lstat(2) of an absolute path, without triggering an automount: `buf` is reused for the
/// NUL-terminated copy. EINVAL for a path holding a NUL.
pub fn lstat_path(path: &[u8], buf: &mut Vec<u8>) -> SysResult<ModeIno> {
    if path.contains(&0) {
        return Err(libc::EINVAL);
    }
    buf.clear();
    buf.extend_from_slice(path);
    buf.push(0);
    // SAFETY: stat is plain old data; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: buf is NUL-terminated (pushed above) and lives for the call; st is writable.
    let rc = unsafe {
        libc::fstatat(
            libc::AT_FDCWD,
            buf.as_ptr().cast(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT,
        )
    };
    if rc != 0 {
        return Err(last_errno());
    }
    Ok(mode_ino(&st))
}

/// An O_PATH descriptor on what the /proc/<pid>/fd/<n> link `name` (NUL-terminated) in `dir`
/// leads to: a reference of our own to the very file the other process's descriptor holds
/// (its mount and dentry), which stays that file whatever the other process does with the
/// number. Opening it runs no open method of the file (no FIFO or device side effects) and
/// needs the same ptrace read access as readlink of the link.
pub fn open_link_path(dir: &DirFd, name: &[u8]) -> SysResult<OwnedFd> {
    open_at(Some(dir), name, libc::O_PATH)
}

/// st_dev of pipefs, where every anonymous pipe lives: learnt once from a pipe made and closed
/// for the purpose. None when no pipe could be made.
pub fn pipefs_dev() -> Option<u64> {
    static DEV: once_cell::sync::OnceCell<Option<u64>> = once_cell::sync::OnceCell::new();
    *DEV.get_or_init(|| {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: fds is a writable array of two ints, as pipe2 requires.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
        if rc != 0 {
            return None;
        }
        // SAFETY: both ends were just opened by pipe2 and nothing else owns them.
        let ends = fds.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
        fstat_raw(ends[0].as_raw_fd()).ok().map(|st| st.st_dev)
    })
}

/// st_dev of sockfs, where every socket lives (an O_PATH descriptor on a unix socket's file
/// stats as a socket too, on the file's filesystem): learnt once from a socket made and closed
/// for the purpose. None when no socket could be made.
pub fn sockfs_dev() -> Option<u64> {
    static DEV: once_cell::sync::OnceCell<Option<u64>> = once_cell::sync::OnceCell::new();
    *DEV.get_or_init(|| {
        // SAFETY: socket(2) with constant arguments has no memory preconditions.
        let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: fd was just opened by socket(2) and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        fstat_raw(fd.as_raw_fd()).ok().map(|st| st.st_dev)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_every_entry_of_a_directory_once_and_again() {
        let dir = std::env::temp_dir().join(format!("ks-walk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..300 {
            std::fs::write(dir.join(format!("{i}")), b"").unwrap();
        }
        std::fs::write(dir.join("not-a-number"), b"").unwrap();
        // a small buffer: many batches
        let mut buf = vec![0u8; 512];
        for _ in 0..2 {
            let d = DirFd::open(&dir).unwrap();
            let mut names = Vec::new();
            d.for_each_name(&mut buf, |n| names.push(n.to_vec()))
                .unwrap();
            assert_eq!(names.len(), 301);
        }
        let mut nums = numeric_entries(&dir).unwrap();
        nums.sort_unstable();
        assert_eq!(nums, (0..300).collect::<Vec<_>>());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn whole_file_reads_agree_with_std() {
        let want = std::fs::read("/proc/self/status").unwrap();
        let mut small = [0u8; 16];
        assert_eq!(read_file_into(b"/proc/self/status", &mut small), Ok(16));
        assert_eq!(&small[..], &want[..16]);
        let d = DirFd::open(Path::new("/proc/self")).unwrap();
        let mut v = Vec::new();
        read_file_at(&d, b"cmdline\0", &mut v).unwrap();
        assert_eq!(v, std::fs::read("/proc/self/cmdline").unwrap());
        assert_eq!(read_file_at(&d, b"cmdline", &mut v), Err(libc::EINVAL));
    }
}
