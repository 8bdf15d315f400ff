//! socketState(): what the kernel holds for one socket — buffer sizes (getsockopt SO_SNDBUF /
//! SO_RCVBUF), queues (ioctl SIOCOUTQ / SIOCOUTQNSD / SIOCINQ), writability (poll POLLOUT),
//! endpoints (getsockname / getpeername) and TCP_INFO.
//!
//! Numbers go into a Float64Array the JS layer reuses (NaN = the kernel did not give it); only
//! the endpoint text crosses napi, as two strings (a unix path may hold any byte but NUL, so no
//! separator would do), and not at all when the JS layer already knows it (`tcpQueuesOnly`).
//! lib/probes/socket.js builds the object and the verdict.

use napi::bindgen_prelude::Float64ArraySlice;
use napi::Result;
use napi_derive::napi;

use crate::error::{arg_error, sys_error};
use crate::layout::{socket as slot, socket_len as state_len, SOCKET_TCP};
use crate::parse::tcp_info;
use crate::sys;

fn num(r: sys::SysResult<i32>) -> f64 {
    r.map_or(f64::NAN, |v| v as f64)
}

/// Fills `out` for `fd` and returns the [local, remote] address text (either empty when the
/// socket has none). Only the first call can fail the whole thing (EBADF, ENOTSOCK); a later
/// refusal leaves that slot NaN.
pub fn state_into(
    fd: i32,
    out: &mut [f64],
) -> std::result::Result<[String; 2], (&'static str, i32)> {
    let len = state_len();
    out[..len].fill(f64::NAN);
    // getsockname first: it says EBADF / ENOTSOCK for what is not a socket, and gives the family
    let local = sys::sock_addr(fd, false).map_err(|e| ("getsockname", e))?;
    let family = local.as_ref().map_or_else(
        || sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN).unwrap_or(-1),
        |a| a.family,
    );
    out[slot::FAMILY] = family as f64;
    out[slot::TYPE] = num(sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE));
    let inet = family == libc::AF_INET || family == libc::AF_INET6;
    let protocol = if inet {
        sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL).unwrap_or(-1)
    } else {
        -1
    };
    out[slot::PROTOCOL] = protocol as f64;
    let tcp = inet && protocol == libc::IPPROTO_TCP;

    if tcp {
        // a refused TCP_INFO leaves the tcp slots NaN; the rest of the answer still stands
        let _ = tcp_queues_into(fd, out);
    } else {
        buffer_sizes_into(fd, out);
        out[slot::OUTQ] = num(sys::ioctl_int(fd, sys::SIOCOUTQ));
        out[slot::INQ] = num(sys::ioctl_int(fd, sys::SIOCINQ));
        out[slot::WRITABLE] = sys::poll_writable(fd).map_or(f64::NAN, |w| w as u8 as f64);
        out[slot::LISTENING] = num(sys::getsockopt_int(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
        ));
    }

    let mut text = [String::new(), String::new()];
    if let Some(a) = local {
        out[slot::HAS_LOCAL] = 1.0;
        out[slot::LOCAL_PORT] = a.port.map_or(f64::NAN, f64::from);
        text[0] = a.address;
    } else {
        out[slot::HAS_LOCAL] = 0.0;
    }
    match sys::sock_addr(fd, true) {
        Ok(Some(a)) => {
            out[slot::HAS_REMOTE] = 1.0;
            out[slot::REMOTE_PORT] = a.port.map_or(f64::NAN, f64::from);
            text[1] = a.address;
        }
        // ENOTCONN: no peer; any other refusal: not known either
        _ => out[slot::HAS_REMOTE] = 0.0,
    }
    Ok(text)
}

/// SO_SNDBUF and SO_RCVBUF in one syscall: SO_MEMINFO (Linux 4.6) returns sk_rcvbuf and
/// sk_sndbuf, the very values those two options read. Older kernels: the two getsockopts.
fn buffer_sizes_into(fd: i32, out: &mut [f64]) {
    // SK_MEMINFO_RMEM_ALLOC, RCVBUF, WMEM_ALLOC, SNDBUF, … (include/uapi/linux/sock_diag.h)
    let mut mem = [0u8; 4 * 9];
    match sys::getsockopt_bytes(fd, libc::SOL_SOCKET, sys::SO_MEMINFO, &mut mem) {
        Ok(n) if n >= 16 => {
            let word = |i: usize| {
                u32::from_ne_bytes([mem[i * 4], mem[i * 4 + 1], mem[i * 4 + 2], mem[i * 4 + 3]])
            };
            out[slot::RCVBUF] = word(1) as f64;
            out[slot::SNDBUF] = word(3) as f64;
        }
        _ => {
            out[slot::SNDBUF] = num(sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF));
            out[slot::RCVBUF] = num(sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF));
        }
    }
}

/// The per-call part for a TCP socket: buffers, queues, writability and TCP_INFO — five
/// syscalls. Used alone (`tcp_queues_only`) when the JS layer already knows the socket's
/// identity (an established TCP socket's endpoints never change). Fills what it can and then
/// returns TCP_INFO's refusal, if any (EBADF, ENOTSOCK, EOPNOTSUPP for a socket that is not TCP).
pub fn tcp_queues_into(fd: i32, out: &mut [f64]) -> sys::SysResult<()> {
    let len = state_len();
    let mut info = [0u8; 512];
    let got = sys::getsockopt_bytes(fd, libc::IPPROTO_TCP, libc::TCP_INFO, &mut info);
    let n = *got.as_ref().unwrap_or(&0);
    if got.is_ok() {
        out[slot::TCP_INFO_BYTES] = n as f64;
        tcp_info::decode_into(&info[..n], &mut out[SOCKET_TCP..len]);
    }
    buffer_sizes_into(fd, out);
    out[slot::OUTQ] = num(sys::ioctl_int(fd, sys::SIOCOUTQ));
    // tcpi_notsent_bytes is the kernel's own SIOCOUTQNSD value (write_seq - snd_nxt, both
    // under the socket lock); the ioctl only where TCP_INFO is too short to carry it
    let notsent = out[SOCKET_TCP + tcp_info::NOTSENT];
    out[slot::OUTQNSD] = if notsent.is_nan() {
        num(sys::ioctl_int(fd, sys::SIOCOUTQNSD))
    } else {
        notsent
    };
    out[slot::INQ] = num(sys::ioctl_int(fd, sys::SIOCINQ));
    out[slot::WRITABLE] = sys::poll_writable(fd).map_or(f64::NAN, |w| w as u8 as f64);
    got.map(|_| ())
}

