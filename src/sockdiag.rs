//! The sockets of a network namespace, keyed by inode: one NETLINK_SOCK_DIAG socket and its
//! dumps (TCP over both families in one TCPDIAG_GETSOCK dump where the kernel serves it, else
//! one per family; UDP over IPv4 and IPv6; unix), each falling back to its /proc/net table
//! when the kernel refuses netlink (seccomp'd sandboxes, missing *_diag modules). Reused by
//! fds() and meant for socketState() and `kernelscope inspect <pid>`.

use crate::error::errno_name;
use crate::parse::sockdiag::{
    decode_batch, inet_request, link_unix_peers, parse_proc_net_inet, parse_proc_net_unix,
    tcp_compat_request, unix_exact_request, unix_request, Batch, InodeMap, InodeSet, SocketInfo,
    AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP,
};
use crate::sys::{self, fd_gate, NetlinkSocket};

/// Where the table came from, per dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Netlink,
    ProcNet,
}

/// Which source to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Netlink, /proc/net where netlink is refused.
    Auto,
    /// Only /proc/net (testing the fallback; another process's network namespace).
    ProcNet,
    /// Neither: what a sandbox refusing both looks like (testing; KERNELSCOPE_SOCKDIAG=off).
    Off,
}

impl Mode {
    /// The names KERNELSCOPE_SOCKDIAG takes.
    pub const NAMES: [&'static str; 3] = ["auto", "procnet", "off"];

    /// The mode named `s`; None for anything else (a typo is an error, not "auto").
    pub fn from_name(s: &str) -> Option<Mode> {
        match s {
            "auto" => Some(Mode::Auto),
            "procnet" => Some(Mode::ProcNet),
            "off" => Some(Mode::Off),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct SocketTable {
    pub sockets: InodeMap<SocketInfo>,
    /// One line per dump that failed both ways ("tcp: netlink EPERM, /proc/net/tcp EACCES").
    pub failures: Vec<String>,
    /// The source each dump used, in the order tcp, tcp6, udp, udp6, unix (None: failed).
    pub sources: [Option<Source>; 5],
}

struct Dump {
    name: &'static str,
    family: u8,
    protocol: u8,
    proc_file: &'static str,
}

const DUMPS: [Dump; 5] = [
    Dump {
        name: "tcp",
        family: AF_INET,
        protocol: IPPROTO_TCP,
        proc_file: "tcp",
    },
    Dump {
        name: "tcp6",
        family: AF_INET6,
        protocol: IPPROTO_TCP,
        proc_file: "tcp6",
    },
    Dump {
        name: "udp",
        family: AF_INET,
        protocol: IPPROTO_UDP,
        proc_file: "udp",
    },
    Dump {
        name: "udp6",
        family: AF_INET6,
        protocol: IPPROTO_UDP,
        proc_file: "udp6",
    },
    Dump {
        name: "unix",
        family: 1,
        protocol: 0,
        proc_file: "unix",
    },
];

/// One dump over an open netlink socket (`req`, or the request for `dump`). Err(errno) when
/// the kernel refuses it.
fn netlink_dump(
    nl: &NetlinkSocket,
    dump: &Dump,
    req: Option<Vec<u8>>,
    seq: u32,
    buf: &mut [u8],
    out: &mut Vec<SocketInfo>,
    keep: &dyn Fn(u64) -> bool,
) -> Result<(), i32> {
    let req = match req {
        Some(req) => req,
        None if dump.family == 1 => unix_request(seq),
        None => inet_request(dump.family, dump.protocol, seq),
    };
    nl.send(&req)?;
    let start = out.len();
    loop {
        let n = nl.recv(buf)?;
        if n == 0 {
            return Err(libc::EIO);
        }
        match decode_batch(&buf[..n], out, keep) {
            Batch::More => {}
            Batch::Done => break,
            Batch::Error(e) => {
                out.truncate(start);
                return Err(e);
            }
        }
    }
    let protocol = if dump.protocol == IPPROTO_TCP {
        "tcp"
    } else {
        "udp"
    };
    if dump.family != 1 {
        for s in &mut out[start..] {
            s.protocol = protocol;
        }
    }
    Ok(())
}

fn proc_net(pid: Option<i32>, dump: &Dump, out: &mut Vec<SocketInfo>) -> Result<(), String> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/net/{}", dump.proc_file),
        None => format!("/proc/self/net/{}", dump.proc_file),
    };
    // the file is a descriptor of ours that no walk of our own table (fds()) must see
    let hold = fd_gate::hold();
    let text = std::fs::read(&path).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        format!("{path} {}", errno_name(errno))
    })?;
    drop(hold);
    match dump.proc_file {
        "unix" => parse_proc_net_unix(&text, out),
        f => {
            let protocol = if f.starts_with("tcp") { "tcp" } else { "udp" };
            parse_proc_net_inet(&text, f.ends_with('6'), protocol, out)
        }
    }
    Ok(())
}

