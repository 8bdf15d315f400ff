//! Native help for `ks.sentinel()` (lib/sentinel/): a fanotify group with one FAN_OPEN mark per
//! watched file (unprivileged on Linux >= 5.13: FAN_REPORT_FID, inode marks), read without
//! blocking from the JS poll; and this process's own inet sockets with their peers (own fds +
//! getsockname/getpeername: a fraction of a millisecond, unlike a namespace-wide sock_diag dump).

use napi::Result;
use napi_derive::napi;

use crate::audit::decode::{self, Dest};
use crate::error::sys_error;
use crate::sys::watch as w;

#[napi(object)]
pub struct WatchMark {
    pub path: String,
    /// errno when this file could not be marked (ENOENT, EACCES, ...).
    pub errno: Option<i32>,
}

#[napi(object)]
pub struct OpenEvent {
    /// The watched path whose inode was opened (null: an inode we do not recognise).
    pub path: Option<String>,
    /// The opener's pid as the kernel reports it to an unprivileged listener: ours for our own
    /// opens, 0 for another process's.
    pub pid: i32,
    /// FAN_* mask bits.
    pub mask: f64,
}

#[napi]
pub struct OpenWatch {
    fd: i32,
    handles: Vec<(Handle, String)>,
    marks: Vec<(String, Option<i32>)>,
}

/// (handle_type, f_handle bytes): how the kernel names an inode in a FAN_REPORT_FID event.
pub type Handle = (i32, Vec<u8>);

/// Parses a buffer of fanotify events (FAN_REPORT_FID: metadata, then fid info records).
/// Returns (mask, pid, Some((handle_type, handle bytes))) per event.
pub fn parse_events(b: &[u8]) -> Vec<(u64, i32, Option<Handle>)> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 24 <= b.len() {
        let u32_at = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let event_len = u32_at(at) as usize;
        let meta_len = u16::from_ne_bytes([b[at + 6], b[at + 7]]) as usize;
        if event_len < 24 || at + event_len > b.len() || meta_len < 24 {
            break;
        }
        let mut m = [0u8; 8];
        m.copy_from_slice(&b[at + 8..at + 16]);
        let mask = u64::from_ne_bytes(m);
        let pid = u32_at(at + 20) as i32;
        let mut handle = None;
        let mut i = at + meta_len;
        while i + 4 <= at + event_len {
            let info_type = b[i];
            let len = u16::from_ne_bytes([b[i + 2], b[i + 3]]) as usize;
            if len < 4 || i + len > at + event_len {
                break;
            }
            // hdr(4) fsid(8) handle_bytes(4) handle_type(4) f_handle
            if info_type == 1 && len >= 20 {
                let hb = u32_at(i + 12) as usize;
                let ht = u32_at(i + 16) as i32;
                let end = (i + 20 + hb).min(i + len);
                handle = Some((ht, b[i + 20..end].to_vec()));
            }
            i += len;
        }
        out.push((mask, pid, handle));
        at += event_len;
    }
    out
}

/// Starts watching `paths` for opens. Throws when fanotify itself is refused (old kernel,
/// EPERM in a container); a file that cannot be marked is reported in `marks()`.
#[napi(js_name = "watchOpens", catch_unwind)]
pub fn watch_opens(paths: Vec<String>) -> Result<OpenWatch> {
    let fd = w::fanotify_init().map_err(|e| sys_error("fanotify_init", e, "FAN_REPORT_FID"))?;
    let mut handles = Vec::new();
    let mut marks = Vec::new();
    for p in paths {
        match w::fanotify_mark_open(fd, &p) {
            Ok(()) => {
                if let Ok((t, h)) = w::file_handle(&p) {
                    handles.push(((t, h), p.clone()));
                }
                marks.push((p, None));
            }
            Err(e) => marks.push((p, Some(e))),
        }
    }
    Ok(OpenWatch { fd, handles, marks })
}

#[napi]
impl OpenWatch {
    #[napi(catch_unwind)]
    pub fn marks(&self) -> Vec<WatchMark> {
        self.marks
            .iter()
            .map(|(p, e)| WatchMark {
                path: p.clone(),
                errno: *e,
            })
            .collect()
    }

    /// Every event queued since the last read (never blocks).
    #[napi(catch_unwind)]
    pub fn read(&self) -> Result<Vec<OpenEvent>> {
        let mut out = Vec::new();
        if self.fd < 0 {
            return Ok(out);
        }
        let mut buf = vec![0u8; 16384];
        loop {
            let n = w::read_nonblock(self.fd, &mut buf)
                .map_err(|e| sys_error("read", e, "fanotify"))?;
            if n == 0 {
                break;
            }
            for (mask, pid, handle) in parse_events(&buf[..n]) {
                let path = handle.and_then(|h| {
                    self.handles
                        .iter()
                        .find(|(k, _)| *k == h)
                        .map(|(_, p)| p.clone())
                });
                out.push(OpenEvent {
                    path,
                    pid,
                    mask: mask as f64,
                });
            }
        }
        Ok(out)
    }

