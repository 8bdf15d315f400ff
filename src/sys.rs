//! The only place with `unsafe` libc calls. Each wrapper does one thing, returns `Err(errno)`
//! on failure and never panics.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::last_errno;

pub mod trace;
pub mod uv;
pub mod watch;

pub type SysResult<T> = Result<T, i32>;

/// The byte count a read-like call returned, or the errno behind its -1.
fn byte_count<N: TryInto<usize>>(n: N) -> SysResult<usize> {
    n.try_into().map_err(|_| last_errno())
}

/// A file that stays open and is re-read from offset 0 with `pread`: the cheap way to sample
/// /proc files that the kernel regenerates on every read.
pub struct ProcFile {
    fd: libc::c_int,
}

impl ProcFile {
    pub fn open(path: &str) -> SysResult<ProcFile> {
        let c = CString::new(path).map_err(|_| libc::EINVAL)?;
        // SAFETY: c is a valid NUL-terminated string for the duration of the call.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            Err(last_errno())
        } else {
            Ok(ProcFile { fd })
        }
    }

    /// Reads the whole file (up to buf.len() bytes) from offset 0.
    pub fn read(&self, buf: &mut [u8]) -> SysResult<usize> {
        // SAFETY: fd is owned by self and open; buf is a valid writable region of buf.len() bytes.
        let n = unsafe { libc::pread(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        byte_count(n)
    }
}

impl Drop for ProcFile {
    fn drop(&mut self) {
        // SAFETY: fd was opened by ProcFile::open and is closed exactly once, here.
        unsafe { libc::close(self.fd) };
    }
}

/// Reads a file in one go into `buf` (open, read until EOF or full, close). Returns bytes read.
pub fn read_file_into(path: &[u8], buf: &mut [u8]) -> SysResult<usize> {
    let c = CString::new(path).map_err(|_| libc::EINVAL)?;
    // SAFETY: c is a valid NUL-terminated string for the duration of the call.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(last_errno());
    }
    let mut total = 0;
    let result = loop {
        if total == buf.len() {
            break Ok(total);
        }
        let rest = &mut buf[total..];
        // SAFETY: fd is open (closed below) and rest is a valid writable region of rest.len() bytes.
        let n = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        if n < 0 {
            let e = last_errno();
            if e == libc::EINTR {
                continue;
            }
            break Err(e);
        }
        if n == 0 {
            break Ok(total);
        }
        total += n as usize;
    };
    // SAFETY: fd was opened above and is closed exactly once.
    unsafe { libc::close(fd) };
    result
}

/// readlink(2) into a String (lossy for non-UTF-8 bytes).
pub fn readlink(path: &[u8]) -> SysResult<String> {
    let c = CString::new(path).map_err(|_| libc::EINVAL)?;
    let mut buf = [0u8; 4096];
    // SAFETY: c is NUL-terminated; buf is a writable region of buf.len() bytes.
    let n = unsafe { libc::readlink(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(last_errno());
    }
    Ok(String::from_utf8_lossy(&buf[..n as usize]).into_owned())
}

pub struct Rusage {
    pub user_us: f64,
    pub system_us: f64,
    pub minflt: f64,
    pub majflt: f64,
    pub nvcsw: f64,
    pub nivcsw: f64,
    pub maxrss_kb: f64,
}

/// getrusage(RUSAGE_SELF): the whole process, all threads, live and exited.
pub fn rusage_self() -> SysResult<Rusage> {
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru is a valid, writable rusage for the duration of the call.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return Err(last_errno());
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    Ok(Rusage {
        user_us: tv(ru.ru_utime),
        system_us: tv(ru.ru_stime),
        minflt: ru.ru_minflt as f64,
        majflt: ru.ru_majflt as f64,
        nvcsw: ru.ru_nvcsw as f64,
        nivcsw: ru.ru_nivcsw as f64,
        maxrss_kb: ru.ru_maxrss as f64,
    })
}

/// getrlimit(RLIMIT_NOFILE) as (soft, hard); RLIM_INFINITY becomes f64::INFINITY.
pub fn nofile_limits() -> SysResult<(f64, f64)> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: rl is a valid, writable rlimit for the duration of the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    if rc != 0 {
        return Err(last_errno());
    }
    let conv = |v: libc::rlim_t| {
        if v == libc::RLIM_INFINITY {
            f64::INFINITY
        } else {
            v as f64
        }
    };
    Ok((conv(rl.rlim_cur), conv(rl.rlim_max)))
}