#[napi(js_name = "socketStateInto", catch_unwind)]
pub fn js_socket_state_into(
    fd: i32,
    mut out: Float64ArraySlice,
    tcp_queues_only: bool,
) -> Result<Option<Vec<String>>> {
    if fd < 0 {
        return Err(arg_error(
            "ERR_OUT_OF_RANGE",
            &format!("The value of \"fd\" is out of range. It must be >= 0. Received {fd}"),
        ));
    }
    let slice = sys::napi::f64_slice_mut(&mut out);
    if slice.len() < state_len() {
        return Err(arg_error(
            "ERR_OUT_OF_RANGE",
            "socket state buffer is shorter than the socket state layout",
        ));
    }
    if tcp_queues_only {
        slice[..state_len()].fill(f64::NAN);
        return match tcp_queues_into(fd, slice) {
            Ok(()) => Ok(None),
            Err(errno) => Err(sys_error("getsockopt", errno, "")),
        };
    }
    match state_into(fd, slice) {
        Ok(text) => Ok(Some(text.into())),
        Err((syscall, errno)) => Err(sys_error(syscall, errno, "")),
    }
}

/// A unix socket's [receive queue, send queue] from unix_diag (SIOCINQ refuses listeners):
/// for a listener [connections waiting for accept, backlog], ss -xl's Recv-Q and Send-Q.
#[napi(js_name = "unixQueues", catch_unwind)]
pub fn js_unix_queues(fd: i32) -> Result<Vec<f64>> {
    if fd < 0 {
        return Err(arg_error(
            "ERR_OUT_OF_RANGE",
            &format!("The value of \"fd\" is out of range. It must be >= 0. Received {fd}"),
        ));
    }
    let st = sys::fstat_fd(fd).map_err(|e| sys_error("fstat", e, ""))?;
    let (r, w) = crate::sockdiag::unix_queues(st.ino).map_err(|e| sys_error("sock_diag", e, ""))?;
    Ok(vec![r as f64, w as f64])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    #[test]
    fn unix_names_keep_newlines_and_show_nuls_as_ss_does() {
        use std::os::unix::net::UnixListener;
        let dir = std::env::temp_dir().join(format!("ks-sock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a\nb.sock");
        let l = UnixListener::bind(&path).unwrap();
        let mut out = vec![0.0; state_len()];
        let text = state_into(l.as_raw_fd(), &mut out).unwrap();
        assert_eq!(text[0], path.to_str().unwrap());
        assert_eq!(text[1], "");
        let (pending, backlog) =
            crate::sockdiag::unix_queues(sys::fstat_fd(l.as_raw_fd()).unwrap().ino).unwrap();
        assert_eq!(pending, 0);
        assert!(backlog > 0);
        drop(l);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn so_meminfo_gives_the_same_sizes_as_so_sndbuf_and_so_rcvbuf() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let fd = c.as_raw_fd();
        let mut out = vec![f64::NAN; state_len()];
        buffer_sizes_into(fd, &mut out);
        let snd = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF).unwrap();
        let rcv = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF).unwrap();
        assert_eq!(out[slot::SNDBUF], snd as f64);
        assert_eq!(out[slot::RCVBUF], rcv as f64);
    }

    #[test]
    fn full_and_queue_only_paths_agree_on_a_quiet_connection() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (_peer, _) = l.accept().unwrap();
        c.write_all(&[1u8; 1000]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let fd = c.as_raw_fd();
        let mut full = vec![0.0; state_len()];
        let text = state_into(fd, &mut full).unwrap();
        assert_eq!(text, ["127.0.0.1", "127.0.0.1"]);
        assert_eq!(full[slot::FAMILY], libc::AF_INET as f64);
        assert_eq!(full[slot::PROTOCOL], libc::IPPROTO_TCP as f64);
        assert_eq!(
            full[slot::REMOTE_PORT],
            l.local_addr().unwrap().port() as f64
        );
        assert_eq!(
            full[slot::OUTQ],
            0.0,
            "the peer's kernel acked the 1000 bytes"
        );
        assert_eq!(full[slot::OUTQNSD], 0.0);
        assert_eq!(full[slot::WRITABLE], 1.0);
        assert!(full[slot::TCP_INFO_BYTES] >= 104.0);
        let mut quick = vec![0.0; state_len()];
        tcp_queues_into(fd, &mut quick).unwrap();
        for s in [
            slot::SNDBUF,
            slot::RCVBUF,
            slot::OUTQ,
            slot::OUTQNSD,
            slot::INQ,
            slot::WRITABLE,
        ] {
            assert_eq!(quick[s], full[s], "slot {s}");
        }
        // not a socket / closed: the errno of the first call
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        assert_eq!(
            state_into(f.as_raw_fd(), &mut full),
            Err(("getsockname", libc::ENOTSOCK))
        );
        assert_eq!(
            tcp_queues_into(f.as_raw_fd(), &mut quick),
            Err(libc::ENOTSOCK)
        );
    }
}