    #[napi(catch_unwind)]
    pub fn close(&mut self) {
        if self.fd >= 0 {
            w::close(self.fd);
            self.fd = -1;
        }
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.close();
    }
}

#[napi(object)]
pub struct OwnSocket {
    pub fd: i32,
    /// socket inode (the N of socket:[N])
    pub inode: f64,
    /// 'tcp' | 'udp' | 'other'
    pub protocol: String,
    /// 'inet' | 'inet6'
    pub family: String,
    pub local_address: Option<String>,
    pub local_port: Option<u32>,
    /// null when not connected
    pub peer_address: Option<String>,
    pub peer_port: Option<u32>,
    /// SO_ACCEPTCONN: a listening socket
    pub listening: bool,
}

fn inet(b: &[u8]) -> Option<(String, u32)> {
    match decode::sockaddr(b)? {
        Dest::Inet { address, port, .. } => Some((address, port as u32)),
        Dest::Unix { .. } => None,
    }
}

/// This process's inet sockets: readdir of /proc/self/fd, then per socket SO_DOMAIN, SO_TYPE,
/// SO_ACCEPTCONN, getsockname and getpeername. Sockets whose inode is in `known` cost one
/// readlink and are left out (a poll only wants the new ones).
#[napi(js_name = "ownSockets", catch_unwind)]
pub fn own_sockets(known: Option<Vec<f64>>) -> Result<Vec<OwnSocket>> {
    let known: std::collections::HashSet<u64> = known
        .unwrap_or_default()
        .into_iter()
        .map(|k| k as u64)
        .collect();
    let dir = std::fs::read_dir("/proc/self/fd").map_err(|e| {
        sys_error(
            "opendir",
            e.raw_os_error().unwrap_or(libc::EIO),
            "/proc/self/fd",
        )
    })?;
    let mut out = Vec::new();
    for ent in dir.flatten() {
        let fd: i32 = match ent.file_name().to_str().and_then(|s| s.parse().ok()) {
            Some(fd) => fd,
            None => continue,
        };
        let link = match std::fs::read_link(ent.path()) {
            Ok(l) => l,
            Err(_) => continue,
        };
        let inode = match link
            .to_str()
            .and_then(|s| s.strip_prefix("socket:["))
            .and_then(|s| s.strip_suffix(']'))
            .and_then(|s| s.parse::<f64>().ok())
        {
            Some(i) => i,
            None => continue,
        };
        if known.contains(&(inode as u64)) {
            continue;
        }
        let family = match crate::sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN) {
            Ok(libc::AF_INET) => "inet",
            Ok(libc::AF_INET6) => "inet6",
            _ => continue,
        };
        let protocol = match crate::sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE) {
            Ok(libc::SOCK_STREAM) => "tcp",
            Ok(libc::SOCK_DGRAM) => "udp",
            _ => "other",
        };
        let listening =
            crate::sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN) == Ok(1);
        let local = w::sock_addr(fd, false).ok().and_then(|b| inet(&b));
        let peer = if listening {
            None
        } else {
            w::sock_addr(fd, true).ok().and_then(|b| inet(&b))
        };
        out.push(OwnSocket {
            fd,
            inode,
            protocol: protocol.to_string(),
            family: family.to_string(),
            local_address: local.as_ref().map(|l| l.0.clone()),
            local_port: local.map(|l| l.1),
            peer_address: peer.as_ref().map(|p| p.0.clone()),
            peer_port: peer.map(|p| p.1),
            listening,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_fid_event() {
        // metadata (24) + fid info: hdr(4) fsid(8) handle_bytes(4) handle_type(4) handle(8)
        let mut b = Vec::new();
        let total = 24 + 28u32;
        b.extend_from_slice(&total.to_ne_bytes());
        b.extend_from_slice(&[3, 0]);
        b.extend_from_slice(&24u16.to_ne_bytes());
        b.extend_from_slice(&0x20u64.to_ne_bytes());
        b.extend_from_slice(&(-1i32).to_ne_bytes());
        b.extend_from_slice(&4242i32.to_ne_bytes());
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&28u16.to_ne_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&8u32.to_ne_bytes());
        b.extend_from_slice(&1i32.to_ne_bytes());
        b.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let ev = parse_events(&b);
        assert_eq!(
            ev,
            vec![(0x20, 4242, Some((1, vec![1, 2, 3, 4, 5, 6, 7, 8])))]
        );
        assert_eq!(parse_events(&b[..20]), vec![]);
    }
}
