//! Completing a chunk: the strings in `extra` that need more than the walk — fdinfo, and a
//! socket's details from the socket table (or why there are none).

use crate::layout::{fds_bit as bit, fds_col as col};
use crate::parse::fdinfo::{parse_fdinfo, FdType};
use crate::parse::tcp_info;
use crate::sockdiag::SocketTable;
use crate::sys::{self, fd_gate, DirFd};

use super::describe::fd_name;
use super::pack::{fdinfo_json, num, write_socket, Packed};
use super::schedule::Scratch;
use super::ScanOptions;

/// The strings in `extra` for every record of `part`: fdinfo, socket details.
pub(super) fn complete(
    part: &mut Packed,
    opts: &ScanOptions,
    own: bool,
    info_dir: Option<&DirFd>,
    table: Option<&SocketTable>,
    s: &mut Scratch,
) {
    // the fdinfo files are descriptors of ours that no walk of our own table must see
    let _hold = info_dir.map(|_| fd_gate::hold());
    for i in 0..part.len() {
        if part.bits(i) & bit::ERROR != 0 {
            continue;
        }
        let kind = part.kind(i);
        let mut late_error = None;
        let mut info = None;
        if let Some(info_dir) = info_dir {
            fd_name(&mut s.name, part.fd(i));
            match sys::read_file_at(info_dir, &s.name, &mut s.info) {
                Ok(()) => {
                    let parsed = parse_fdinfo(&s.info);
                    // a different inode here means the number was closed and reused
                    // between the readlink and this read
                    if let (Some(a), Some(b)) = (parsed.ino, part.inode(i)) {
                        if a != b {
                            late_error = Some("replaced during the scan");
                        }
                    }
                    info = Some(parsed);
                }
                Err(e) if e == libc::ENOENT || e == libc::EBADF => {
                    late_error = Some("closed during the scan");
                }
                Err(_) => {}
            }
        }
        if let Some(e) = late_error {
            part.extra.push(Some(e));
            part.add_bits(i, bit::LATE_ERROR);
        }
        if let (true, FdType::Socket, None) = (opts.sockets, kind, late_error) {
            socket_fields(part, i, table, own);
        }
        if let Some(info) = info {
            part.extra.push(Some(&fdinfo_json(&info, kind)));
            part.add_bits(i, bit::FDINFO);
        }
    }
    part.complete = true;
}

/// A socket's details (or why there are none) into `out.extra` and its numeric columns.
pub(super) fn socket_fields(out: &mut Packed, i: usize, table: Option<&SocketTable>, own: bool) {
    let Some(ino) = out.inode(i) else { return };
    if let Some(s) = table.and_then(|t| t.sockets.get(&ino)) {
        write_socket(&mut out.extra, s);
        out.set(i, col::LOCAL_PORT, num(s.local_port.map(u64::from)));
        out.set(i, col::REMOTE_PORT, num(s.remote_port.map(u64::from)));
        let send_q = match s.send_queue_bytes {
            // /proc/net/tcp has no listener backlog: TCP_INFO of our own has it
            None if own && s.state == "listen" && s.protocol == "tcp" => {
                listener_backlog(out.fd(i), ino)
            }
            q => q,
        };
        out.set(i, col::SEND_Q, num(send_q));
        out.set(i, col::RECV_Q, num(s.recv_queue_bytes));
        out.add_bits(i, bit::SOCKET);
        return;
    }
    let failures = table.map_or(&[][..], |t| &t.failures[..]);
    let why = if !failures.is_empty() {
        format!("socket tables unavailable: {}", failures.join("; "))
    } else if own {
        match sys::socket_domain(out.fd(i)) {
            Ok(d) => format!("not in the socket dumps ({} socket)", domain_name(d)),
            Err(_) => "closed during the scan".to_string(),
        }
    } else {
        "not in the socket dumps (another family, or closed during the scan)".to_string()
    };
    out.extra.push(Some(&why));
    out.add_bits(i, bit::SOCKET_ERROR);
}

/// The backlog of our own TCP listener `fd` (TCP_INFO tcpi_sacked of a listener is
/// sk_max_ack_backlog, what netlink's idiag_wqueue and ss -lt's Send-Q give), when `fd` is
/// still that socket.
fn listener_backlog(fd: i32, ino: u64) -> Option<u64> {
    let mut info = [0u8; 256];
    let n = sys::getsockopt_bytes(fd, libc::IPPROTO_TCP, libc::TCP_INFO, &mut info).ok()?;
    let backlog = tcp_info::get(&info[..n], "sacked")?;
    (sys::fstat_fd(fd).ok()?.ino == ino).then_some(backlog as u64)
}

/// Families the socket dumps cover.
pub(super) fn dumped_domain(d: i32) -> bool {
    d == libc::AF_INET || d == libc::AF_INET6 || d == libc::AF_UNIX
}

pub(super) fn domain_name(d: i32) -> String {
    match d {
        libc::AF_UNIX => "AF_UNIX".into(),
        libc::AF_INET => "AF_INET".into(),
        libc::AF_INET6 => "AF_INET6".into(),
        libc::AF_NETLINK => "AF_NETLINK".into(),
        libc::AF_PACKET => "AF_PACKET".into(),
        libc::AF_VSOCK => "AF_VSOCK".into(),
        libc::AF_ALG => "AF_ALG".into(),
        other => format!("family {other}"),
    }
}
