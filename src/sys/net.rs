//! Sockets: addresses, options, queue ioctls, writability, and the NETLINK_SOCK_DIAG socket.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::SysResult;
use crate::error::last_errno;

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
    fd: OwnedFd,
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
            // SAFETY: fd was just opened by socket(2) and nothing else owns it.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            Ok(NetlinkSocket { fd })
        }
    }

    pub fn raw(&self) -> libc::c_int {
        self.fd.as_raw_fd()
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
                    self.fd.as_raw_fd(),
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
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
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
