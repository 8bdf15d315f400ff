//! Describing one descriptor: its number listed (getdents64) or probed (fstat), its target
//! (readlinkat, or implied by fstat for sockets and pipes), type and inode.

use crate::error::errno_name;
use crate::parse::fdinfo::{classify_target, type_from_mode, FdType, TargetKind};
use std::os::fd::AsRawFd;

use crate::sys::{self, DirFd, ModeIno, SysResult};

use super::pack::{push_decimal, Packed};
use super::schedule::Scratch;
use crate::layout::fds_bit as bit;

/// Descriptor numbers listed in an open /proc/<pid>/fd directory.
pub(crate) fn list_fds(dir: &DirFd) -> std::result::Result<Vec<i32>, i32> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut fds = Vec::with_capacity(256);
    dir.for_each_name(&mut buf, |name| {
        if let Some(fd) = sys::parse_i32(name) {
            fds.push(fd);
        }
    })?;
    Ok(fds)
}

/// "<fd>\0" into `name`, without allocating.
pub(super) fn fd_name(name: &mut Vec<u8>, fd: i32) {
    name.clear();
    let mut digits = [0u8; 12];
    let mut i = digits.len();
    let mut v = fd.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    name.extend_from_slice(&digits[i..]);
    name.push(0);
}

pub(super) fn scan_failure(e: i32, what: &str) -> String {
    if e == libc::EBADF || e == libc::ENOENT {
        "closed during the scan".to_string()
    } else {
        format!("{what} failed: {}", errno_name(e))
    }
}

/// A descriptor whose link could not be read: gone (closed during the scan) or refused.
pub(super) fn unreadable(out: &mut Packed, fd: i32, errno: i32) {
    if errno == libc::EACCES || errno == libc::EPERM {
        out.refused += 1;
    }
    if errno == libc::ENOENT || errno == libc::EBADF {
        out.vanished += 1;
    }
    failed(out, fd, &scan_failure(errno, "readlink"));
}

/// What a descriptor that could not be described is: nothing but `error`.
fn failed(out: &mut Packed, fd: i32, error: &str) {
    out.text.push(None);
    out.text.push(Some(error));
    out.row(fd, FdType::Unknown, None, bit::ERROR);
}

/// The error of a descriptor number closed and reused for another file while it was being
/// looked at, twice in a row.
pub(super) const REPLACED: &str = "replaced during the scan";

/// The type and link text fstat alone implies: a socket on sockfs is "socket:[<inode>]" and an
/// anonymous pipe (a FIFO on pipefs) "pipe:[<inode>]", exactly as the kernel's readlink prints
/// them (sockfs_dname, pipefs_dname). Not a socket file held by an O_PATH descriptor, which
/// stats as a socket on the file's own filesystem.
fn implied(st: &ModeIno) -> Option<(FdType, &'static str)> {
    let fmt = st.mode & libc::S_IFMT;
    if fmt == libc::S_IFSOCK && Some(st.dev) == sys::sockfs_dev() {
        Some((FdType::Socket, "socket:["))
    } else if fmt == libc::S_IFIFO && Some(st.dev) == sys::pipefs_dev() {
        Some((FdType::Pipe, "pipe:["))
    } else {
        None
    }
}

/// What a link says a descriptor is, once checked.
struct Linked {
    kind: FdType,
    inode: Option<u64>,
    error: Option<String>,
    /// The descriptor was found gone (ENOENT, EBADF) after its link was read.
    gone: bool,
}