/// CLOCK_MONOTONIC in milliseconds: the clock behind process.hrtime() (libuv's uv_hrtime).
pub fn monotonic_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

/// CPU time the calling thread has used, in milliseconds (CLOCK_THREAD_CPUTIME_ID).
pub fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec; the per-thread CPU clock exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

pub fn getpid() -> i32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    unsafe { libc::getpid() }
}

pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}

pub fn page_size() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 {
        v as f64
    } else {
        4096.0
    }
}

pub fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 {
        v as f64
    } else {
        100.0
    }
}

/// An open directory read with getdents64 into a caller buffer, no allocation per entry.
pub struct DirFd {
    fd: libc::c_int,
}

impl DirFd {
    pub fn open(path: &Path) -> SysResult<DirFd> {
        let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)?;
        // SAFETY: c is a valid NUL-terminated string for the duration of the call.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            Err(last_errno())
        } else {
            Ok(DirFd { fd })
        }
    }

    pub fn raw(&self) -> libc::c_int {
        self.fd
    }

    /// st_nlink of the open directory (fstat). For /proc/<pid>/task it is 2 + the number of
    /// threads, recomputed by the kernel on every call.
    pub fn nlink(&self) -> SysResult<u64> {
        // SAFETY: stat is plain old data; all-zero is a valid value.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fd is an open descriptor owned by self; st is writable for the whole call.
        let rc = unsafe { libc::fstat(self.fd, &mut st) };
        if rc != 0 {
            Err(last_errno())
        } else {
            Ok(st.st_nlink as u64)
        }
    }

    /// One getdents64 batch into buf; 0 at the end of the directory.
    pub fn getdents(&self, buf: &mut [u8]) -> SysResult<usize> {
        // SAFETY: fd is an open directory owned by self; buf is writable for buf.len() bytes.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                self.fd,
                buf.as_mut_ptr(),
                buf.len() as libc::c_uint,
            )
        };
        byte_count(n)
    }
}

impl Drop for DirFd {
    fn drop(&mut self) {
        // SAFETY: fd was opened by DirFd::open and is closed exactly once, here.
        unsafe { libc::close(self.fd) };
    }
}

/// Copies bytes from this process's own address space at `addr` with process_vm_readv, which
/// fails with EFAULT on an unmapped address instead of faulting. Returns bytes copied (a short
/// count when the range runs into an unmapped page).
pub fn read_own_memory(addr: u64, buf: &mut [u8]) -> SysResult<usize> {
    read_process_memory(getpid(), addr, buf)
}

/// The same from another process's address space (the kernel's ptrace access check applies:
/// same user or CAP_SYS_PTRACE; EPERM otherwise).
pub fn read_process_memory(pid: i32, addr: u64, buf: &mut [u8]) -> SysResult<usize> {
    if addr == 0 {
        return Err(libc::EFAULT);
    }
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: local describes buf, which is writable for its length; the remote range is only
    // read by the kernel, which checks it and returns EFAULT rather than faulting.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    byte_count(n)
}

/// A socket address taken apart: family (AF_*), address text without port ("127.0.0.1",
/// "::1", a unix path, "@abstract", "" for an unnamed unix socket) and the port for inet.
#[derive(Debug, Clone, PartialEq)]
pub struct SockAddr {
    pub family: i32,
    pub address: String,
    pub port: Option<u16>,
}

