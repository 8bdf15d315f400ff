//! What a blocked thread's syscall is about: an fd resolved to its path or peer, a path read
//! from the process's memory with process_vm_readv (which fails with EFAULT, never faults).

use crate::parse::syscall::ArgTarget;
use crate::sys;

/// Reads a NUL-terminated string from our own memory, page by page (process_vm_readv stops at
/// the first unmapped page), at most 4096 bytes.
pub fn read_own_cstring(addr: u64) -> Option<String> {
    read_cstring(sys::getpid(), addr)
}

/// The same from process `pid`'s memory.
pub fn read_cstring(pid: i32, addr: u64) -> Option<String> {
    let mut out = Vec::new();
    let mut at = addr;
    let mut page = [0u8; 4096];
    while out.len() < 4096 {
        let room = 4096 - (at as usize & 4095);
        let n = sys::read_process_memory(pid, at, &mut page[..room]).ok()?;
        if n == 0 {
            return None;
        }
        if let Some(end) = page[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&page[..end]);
            return Some(String::from_utf8_lossy(&out).into_owned());
        }
        out.extend_from_slice(&page[..n]);
        at += n as u64;
    }
    None
}

/// What an fd of ours is: the peer of a connected socket ("127.0.0.1:8080"), a socket's local
/// address when it has no peer, otherwise the /proc/self/fd link ("/tmp/f", "pipe:[123]").
pub fn describe_fd(fd: i32) -> Option<String> {
    if fd < 0 {
        return None;
    }
    let link = sys::readlink(format!("/proc/self/fd/{fd}").as_bytes()).ok()?;
    if link.starts_with("socket:") {
        if let Ok(Some(peer)) = sys::peer_name(fd) {
            return Some(peer);
        }
        if let Ok(Some(local)) = sys::sock_name(fd) {
            return Some(format!("{link} local {local}"));
        }
    }
    Some(link)
}

/// Another process's fd: its /proc/<pid>/fd link (a socket's peer is not ours to ask for;
/// callers match 'socket:[inode]' against the socket tables).
fn describe_other_fd(pid: i32, fd: i32) -> Option<String> {
    if fd < 0 {
        return None;
    }
    sys::readlink(format!("/proc/{pid}/fd/{fd}").as_bytes()).ok()
}

/// What a syscall of this process is about (see ThreadSyscall.target).
pub fn describe_target(target: ArgTarget, args: &[u64; 6]) -> Option<String> {
    describe_target_of(None, target, args)
}

/// The same for process `pid` (None: this one).
pub fn describe_target_of(pid: Option<i32>, target: ArgTarget, args: &[u64; 6]) -> Option<String> {
    let describe = |fd: i32| match pid {
        Some(p) => describe_other_fd(p, fd),
        None => describe_fd(fd),
    };
    let me = pid.unwrap_or_else(sys::getpid);
    match target {
        ArgTarget::Fd(i) => describe(args[i] as i32),
        ArgTarget::Path(i) => read_cstring(me, args[i]),
        ArgTarget::PollFds(i) => {
            let nfds = args[i + 1];
            if nfds == 0 {
                return None;
            }
            let mut pfd = [0u8; 8];
            let n = sys::read_process_memory(me, args[i], &mut pfd).ok()?;
            if n < 4 {
                return None;
            }
            let fd = i32::from_ne_bytes([pfd[0], pfd[1], pfd[2], pfd[3]]);
            let first = describe(fd)?;
            Some(if nfds > 1 {
                format!("{first} (+{} more fds)", nfds - 1)
            } else {
                first
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_memory_strings() {
        let s = std::ffi::CString::new("/tmp/some fifo").unwrap();
        assert_eq!(
            read_own_cstring(s.as_ptr() as u64).as_deref(),
            Some("/tmp/some fifo")
        );
        assert_eq!(read_own_cstring(0), None);
        assert_eq!(read_own_cstring(8), None);
    }
}
