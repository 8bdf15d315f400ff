//! /proc/<pid>/task/<tid>/syscall: "nr a1 a2 a3 a4 a5 a6 sp pc", "-1 sp pc" (blocked outside a
//! syscall) or "running"; syscall names per architecture; which argument names an fd or a path.

use super::{hex, syscall_names};

#[derive(Debug, Clone, PartialEq)]
pub enum SyscallLine {
    Running,
    /// Blocked, but not inside a system call (e.g. a page fault); `sp` is its user stack
    /// pointer.
    NotInSyscall {
        sp: Option<u64>,
    },
    /// Inside syscall `nr`; `sp` is the user stack pointer the call was made with (None on a
    /// kernel that prints no more than the arguments).
    InSyscall {
        nr: i64,
        args: [u64; 6],
        sp: Option<u64>,
    },
}

impl SyscallLine {
    /// The thread's user stack pointer, when the kernel gave one (not while it runs).
    pub fn sp(&self) -> Option<u64> {
        match self {
            SyscallLine::Running => None,
            SyscallLine::NotInSyscall { sp } | SyscallLine::InSyscall { sp, .. } => *sp,
        }
    }
}

pub fn parse_syscall_line(text: &[u8]) -> Option<SyscallLine> {
    let s = std::str::from_utf8(text).ok()?.trim();
    if s == "running" {
        return Some(SyscallLine::Running);
    }
    let mut it = s.split_ascii_whitespace();
    let nr: i64 = it.next()?.parse().ok()?;
    if nr < 0 {
        let sp = it.next().and_then(hex);
        return Some(SyscallLine::NotInSyscall { sp });
    }
    let mut args = [0u64; 6];
    for a in args.iter_mut() {
        *a = hex(it.next()?)?;
    }
    let sp = it.next().and_then(hex);
    Some(SyscallLine::InSyscall { nr, args, sp })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub const fn native() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }
}

pub fn syscall_name(arch: Arch, nr: i64) -> Option<&'static str> {
    let table: &[&str] = match arch {
        Arch::X86_64 => &syscall_names::X86_64,
        Arch::Aarch64 => &syscall_names::AARCH64,
    };
    let name = *table.get(usize::try_from(nr).ok()?)?;
    if name.is_empty() {
        None
    } else {
        Some(name)
    }
}

/// What one argument of a syscall refers to, so a blocked call can be explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgTarget {
    /// args[i] is a file descriptor.
    Fd(usize),
    /// args[i] is a pointer to a NUL-terminated path.
    Path(usize),
    /// args[i] points at an array of `struct pollfd`, args[i + 1] is its length.
    PollFds(usize),
}