impl SockAddr {
    /// "127.0.0.1:8080", "[::1]:443", "unix:/path", "unix:@name", "unix:(unnamed)"; an
    /// IPv4-mapped IPv6 address as IPv4 ("127.0.0.1:8080").
    pub fn text(&self) -> String {
        match (self.family, self.port) {
            (libc::AF_INET6, Some(p)) => {
                match self
                    .address
                    .parse::<std::net::Ipv6Addr>()
                    .map(|ip| ip.to_ipv4_mapped())
                {
                    Ok(Some(v4)) => format!("{v4}:{p}"),
                    _ => format!("[{}]:{p}", self.address),
                }
            }
            (_, Some(p)) => format!("{}:{p}", self.address),
            (libc::AF_UNIX, None) if self.address.is_empty() => "unix:(unnamed)".to_string(),
            _ => format!("unix:{}", self.address),
        }
    }
}

/// Takes apart what getsockname/getpeername wrote; None for a family kernelscope does not decode.
/// IPv4-mapped IPv6 addresses stay in IPv6 form here; `text()` shows them as IPv4.
fn sockaddr_parts(ss: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SockAddr> {
    let family = ss.ss_family as libc::c_int;
    match family {
        libc::AF_INET => {
            // SAFETY: the kernel filled an AF_INET address, so ss holds a sockaddr_in.
            let sin =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SockAddr {
                family,
                address: ip.to_string(),
                port: Some(u16::from_be(sin.sin_port)),
            })
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel filled an AF_INET6 address, so ss holds a sockaddr_in6.
            let sin6 =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            // kept as the kernel has it ('::ffff:127.0.0.1'), as Node's socket.remoteAddress
            let address = ip.to_string();
            Some(SockAddr {
                family,
                address,
                port: Some(u16::from_be(sin6.sin6_port)),
            })
        }
        libc::AF_UNIX => {
            // SAFETY: the kernel filled an AF_UNIX address, so ss holds a sockaddr_un.
            let sun =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_un>() };
            let header = std::mem::size_of::<libc::sa_family_t>();
            let n = (len as usize)
                .saturating_sub(header)
                .min(sun.sun_path.len());
            let bytes: Vec<u8> = sun.sun_path[..n].iter().map(|&c| c as u8).collect();
            // shown as ss shows it ('@' for NULs), the same text fds() gives
            let address = crate::parse::sockdiag::unix_name(&bytes).unwrap_or_default();
            Some(SockAddr {
                family,
                address,
                port: None,
            })
        }
        _ => None,
    }
}

/// getsockname(2) (peer = false) or getpeername(2) (peer = true), taken apart.
/// Err(ENOTCONN) from getpeername for an unconnected socket.
pub fn sock_addr(fd: i32, peer: bool) -> SysResult<Option<SockAddr>> {
    // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let p = (&mut ss as *mut libc::sockaddr_storage).cast();
    let rc = if peer {
        // SAFETY: p points to ss, writable for len bytes; len is a valid in/out length.
        unsafe { libc::getpeername(fd, p, &mut len) }
    } else {
        // SAFETY: p points to ss, writable for len bytes; len is a valid in/out length.
        unsafe { libc::getsockname(fd, p, &mut len) }
    };
    if rc != 0 {
        return Err(last_errno());
    }
    Ok(sockaddr_parts(&ss, len))
}

/// getpeername(2) as text; Err(ENOTCONN) for an unconnected socket.
pub fn peer_name(fd: i32) -> SysResult<Option<String>> {
    Ok(sock_addr(fd, true)?.map(|a| a.text()))
}

/// getsockname(2) as text.
pub fn sock_name(fd: i32) -> SysResult<Option<String>> {
    Ok(sock_addr(fd, false)?.map(|a| a.text()))
}

/// getsockopt(2) of an int-sized option (SO_TYPE, SO_SNDBUF, …).
pub fn getsockopt_int(fd: i32, level: i32, name: i32) -> SysResult<i32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: v is a writable c_int and len says exactly its size.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        Err(last_errno())
    } else {
        Ok(v)
    }
}

/// getsockopt(2) into a byte buffer; returns the length the kernel wrote (TCP_INFO: the kernel
/// copies min(buf.len(), sizeof its struct), so older kernels return fewer bytes).
pub fn getsockopt_bytes(fd: i32, level: i32, name: i32, buf: &mut [u8]) -> SysResult<usize> {
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: buf is writable for len bytes and len is a valid in/out length.
    let rc = unsafe { libc::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len) };
    if rc != 0 {
        Err(last_errno())
    } else {
        Ok((len as usize).min(buf.len()))
    }
}

