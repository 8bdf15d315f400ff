//! Describing one descriptor: its number listed (getdents64) or probed (fstat), its target
//! (readlinkat, or implied by fstat for sockets and pipes), type and inode.

use crate::error::errno_name;
use crate::parse::fdinfo::{classify_target, type_from_mode, FdType, TargetKind};
use crate::sys::{self, DirFd, ModeIno, SysResult};

use super::pack::{push_decimal, Packed};
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
    out.text.push(None);
    out.text.push(Some(&scan_failure(errno, "readlink")));
    out.row(fd, FdType::Unknown, None, bit::ERROR);
}

/// One descriptor into `out`: its target (readlink), type and inode. For our own descriptors
/// fstat comes first and is cheap (no path walk); a socket's target is then
/// "socket:[<inode>]" and an anonymous pipe's (a FIFO on pipefs) "pipe:[<inode>]", exactly
/// as the kernel's readlink prints them (sockfs_dname, pipefs_dname), so the costly readlink
/// is skipped for those.
pub(super) fn describe_one(
    out: &mut Packed,
    dir: &DirFd,
    fd: i32,
    pre: Option<SysResult<ModeIno>>,
    name: &mut Vec<u8>,
    link: &mut [u8],
) {
    if let Some(Ok(st)) = pre {
        let fmt = st.mode & libc::S_IFMT;
        let known = if fmt == libc::S_IFSOCK {
            Some((FdType::Socket, "socket:["))
        } else if fmt == libc::S_IFIFO && Some(st.dev) == sys::pipefs_dev() {
            Some((FdType::Pipe, "pipe:["))
        } else {
            None
        };
        if let Some((kind, prefix)) = known {
            out.text.push_with(|t| {
                t.push_str(prefix);
                push_decimal(t, st.ino);
                t.push(']');
            });
            out.row(fd, kind, Some(st.ino), 0);
            return;
        }
    }
    if let Some(Err(e)) = pre {
        return unreadable(out, fd, e);
    }
    fd_name(name, fd);
    let n = match sys::readlinkat(dir, name, link) {
        Ok(n) => n.min(link.len()),
        Err(e) => return unreadable(out, fd, e),
    };
    let target = match std::str::from_utf8(&link[..n]) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(&link[..n]),
    };
    let mut error = None;
    let (kind, inode) = match classify_target(&target) {
        TargetKind::Known(kind, ino) => (kind, Some(ino)),
        kind => {
            let st = match pre {
                Some(st) => st,
                None => sys::fstatat_follow(dir, name),
            };
            let anon = match kind {
                TargetKind::Anon(t) => Some(t),
                _ => None,
            };
            match st {
                Ok(st) => (
                    anon.unwrap_or_else(|| type_from_mode(st.mode, &target)),
                    Some(st.ino),
                ),
                Err(e) => {
                    error = Some(scan_failure(e, "stat"));
                    (anon.unwrap_or(FdType::Unknown), None)
                }
            }
        }
    };
    out.text.push(Some(&target));
    let mut bits = 0;
    if let Some(e) = &error {
        out.text.push(Some(e));
        bits |= bit::ERROR;
    }
    out.row(fd, kind, inode, bits);
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