/// True when `pid` lives in another network namespace than this process (or that cannot be
/// told): netlink would dump the wrong namespace, its /proc/<pid>/net tables are the right one.
fn other_netns(pid: i32) -> bool {
    let ours = std::fs::metadata("/proc/self/ns/net");
    let theirs = std::fs::metadata(format!("/proc/{pid}/ns/net"));
    match (ours, theirs) {
        (Ok(a), Ok(b)) => {
            use std::os::unix::fs::MetadataExt;
            a.ino() != b.ino() || a.dev() != b.dev()
        }
        _ => true,
    }
}

/// A NETLINK_SOCK_DIAG connection for the dumps of one process's namespace, opened ahead of
/// a descriptor scan so that its own descriptor is known (and left out of the inventory).
pub struct SockDiag {
    pid: Option<i32>,
    mode: Mode,
    nl: Option<NetlinkSocket>,
    netlink_error: Option<i32>,
}

impl SockDiag {
    pub fn open(pid: Option<i32>, mode: Mode) -> SockDiag {
        let use_netlink =
            mode == Mode::Auto && pid.is_none_or(|p| p == sys::getpid() || !other_netns(p));
        let (nl, netlink_error) = if use_netlink {
            match NetlinkSocket::sock_diag() {
                Ok(nl) => (Some(nl), None),
                Err(e) => (None, Some(e)),
            }
        } else {
            (None, None)
        };
        SockDiag {
            pid,
            mode,
            nl,
            netlink_error,
        }
    }

    /// The netlink socket's descriptor, when one is open.
    pub fn raw_fd(&self) -> Option<i32> {
        self.nl.as_ref().map(NetlinkSocket::raw)
    }

    /// Every TCP, UDP and unix socket of the namespace, keyed by inode; with `wanted`, inet
    /// sockets outside that set are left out early. Never fails as a whole: dumps that fail
    /// are listed in `failures`.
    pub fn table(&self, wanted: Option<&InodeSet>) -> SocketTable {
        let keep = |ino: u64| wanted.is_none_or(|w| w.contains(&ino));
        let mut buf = vec![0u8; 64 * 1024];
        let mut found: Vec<SocketInfo> = Vec::with_capacity(256);
        let mut failures = Vec::new();
        let mut sources = [None; 5];
        // TCP over both families in one dump where the kernel still serves TCPDIAG_GETSOCK
        // (DUMPS[0] and [1] are tcp and tcp6); the two per-family dumps where it does not
        if let Some(nl) = &self.nl {
            let req = Some(tcp_compat_request(100));
            if netlink_dump(nl, &DUMPS[0], req, 100, &mut buf, &mut found, &keep).is_ok() {
                sources[0] = Some(Source::Netlink);
                sources[1] = Some(Source::Netlink);
            }
        }
        for (i, dump) in DUMPS.iter().enumerate() {
            if sources[i].is_some() {
                continue;
            }
            let mut why = Vec::new();
            if let Some(nl) = &self.nl {
                match netlink_dump(nl, dump, None, i as u32 + 1, &mut buf, &mut found, &keep) {
                    Ok(()) => {
                        sources[i] = Some(Source::Netlink);
                        continue;
                    }
                    Err(e) => why.push(format!("netlink {}", errno_name(e))),
                }
            } else if let Some(e) = self.netlink_error {
                why.push(format!("netlink {}", errno_name(e)));
            }
            if self.mode == Mode::Off {
                failures.push(format!(
                    "{}: disabled (KERNELSCOPE_SOCKDIAG=off)",
                    dump.name
                ));
                continue;
            }
            match proc_net(self.pid, dump, &mut found) {
                Ok(()) => sources[i] = Some(Source::ProcNet),
                Err(e) => {
                    why.push(e);
                    failures.push(format!("{}: {}", dump.name, why.join(", ")));
                }
            }
        }
        let mut sockets = InodeMap::with_capacity_and_hasher(found.len(), Default::default());
        for s in found {
            sockets.insert(s.inode, s);
        }
        link_unix_peers(&mut sockets);
        SocketTable {
            sockets,
            failures,
            sources,
        }
    }
}