/// SO_MEMINFO: the socket's memory counters, u32[SK_MEMINFO_VARS] (Linux 4.6).
pub const SO_MEMINFO: i32 = 55;

/// SIOCINQ (= FIONREAD): bytes readable now (TCP: unread data; UDP: size of the next datagram).
pub const SIOCINQ: libc::c_ulong = 0x541B;
/// SIOCOUTQ (= TIOCOUTQ): bytes in the send queue, sent-but-unacked included (TCP).
pub const SIOCOUTQ: libc::c_ulong = 0x5411;
/// SIOCOUTQNSD: bytes in the send queue not yet sent (TCP only).
pub const SIOCOUTQNSD: libc::c_ulong = 0x894B;

/// ioctl(2) that writes one int (SIOCINQ, SIOCOUTQ, SIOCOUTQNSD).
pub fn ioctl_int(fd: i32, request: libc::c_ulong) -> SysResult<i32> {
    let mut v: libc::c_int = 0;
    // SAFETY: these requests write exactly one c_int through the pointer, which is writable.
    let rc = unsafe { libc::ioctl(fd, request as _, &mut v as *mut libc::c_int) };
    if rc != 0 {
        Err(last_errno())
    } else {
        Ok(v)
    }
}

/// poll(2) with timeout 0: would a write be accepted now (POLLOUT)?
pub fn poll_writable(fd: i32) -> SysResult<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: p is one valid, writable pollfd; timeout 0 never blocks.
    let rc = unsafe { libc::poll(&mut p, 1, 0) };
    if rc < 0 {
        return Err(last_errno());
    }
    if p.revents & libc::POLLNVAL != 0 {
        return Err(libc::EBADF);
    }
    Ok(p.revents & libc::POLLOUT != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_text_shows_mapped_ipv4_as_ipv4_and_brackets_ipv6() {
        let a = |family, address: &str, port| SockAddr {
            family,
            address: address.to_string(),
            port,
        };
        assert_eq!(
            a(libc::AF_INET, "127.0.0.1", Some(80)).text(),
            "127.0.0.1:80"
        );
        assert_eq!(a(libc::AF_INET6, "::1", Some(443)).text(), "[::1]:443");
        assert_eq!(
            a(libc::AF_INET6, "::ffff:10.0.0.5", Some(5432)).text(),
            "10.0.0.5:5432"
        );
        assert_eq!(
            a(libc::AF_UNIX, "/run/app.sock", None).text(),
            "unix:/run/app.sock"
        );
        assert_eq!(a(libc::AF_UNIX, "@abs", None).text(), "unix:@abs");
        assert_eq!(a(libc::AF_UNIX, "", None).text(), "unix:(unnamed)");
    }
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

/// st_mode and st_ino of what a descriptor refers to.
#[derive(Debug, Clone, Copy)]
pub struct ModeIno {
    pub mode: u32,
    pub ino: u64,
    pub dev: u64,
}

/// fstat(2) of one of this process's own descriptors.
pub fn fstat_fd(fd: i32) -> SysResult<ModeIno> {
    // SAFETY: stat is plain old data; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is a valid, writable stat; fstat of any fd number has no side effects.
    let rc = unsafe { libc::fstat(fd, &mut st) };
    if rc != 0 {
        return Err(last_errno());
    }
    Ok(ModeIno {
        mode: st.st_mode,
        ino: st.st_ino,
        dev: st.st_dev,
    })
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
    Ok(ModeIno {
        mode: st.st_mode,
        ino: st.st_ino,
        dev: st.st_dev,
    })
}

/// Reads the whole file `name` (NUL-terminated) in `dir` into `buf` (cleared first, grown as
/// needed): openat, read until EOF, close.
pub fn read_file_at(dir: &DirFd, name: &[u8], buf: &mut Vec<u8>) -> SysResult<()> {
    if name.last() != Some(&0) {
        return Err(libc::EINVAL);
    }
    buf.clear();
    // SAFETY: dir is open and name is NUL-terminated (checked above).
    let fd = unsafe {
        libc::openat(
            dir.raw(),
            name.as_ptr().cast(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(last_errno());
    }
    let result = loop {
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(buf.capacity().max(4096));
        }
        let spare = buf.spare_capacity_mut();
        // SAFETY: fd is open (closed below); spare is writable for spare.len() bytes.
        let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), spare.len()) };
        if n < 0 {
            let e = last_errno();
            if e == libc::EINTR {
                continue;
            }
            break Err(e);
        }
        if n == 0 {
            break Ok(());
        }
        let len = buf.len() + n as usize;
        // SAFETY: read() initialised n more bytes right after the current length.
        unsafe { buf.set_len(len) };
    };
    // SAFETY: fd was opened above and is closed exactly once.
    unsafe { libc::close(fd) };
    result
}