/// One descriptor into `out`: its target (readlink), type and inode. For our own descriptors
/// (`pre`: fstat done by the walk, cheap, no path walk) a socket's or an anonymous pipe's
/// target is implied by fstat and the costly readlink skipped (see `implied`). Where the link
/// is read, the number may be closed and reused for another file in between: the entry is then
/// looked at once more, and is an `error` (REPLACED) if it changes again.
pub(super) fn describe_one(
    out: &mut Packed,
    dir: &DirFd,
    fd: i32,
    pre: Option<SysResult<ModeIno>>,
    s: &mut Scratch,
) {
    let mut pre = pre;
    for last in [false, true] {
        match pre {
            Some(Ok(st)) => {
                if let Some((kind, prefix)) = implied(&st) {
                    out.text.push_with(|t| {
                        t.push_str(prefix);
                        push_decimal(t, st.ino);
                        t.push(']');
                    });
                    out.row(fd, kind, Some(st.ino), 0);
                    return;
                }
            }
            Some(Err(e)) => return unreadable(out, fd, e),
            None => {}
        }
        fd_name(&mut s.name, fd);
        let len = match sys::readlinkat(dir, &s.name, &mut s.link) {
            Ok(n) => n.min(s.link.len()),
            Err(e) => return unreadable(out, fd, e),
        };
        let target = String::from_utf8_lossy(&s.link[..len]);
        let link = &s.link[..len];
        let mut pin = Pin {
            dir: &mut s.own_fd_dir,
            name: &mut s.own_name,
            link: &mut s.again,
        };
        match check(dir, fd, pre, &s.name, link, &target, &mut pin) {
            Err(e) => return unreadable(out, fd, e),
            Ok(Some(l)) => {
                if l.gone {
                    out.vanished += 1;
                }
                out.text.push(Some(&target));
                let mut bits = 0;
                if let Some(e) = &l.error {
                    out.text.push(Some(e));
                    bits |= bit::ERROR;
                }
                out.row(fd, l.kind, l.inode, bits);
                return;
            }
            Ok(None) if last => return failed(out, fd, REPLACED),
            // replaced: once more, from a fresh fstat for our own
            Ok(None) => pre = pre.map(|_| sys::fstat_fd(fd)),
        }
    }
}

/// What the checks use: for another process's descriptor our /proc/thread-self/fd (opened on
/// first use, closed at the end of the chunk: the scanning thread holds sys::fd_gate meanwhile)
/// and the second reading of the link; a name (or path) buffer for both kinds.
pub(super) struct Pin<'a> {
    pub(super) dir: &'a mut Option<DirFd>,
    pub(super) name: &'a mut Vec<u8>,
    pub(super) link: &'a mut [u8],
}

impl Pin<'_> {
    /// The link text of our own descriptor `fd` into `self.link`; its length.
    fn read_own(&mut self, fd: i32) -> SysResult<usize> {
        if self.dir.is_none() {
            *self.dir = Some(DirFd::open(std::path::Path::new("/proc/thread-self/fd"))?);
        }
        let Some(dir) = self.dir.as_ref() else {
            return Err(libc::EBADF);
        };
        fd_name(self.name, fd);
        Ok(sys::readlinkat(dir, self.name, self.link)?.min(self.link.len()))
    }
}