/// The argument that best says what the call is waiting on, by syscall name (names are the
/// same across architectures, numbers are not).
pub fn arg_target(name: &str) -> Option<ArgTarget> {
    use ArgTarget::*;
    Some(match name {
        "read" | "write" | "pread64" | "pwrite64" | "readv" | "writev" | "preadv" | "pwritev"
        | "preadv2" | "pwritev2" | "close" | "fstat" | "newfstat" | "lseek" | "ioctl" | "fcntl"
        | "flock" | "fsync" | "fdatasync" | "ftruncate" | "fallocate" | "getdents64"
        | "connect" | "accept" | "accept4" | "bind" | "listen" | "sendto" | "recvfrom"
        | "sendmsg" | "recvmsg" | "sendmmsg" | "recvmmsg" | "shutdown" | "getsockopt"
        | "setsockopt" | "epoll_wait" | "epoll_pwait" | "epoll_pwait2" | "epoll_ctl" | "fchmod"
        | "fchown" | "fstatfs" | "sync_file_range" | "fadvise64" | "readahead"
        | "io_uring_enter" | "syncfs" | "fgetxattr" | "fsetxattr" | "copy_file_range"
        | "splice" | "tee" | "vmsplice" | "inotify_add_watch" | "timerfd_settime"
        | "fanotify_mark" => Fd(0),
        "sendfile" => Fd(1),
        "open" | "creat" | "stat" | "lstat" | "access" | "mkdir" | "rmdir" | "unlink"
        | "readlink" | "chmod" | "chown" | "lchown" | "truncate" | "statfs" | "execve"
        | "chdir" | "rename" | "link" | "symlink" | "utimes" | "utime" | "mknod" | "getxattr"
        | "lgetxattr" | "setxattr" | "lsetxattr" | "listxattr" | "llistxattr" | "uselib"
        | "swapon" | "acct" | "chroot" => Path(0),
        "openat" | "openat2" | "newfstatat" | "fstatat64" | "statx" | "faccessat"
        | "faccessat2" | "mkdirat" | "unlinkat" | "readlinkat" | "fchmodat" | "fchmodat2"
        | "fchownat" | "utimensat" | "futimesat" | "mknodat" | "execveat" | "renameat"
        | "renameat2" | "linkat" | "name_to_handle_at" | "open_tree" => Path(1),
        "poll" | "ppoll" => PollFds(0),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(parse_syscall_line(b"running\n"), Some(SyscallLine::Running));
        assert_eq!(
            parse_syscall_line(b"-1 0x7ffc2f0e2f48 0x7f27c2d1f3ad\n"),
            Some(SyscallLine::NotInSyscall {
                sp: Some(0x7ffc2f0e2f48)
            })
        );
        // a Node 20 libuv worker blocked opening a FIFO (Linux 6.18, x86-64)
        let l = parse_syscall_line(
            b"257 0xffffff9c 0x5a6b1c0 0x80000 0x0 0x0 0x0 0x7f27b27fbce8 0x7f27c2d1f3ad\n",
        );
        assert_eq!(
            l,
            Some(SyscallLine::InSyscall {
                nr: 257,
                args: [0xffffff9c, 0x5a6b1c0, 0x80000, 0, 0, 0],
                sp: Some(0x7f27b27fbce8)
            })
        );
        assert_eq!(l.and_then(|l| l.sp()), Some(0x7f27b27fbce8));
        // an older format without sp and pc still parses, without a stack pointer
        assert_eq!(
            parse_syscall_line(b"202 0x1 0x2 0x3 0x4 0x5 0x6\n").and_then(|l| l.sp()),
            None
        );
        assert_eq!(parse_syscall_line(b"0 0x1\n"), None);
        assert_eq!(parse_syscall_line(b"0 0x 0x1 0x2 0x3 0x4 0x5\n"), None);
        assert_eq!(
            parse_syscall_line(b"0 0x1 0x2 0x3 0x4 0x5 0x10000000000000000\n"),
            None
        );
        assert_eq!(parse_syscall_line(b""), None);
    }

    #[test]
    fn names_per_arch() {
        assert_eq!(syscall_name(Arch::X86_64, 0), Some("read"));
        assert_eq!(syscall_name(Arch::X86_64, 257), Some("openat"));
        assert_eq!(syscall_name(Arch::X86_64, 202), Some("futex"));
        assert_eq!(syscall_name(Arch::X86_64, 281), Some("epoll_pwait"));
        assert_eq!(syscall_name(Arch::X86_64, 262), Some("newfstatat"));
        assert_eq!(syscall_name(Arch::Aarch64, 63), Some("read"));
        assert_eq!(syscall_name(Arch::Aarch64, 56), Some("openat"));
        assert_eq!(syscall_name(Arch::Aarch64, 98), Some("futex"));
        assert_eq!(syscall_name(Arch::Aarch64, 22), Some("epoll_pwait"));
        assert_eq!(syscall_name(Arch::Aarch64, 79), Some("newfstatat"));
        assert_eq!(syscall_name(Arch::Aarch64, 84), Some("sync_file_range"));
        assert_eq!(syscall_name(Arch::X86_64, 462), Some("mseal"));
        assert_eq!(syscall_name(Arch::Aarch64, 462), Some("mseal"));
        assert_eq!(syscall_name(Arch::X86_64, 100_000), None);
        assert_eq!(syscall_name(Arch::X86_64, -1), None);
    }

    #[test]
    fn targets() {
        assert_eq!(arg_target("openat"), Some(ArgTarget::Path(1)));
        assert_eq!(arg_target("read"), Some(ArgTarget::Fd(0)));
        assert_eq!(arg_target("sendfile"), Some(ArgTarget::Fd(1)));
        assert_eq!(arg_target("ppoll"), Some(ArgTarget::PollFds(0)));
        assert_eq!(arg_target("futex"), None);
    }
}
