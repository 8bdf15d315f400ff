//! socketState(): what the kernel holds for one socket — buffer sizes (getsockopt SO_SNDBUF /
//! SO_RCVBUF), queues (ioctl SIOCOUTQ / SIOCOUTQNSD / SIOCINQ), writability (poll POLLOUT),
//! endpoints (getsockname / getpeername) and TCP_INFO.
//!
//! Numbers go into a Float64Array the JS layer reuses (NaN = the kernel did not give it); only
//! the endpoint text crosses napi as one string. lib/socket.js builds the object and the verdict.

use napi::bindgen_prelude::Float64ArraySlice;
use napi::Result;
use napi_derive::napi;

use crate::error::{arg_error, sys_error};
use crate::parse::tcp_info;
use crate::sys;

/// Slot layout of the state buffer; lib/socket.js reads the same indices.
pub mod slot {
    pub const FAMILY: usize = 0;
    pub const TYPE: usize = 1;
    pub const PROTOCOL: usize = 2;
    pub const LOCAL_PORT: usize = 3;
    pub const REMOTE_PORT: usize = 4;
    pub const HAS_LOCAL: usize = 5;
    pub const HAS_REMOTE: usize = 6;
    pub const LISTENING: usize = 7;
    pub const SNDBUF: usize = 8;
    pub const RCVBUF: usize = 9;
    pub const OUTQ: usize = 10;
    pub const OUTQNSD: usize = 11;
    pub const INQ: usize = 12;
    pub const WRITABLE: usize = 13;
    pub const TCP_INFO_BYTES: usize = 14;
    /// First of tcp_info::FIELDS.len() slots, in FIELDS order.
    pub const TCP: usize = 15;
}

/// Buffer length the JS layer must allocate.
pub fn state_len() -> usize {
    slot::TCP + tcp_info::FIELDS.len()
}

fn num(r: sys::SysResult<i32>) -> f64 {
    r.map_or(f64::NAN, |v| v as f64)
}

/// Fills `out` for `fd` and returns "local\nremote" address text (either part empty when the
/// socket has none). Only the first call can fail the whole thing (EBADF, ENOTSOCK); a later
/// refusal leaves that slot NaN.
pub fn state_into(fd: i32, out: &mut [f64]) -> std::result::Result<String, (&'static str, i32)> {
    let len = state_len();
    out[..len].fill(f64::NAN);
    // getsockname first: it says EBADF / ENOTSOCK for what is not a socket, and gives the family
    let local = sys::sock_addr(fd, false).map_err(|e| ("getsockname", e))?;
    let family = local.as_ref().map_or_else(
        || sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN).unwrap_or(-1),
        |a| a.family,
    );
    out[slot::FAMILY] = family as f64;
    let sock_type = num(sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE));
    out[slot::TYPE] = sock_type;
    let inet = family == libc::AF_INET || family == libc::AF_INET6;
    let protocol = if inet {
        sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL).unwrap_or(-1)
    } else {
        -1
    };
    out[slot::PROTOCOL] = protocol as f64;
    let tcp = inet && protocol == libc::IPPROTO_TCP;

    out[slot::SNDBUF] = num(sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF));
    out[slot::RCVBUF] = num(sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF));
    out[slot::OUTQ] = num(sys::ioctl_int(fd, sys::SIOCOUTQ));
    if tcp {
        out[slot::OUTQNSD] = num(sys::ioctl_int(fd, sys::SIOCOUTQNSD));
    }
    out[slot::INQ] = num(sys::ioctl_int(fd, sys::SIOCINQ));
    out[slot::WRITABLE] = sys::poll_writable(fd).map_or(f64::NAN, |w| w as u8 as f64);

    if tcp {
        let mut info = [0u8; 512];
        if let Ok(n) = sys::getsockopt_bytes(fd, libc::IPPROTO_TCP, libc::TCP_INFO, &mut info) {
            out[slot::TCP_INFO_BYTES] = n as f64;
            tcp_info::decode_into(&info[..n], &mut out[slot::TCP..len]);
        }
    } else {
        out[slot::LISTENING] = num(sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN));
    }

    let mut text = String::with_capacity(64);
    if let Some(a) = &local {
        out[slot::HAS_LOCAL] = 1.0;
        out[slot::LOCAL_PORT] = a.port.map_or(f64::NAN, f64::from);
        text.push_str(&a.address);
    } else {
        out[slot::HAS_LOCAL] = 0.0;
    }
    text.push('\n');
    match sys::sock_addr(fd, true) {
        Ok(Some(a)) => {
            out[slot::HAS_REMOTE] = 1.0;
            out[slot::REMOTE_PORT] = a.port.map_or(f64::NAN, f64::from);
            text.push_str(&a.address);
        }
        // ENOTCONN: no peer; any other refusal: not known either
        _ => out[slot::HAS_REMOTE] = 0.0,
    }
    Ok(text)
}

#[napi(js_name = "socketStateInto", catch_unwind)]
pub fn js_socket_state_into(fd: i32, mut out: Float64ArraySlice) -> Result<String> {
    if fd < 0 {
        return Err(arg_error(
            "ERR_OUT_OF_RANGE",
            &format!("The value of \"fd\" is out of range. It must be >= 0. Received {fd}"),
        ));
    }
    // SAFETY: the call is synchronous on the JS thread, so no JS code can touch the array while
    // this slice is alive.
    let slice = unsafe { out.as_mut() };
    if slice.len() < state_len() {
        return Err(arg_error(
            "ERR_OUT_OF_RANGE",
            "socket state buffer is shorter than the socket state layout",
        ));
    }
    state_into(fd, slice).map_err(|(syscall, errno)| sys_error(syscall, errno, ""))
}

/// The layout lib/socket.js builds its objects from: TCP_INFO field names in slot order, and
/// the first TCP slot and the buffer length, so the two sides cannot drift apart.
#[napi(object)]
pub struct SocketLayout {
    pub tcp_fields: Vec<String>,
    pub tcp_slot: u32,
    pub len: u32,
    /// ss(8) state names indexed by tcpi_state.
    pub tcp_states: Vec<String>,
}

#[napi(js_name = "socketLayout", catch_unwind)]
pub fn socket_layout() -> SocketLayout {
    SocketLayout {
        tcp_fields: tcp_info::FIELDS.iter().map(|f| f.name.to_string()).collect(),
        tcp_slot: slot::TCP as u32,
        len: state_len() as u32,
        tcp_states: (0..=13u8)
            .map(|s| tcp_info::state_name(s).to_string())
            .collect(),
    }
}
