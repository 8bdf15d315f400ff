//! fdSummary(): this process's descriptors counted by type, with its sockets' queued bytes and
//! TCP retransmissions — what a metrics scrape needs, without an inventory. One getdents64 of
//! /proc/thread-self/fd (or, for a table not much bigger than what is open, fstat of every
//! slot of it instead) and one fstat per descriptor; readlink only where fstat cannot tell
//! (anonymous inodes, and once per device for regular-file modes, which nsfs and pidfs share
//! with real files); per socket a few getsockopt/ioctl calls, no socket-table dump.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use napi::bindgen_prelude::Float64Array;
use napi::Result;
use napi_derive::napi;

use crate::error::sys_error;
use crate::fds::list_fds;
use crate::parse::fdinfo::{classify_target, FdType, TargetKind};
use crate::parse::proc_text::field;
use crate::parse::tcp_info;
use crate::sys::fd_gate::{self, Kept};
use crate::sys::{self, DirFd};

use crate::layout::{fd_summary as slot, FD_SUMMARY_PAIRS, FD_SUMMARY_TYPES};

const TCP_LISTEN: u8 = 10;
const S_IFMT: u32 = libc::S_IFMT;

/// What a regular-file mode on this device is: a real file, or a pseudo file (nsfs, pidfs).
fn regular_kind(dir: &DirFd, name: &[u8], link: &mut [u8]) -> Option<FdType> {
    let n = sys::readlinkat(dir, name, link).ok()?.min(link.len());
    let target = String::from_utf8_lossy(&link[..n]);
    Some(if target.starts_with('/') {
        FdType::File
    } else {
        match classify_target(&target) {
            TargetKind::Known(t, _) | TargetKind::Anon(t) => t,
            TargetKind::NeedsStat => FdType::Unknown,
        }
    })
}

fn fd_name(name: &mut Vec<u8>, fd: i32) {
    name.clear();
    name.extend_from_slice(fd.to_string().as_bytes());
    name.push(0);
}

fn socket_into(fd: i32, ino: u64, head: &mut [f64], pairs: &mut Vec<f64>, info: &mut [u8]) {
    let tcp = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL)
        .is_ok_and(|p| p == libc::IPPROTO_TCP)
        && sys::socket_domain(fd).is_ok_and(|d| d == libc::AF_INET || d == libc::AF_INET6);
    let mut listening = false;
    if tcp {
        if let Ok(n) = sys::getsockopt_bytes(fd, libc::IPPROTO_TCP, libc::TCP_INFO, info) {
            let bytes = &info[..n];
            listening = bytes.first() == Some(&TCP_LISTEN);
            let retrans = tcp_info::get(bytes, "totalRetransmits").unwrap_or(0.0);
            head[slot::TCP_SOCKETS] += 1.0;
            head[slot::TCP_RETRANS] += retrans;
            pairs.push(ino as f64);
            pairs.push(retrans);
        }
    }
    if listening {
        return; // a listener's queues are its accept backlog, not bytes
    }
    // unix listeners and sockets of other families refuse these (EINVAL, ENOTTY): nothing queued
    if let Ok(v) = sys::ioctl_int(fd, sys::SIOCOUTQ) {
        head[slot::SEND_Q] += v.max(0) as f64;
    }
    if let Ok(v) = sys::ioctl_int(fd, sys::SIOCINQ) {
        head[slot::RECV_Q] += v.max(0) as f64;
    }
}

/// Descriptors counted by the previous summary.
static LAST_COUNT: AtomicUsize = AtomicUsize::new(0);

/// The size of our fd table (status FDSize) when probing every slot with fstat is cheaper than
/// listing /proc/self/fd: getdents64 there builds a dentry per descriptor (measured ~0.4 µs
/// each), fstat of a closed slot fails in ~0.1 µs. Not when the table is much bigger than what
/// is open (a process that once had many more descriptors).
fn probe_size() -> Option<usize> {
    let mut buf = [0u8; 4096];
    let n = sys::read_file_into(b"/proc/self/status", &mut buf).ok()?;
    let size = field(&buf[..n], "FDSize")? as usize;
    (size <= LAST_COUNT.load(Ordering::Relaxed) * 2 + 1024 && size <= i32::MAX as usize)
        .then_some(size)
}