/// getsockopt(SO_DOMAIN) of one of this process's own sockets: AF_INET, AF_NETLINK, ...
pub fn socket_domain(fd: i32) -> SysResult<i32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: v is writable for len bytes; getsockopt of SO_DOMAIN only reads socket state.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        Err(last_errno())
    } else {
        Ok(v)
    }
}

/// A NETLINK_SOCK_DIAG socket, closed on drop.
pub struct NetlinkSocket {
    fd: libc::c_int,
}

impl NetlinkSocket {
    pub fn sock_diag() -> SysResult<NetlinkSocket> {
        // SAFETY: socket(2) with constant arguments has no memory preconditions.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            Err(last_errno())
        } else {
            Ok(NetlinkSocket { fd })
        }
    }

    pub fn raw(&self) -> libc::c_int {
        self.fd
    }

    /// Sends one request to the kernel (netlink address 0).
    pub fn send(&self, msg: &[u8]) -> SysResult<()> {
        // SAFETY: sockaddr_nl is plain old data; all-zero addresses the kernel.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        loop {
            // SAFETY: fd is open; msg is readable for its length; addr is a valid sockaddr_nl.
            let n = unsafe {
                libc::sendto(
                    self.fd,
                    msg.as_ptr().cast(),
                    msg.len(),
                    0,
                    (&addr as *const libc::sockaddr_nl).cast(),
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if n >= 0 {
                return Ok(());
            }
            let e = last_errno();
            if e != libc::EINTR {
                return Err(e);
            }
        }
    }

    /// Receives one datagram into buf; returns its length.
    pub fn recv(&self, buf: &mut [u8]) -> SysResult<usize> {
        loop {
            // SAFETY: fd is open and buf is writable for buf.len() bytes.
            let n = unsafe { libc::recv(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = last_errno();
            if e != libc::EINTR {
                return Err(e);
            }
        }
    }
}

impl Drop for NetlinkSocket {
    fn drop(&mut self) {
        // SAFETY: fd was opened by sock_diag() and is closed exactly once, here.
        unsafe { libc::close(self.fd) };
    }
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
        // SAFETY: stat is plain old data; all-zero is valid.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fds[0] was just opened by pipe2 and st is writable.
        let ok = unsafe { libc::fstat(fds[0], &mut st) } == 0;
        for fd in fds {
            // SAFETY: both ends were opened by pipe2 above and are closed exactly once.
            unsafe { libc::close(fd) };
        }
        ok.then_some(st.st_dev)
    })
}

/// Test support: runs `child` in a fork(2)ed child of this (multithreaded) test process and
/// returns its exit code (None when it did not exit normally or fork failed). The child ends
/// with _exit, so it runs no destructor or atexit handler of the parent's state.
#[cfg(test)]
pub fn fork_and_wait(child: impl FnOnce() -> i32) -> Option<i32> {
    // SAFETY: fork has no memory-safety preconditions; the child only runs `child` (which the
    // tests keep to what is sound after fork in a glibc process: malloc and new threads are)
    // and then _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return None;
    }
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
        // SAFETY: _exit ends the child at once; nothing of the parent's is left to flush.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: pid is our child; status is writable.
    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
    (rc == pid && libc::WIFEXITED(status)).then(|| libc::WEXITSTATUS(status))
}