/// One unix socket's queues by inode, from unix_diag: (receive queue, send queue); for a
/// listener, (connections waiting for accept, the backlog) — ss -xl's Recv-Q and Send-Q.
/// Err(errno) when netlink is refused or the socket is gone (ENOENT).
pub fn unix_queues(inode: u64) -> Result<(u64, u64), i32> {
    let ino = u32::try_from(inode).map_err(|_| libc::EINVAL)?;
    // a descriptor of ours for a moment, that no walk of our own table (fds()) must see
    let _hold = fd_gate::hold();
    let nl = NetlinkSocket::sock_diag()?;
    nl.send(&unix_exact_request(1, ino))?;
    let mut buf = vec![0u8; 4096];
    let n = nl.recv(&mut buf)?;
    let mut found = Vec::with_capacity(1);
    if let Batch::Error(e) = decode_batch(&buf[..n], &mut found, &|_| true) {
        return Err(e);
    }
    let s = found
        .into_iter()
        .find(|s| s.inode == inode)
        .ok_or(libc::ENOENT)?;
    match (s.recv_queue_bytes, s.send_queue_bytes) {
        (Some(r), Some(w)) => Ok((r, w)),
        _ => Err(libc::EOPNOTSUPP),
    }
}

/// Every TCP, UDP and unix socket of the network namespace of `pid` (None: this process),
/// keyed by inode; see SockDiag::table.
pub fn socket_table(pid: Option<i32>, mode: Mode, wanted: Option<&InodeSet>) -> SocketTable {
    SockDiag::open(pid, mode).table(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_listening_sockets_of_both_families_both_ways() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // IPv6 may be disabled on the host: then only IPv4 is checked
        let listener6 = std::net::TcpListener::bind("[::1]:0").ok();
        for mode in [Mode::Auto, Mode::ProcNet] {
            let t = socket_table(None, mode, None);
            assert!(t.failures.is_empty(), "{:?}", t.failures);
            let s = t
                .sockets
                .values()
                .find(|s| s.protocol == "tcp" && s.local_port == Some(port))
                .expect("listener in the table");
            assert_eq!(s.state, "listen");
            assert_eq!(s.local_text().as_deref(), Some("127.0.0.1"));
            if let Some(l6) = &listener6 {
                let port6 = l6.local_addr().unwrap().port();
                let s6 = t
                    .sockets
                    .values()
                    .find(|s| s.protocol == "tcp" && s.local_port == Some(port6))
                    .expect("IPv6 listener in the table");
                assert_eq!(s6.local_text().as_deref(), Some("::1"));
            }
        }
    }

    #[test]
    fn one_compat_dump_gives_tcp_of_both_families() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let Ok(l6) = std::net::TcpListener::bind("[::1]:0") else {
            return; // no IPv6 here
        };
        let port6 = l6.local_addr().unwrap().port();
        let nl = NetlinkSocket::sock_diag().unwrap();
        let mut buf = vec![0u8; 65536];
        let mut found = Vec::new();
        let req = Some(tcp_compat_request(1));
        netlink_dump(&nl, &DUMPS[0], req, 1, &mut buf, &mut found, &|_| true).unwrap();
        assert!(found.iter().any(
            |s| s.local_port == Some(port) && s.family == crate::parse::sockdiag::Family::Inet
        ));
        assert!(found
            .iter()
            .any(|s| s.local_port == Some(port6)
                && s.family == crate::parse::sockdiag::Family::Inet6));
    }
}