/// The summary of this process's descriptors (see `slot`); Err(errno) when /proc/self/fd cannot
/// be listed.
pub fn summarize() -> std::result::Result<Vec<f64>, i32> {
    // our own descriptors are opened where no fds() walk sees them, and our walk does not see
    // those of a scan running on another thread (sys::fd_gate)
    let (dir, probe) = {
        let hold = fd_gate::hold();
        let dir = DirFd::open(Path::new("/proc/thread-self/fd"))
            .or_else(|_| DirFd::open(Path::new("/proc/self/fd")))?;
        let fd = dir.raw();
        (Kept::new(&hold, dir, Some(fd)), probe_size())
    };
    let gate = fd_gate::walk();
    let mut fds = match probe {
        Some(size) => (0..size as i32).collect(),
        None => list_fds(&dir)?,
    };
    fds.retain(|&fd| !gate.is_kept(fd));
    let mut out = vec![0.0; FD_SUMMARY_PAIRS];
    let mut pairs = Vec::new();
    let pipefs = sys::pipefs_dev();
    let sockfs = sys::sockfs_dev();
    let mut regular_devs: HashMap<u64, FdType> = HashMap::new();
    let mut name = Vec::with_capacity(16);
    let mut link = [0u8; 256];
    let mut info = [0u8; 256];
    for fd in fds {
        let st = match sys::fstat_fd(fd) {
            Ok(st) => st,
            Err(_) => continue, // not open (probing), or closed since the listing
        };
        let kind = match st.mode & S_IFMT {
            libc::S_IFSOCK if sockfs.is_none_or(|d| d == st.dev) => {
                socket_into(fd, st.ino, &mut out, &mut pairs, &mut info);
                FdType::Socket
            }
            // a unix socket's file held by an O_PATH descriptor (fds() says the same)
            libc::S_IFSOCK => FdType::File,
            libc::S_IFIFO if Some(st.dev) == pipefs => FdType::Pipe,
            libc::S_IFIFO => FdType::Fifo,
            libc::S_IFDIR => FdType::Directory,
            libc::S_IFCHR => FdType::CharDevice,
            libc::S_IFBLK => FdType::BlockDevice,
            libc::S_IFREG => {
                if let Some(&k) = regular_devs.get(&st.dev) {
                    k
                } else {
                    fd_name(&mut name, fd);
                    match regular_kind(&dir, &name, &mut link) {
                        Some(k) => {
                            regular_devs.insert(st.dev, k);
                            k
                        }
                        None => continue,
                    }
                }
            }
            _ => {
                // anonymous inodes (no file type bits): only the link names them
                fd_name(&mut name, fd);
                match sys::readlinkat(&dir, &name, &mut link) {
                    Ok(n) => {
                        match classify_target(&String::from_utf8_lossy(&link[..n.min(link.len())]))
                        {
                            TargetKind::Known(t, _) | TargetKind::Anon(t) => t,
                            TargetKind::NeedsStat => FdType::Unknown,
                        }
                    }
                    Err(_) => continue,
                }
            }
        };
        out[slot::COUNT] += 1.0;
        out[FD_SUMMARY_TYPES + kind as usize] += 1.0;
    }
    drop(gate);
    LAST_COUNT.store(out[slot::COUNT] as usize, Ordering::Relaxed);
    out.extend_from_slice(&pairs);
    Ok(out)
}

#[napi(js_name = "fdSummary", catch_unwind)]
pub fn js_fd_summary() -> Result<Float64Array> {
    summarize()
        .map(Float64Array::new)
        .map_err(|e| sys_error("open", e, "/proc/self/fd"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sockets_and_files_of_our_own() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        let out = summarize().unwrap();
        let sock = FD_SUMMARY_TYPES + FdType::Socket as usize;
        let file = FD_SUMMARY_TYPES + FdType::File as usize;
        // other test threads may open and close descriptors: at least ours are there
        assert!(out[sock] >= 2.0);
        assert!(out[file] >= 1.0);
        let by_type: f64 = out[FD_SUMMARY_TYPES..FD_SUMMARY_PAIRS].iter().sum();
        assert_eq!(out[slot::COUNT], by_type);
        drop((a, b, f));
    }
}