/// The link `link` (`target` as text) of `fd` (its name in `dir`: `name`) checked against what
/// the descriptor is: `pre` (our own: the fstat before the readlink) against an fstat after it
/// and, for a path, an lstat of that path (our own descriptors cannot be pinned like another
/// process's: a descriptor opened mid-walk could be listed, and closing a dup would drop the
/// process's POSIX locks on the file).
/// Another process's descriptor is opened with O_PATH through its link, which pins the file it
/// holds at that moment: the type and inode are the pinned file's (fstat), and so must the link
/// text be (our own descriptor's link, read into `pin`). Reading their link twice around a stat
/// through it is not enough: the number can be reused for another file and then for the first
/// one again in between (a close-and-open loop in the target did it 3 times in 4 million
/// entries on a loaded machine). Ok(None) when they disagree: the number was reused in between.
fn check(
    dir: &DirFd,
    fd: i32,
    pre: Option<SysResult<ModeIno>>,
    name: &[u8],
    link: &[u8],
    target: &str,
    pin: &mut Pin<'_>,
) -> SysResult<Option<Linked>> {
    let kind = classify_target(target);
    let anon = match kind {
        TargetKind::Anon(t) => Some(t),
        _ => None,
    };
    let pre = match pre {
        Some(Ok(st)) => Some(st),
        Some(Err(e)) => return Err(e),
        None => None,
    };
    let mut gone = false;
    let (kind, inode, error) = match (kind, pre) {
        // the text names the inode: it must be the one fstat saw (which was no socket on
        // sockfs and no pipe on pipefs, or `implied` would have told it)
        (TargetKind::Known(kind, ino), Some(st)) => {
            let fmt = st.mode & libc::S_IFMT;
            let same_kind = match kind {
                FdType::Socket => fmt == libc::S_IFSOCK,
                _ => fmt == libc::S_IFIFO,
            };
            if st.ino != ino || !same_kind {
                return Ok(None);
            }
            (kind, Some(ino), None)
        }
        // one reading tells everything
        (TargetKind::Known(kind, ino), None) => (kind, Some(ino), None),
        (_, Some(st)) => {
            let after = sys::fstat_fd(fd)?;
            if (after.dev, after.ino, after.mode) != (st.dev, st.ino, st.mode) {
                return Ok(None);
            }
            // The two fstats agree, but the number may have been reused for another file and
            // then for this one again while the link was read (A-B-A: a close-and-open loop did
            // it once in about 20 suite runs on a loaded machine). A path names the file the
            // link was read from: it must be the one fstat saw, of the same type too (an inode
            // number freed meanwhile can be the next file's: see stat_at_path; the type only,
            // so that a chmod meanwhile is no reuse). Unchecked where there is no path to look
            // at: deleted files, anonymous inodes, and paths we cannot stat.
            if let Some(path) = checkable_path(link) {
                if let Ok(at) = sys::lstat_path(path, pin.name) {
                    let kind = |m: u32| m & libc::S_IFMT;
                    if (at.dev, at.ino, kind(at.mode)) != (st.dev, st.ino, kind(st.mode)) {
                        return Ok(None);
                    }
                }
            }
            (
                anon.unwrap_or_else(|| type_from_mode(st.mode, target)),
                Some(st.ino),
                None,
            )
        }
        // Another process's file at a path: a stat through its link, and an lstat of the
        // path the link named, which must find the same file (stat_at_path). Whatever the
        // number held in between (A-B-A included), the entry then describes the one file at
        // that path. Three syscalls instead of the pin's five; a path we cannot stat or that
        // leads elsewhere (another mount namespace, a rename, a reuse of the number) is
        // settled by the pin.
        (_, None) => match stat_at_path(dir, name, link, pin.name) {
            Some(st) => (
                anon.unwrap_or_else(|| type_from_mode(st.mode, target)),
                Some(st.ino),
                None,
            ),
            None => match sys::open_link_path(dir, name) {
                Ok(pinned) => {
                    let st = sys::fstat_fd(pinned.as_raw_fd())?;
                    let n = pin.read_own(pinned.as_raw_fd())?;
                    drop(pinned);
                    if pin.link[..n] != *link {
                        return Ok(None);
                    }
                    (
                        anon.unwrap_or_else(|| type_from_mode(st.mode, target)),
                        Some(st.ino),
                        None,
                    )
                }
                Err(e) => {
                    gone = e == libc::ENOENT || e == libc::EBADF;
                    (
                        anon.unwrap_or(FdType::Unknown),
                        None,
                        Some(scan_failure(e, "open")),
                    )
                }
            },
        },
    };
    Ok(Some(Linked {
        kind,
        inode,
        error,
        gone,
    }))
}

/// What the file another process's descriptor leads to is (a stat through the link `name` in
/// `dir`) when the path its link named (`link`) is that file (an lstat of it: same device,
/// inode and mode); None when there is no path to look at or it is not the same file. The
/// mode too, because an inode number freed meanwhile can be given to the next file made (ext4,
/// XFS): the number closed, a FIFO made and opened as it, closed and removed, and a file made
/// at the first path would otherwise give that path with the FIFO's type. Whatever the number
/// held in between, the entry then says what the file at that path is.
fn stat_at_path(dir: &DirFd, name: &[u8], link: &[u8], buf: &mut Vec<u8>) -> Option<ModeIno> {
    let path = checkable_path(link)?;
    let st = sys::fstatat_follow(dir, name).ok()?;
    let at = sys::lstat_path(path, buf).ok()?;
    ((at.dev, at.ino, at.mode) == (st.dev, st.ino, st.mode)).then_some(st)
}

/// The absolute path a link names, when it names one that may still be there (not a deleted
/// file's "<path> (deleted)").
fn checkable_path(link: &[u8]) -> Option<&[u8]> {
    (link.first() == Some(&b'/') && !link.ends_with(b" (deleted)")).then_some(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_names() {
        let mut n = Vec::new();
        for fd in [0, 7, 10, 12345, i32::MAX] {
            fd_name(&mut n, fd);
            assert_eq!(n, format!("{fd}\0").into_bytes());
        }
    }
}
