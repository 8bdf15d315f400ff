//! The sockets of a network namespace, keyed by inode: one NETLINK_SOCK_DIAG socket and five
//! dumps (TCP and UDP over IPv4 and IPv6, unix), each falling back to its /proc/net table when
//! the kernel refuses netlink (seccomp'd sandboxes, missing *_diag modules). Reused by fds()
//! and meant for socketState() and `kernelscope inspect <pid>`.

use std::collections::{HashMap, HashSet};

use crate::parse::sockdiag::{
    decode_batch, inet_request, link_unix_peers, parse_proc_net_inet, parse_proc_net_unix,
    unix_request, Batch, SocketInfo, AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP,
};
use crate::sys::{self, NetlinkSocket};

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

pub struct SocketTable {
    pub sockets: HashMap<u64, SocketInfo>,
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

/// The errno's name ("EPERM"), or "errno N" for the rare ones.
pub fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::ENOENT => "ENOENT",
        libc::EINVAL => "EINVAL",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::ENOBUFS => "ENOBUFS",
        libc::ENOMEM => "ENOMEM",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        _ => return format!("errno {e}"),
    };
    name.to_string()
}

/// One dump over an open netlink socket. Err(errno) when the kernel refuses it.
fn netlink_dump(
    nl: &NetlinkSocket,
    dump: &Dump,
    seq: u32,
    buf: &mut [u8],
    out: &mut Vec<SocketInfo>,
    keep: &dyn Fn(u64) -> bool,
) -> Result<(), i32> {
    let req = if dump.family == 1 {
        unix_request(seq)
    } else {
        inet_request(dump.family, dump.protocol, seq)
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
    let text = std::fs::read(&path).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        format!("{path} {}", errno_name(errno))
    })?;
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

/// Every TCP, UDP and unix socket of the network namespace of `pid` (None: this process),
/// keyed by inode; with `wanted`, inet sockets outside that set are left out early. Never
/// fails as a whole: dumps that fail are listed in `failures`.
pub fn socket_table(pid: Option<i32>, mode: Mode, wanted: Option<&HashSet<u64>>) -> SocketTable {
    let keep = |ino: u64| wanted.is_none_or(|w| w.contains(&ino));
    let use_netlink =
        mode == Mode::Auto && pid.is_none_or(|p| p == sys::getpid() || !other_netns(p));
    let mut netlink_error: Option<i32> = None;
    let nl = if use_netlink {
        match NetlinkSocket::sock_diag() {
            Ok(nl) => Some(nl),
            Err(e) => {
                netlink_error = Some(e);
                None
            }
        }
    } else {
        None
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut found: Vec<SocketInfo> = Vec::with_capacity(256);
    let mut failures = Vec::new();
    let mut sources = [None; 5];
    for (i, dump) in DUMPS.iter().enumerate() {
        let mut why = Vec::new();
        if let Some(nl) = &nl {
            match netlink_dump(nl, dump, i as u32 + 1, &mut buf, &mut found, &keep) {
                Ok(()) => {
                    sources[i] = Some(Source::Netlink);
                    continue;
                }
                Err(e) => why.push(format!("netlink {}", errno_name(e))),
            }
        } else if let Some(e) = netlink_error {
            why.push(format!("netlink {}", errno_name(e)));
        }
        if mode == Mode::Off {
            failures.push(format!(
                "{}: disabled (KERNELSCOPE_SOCKDIAG=off)",
                dump.name
            ));
            continue;
        }
        match proc_net(pid, dump, &mut found) {
            Ok(()) => sources[i] = Some(Source::ProcNet),
            Err(e) => {
                why.push(e);
                failures.push(format!("{}: {}", dump.name, why.join(", ")));
            }
        }
    }
    let mut sockets = HashMap::with_capacity(found.len());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_listening_socket_both_ways() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        for mode in [Mode::Auto, Mode::ProcNet] {
            let t = socket_table(None, mode, None);
            let s = t
                .sockets
                .values()
                .find(|s| s.protocol == "tcp" && s.local_port == Some(port))
                .expect("listener in the table");
            assert_eq!(s.state, "listen");
            assert_eq!(s.local_address.as_deref(), Some("127.0.0.1"));
        }
    }
}
