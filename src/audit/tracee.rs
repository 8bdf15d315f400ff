//! Reading a stopped tracee: its memory (strings, buffers, words of either width) and its ids
//! from /proc/<tid>/status.

use crate::sys::trace as t;

/// The longest path read from a tracee.
pub const PATH_MAX: usize = 4096;

/// /proc/<pid>/<rest>.
pub fn proc_path(pid: i32, rest: &str) -> Vec<u8> {
    format!("/proc/{pid}/{rest}").into_bytes()
}

/// Tgid and PPid of a task from /proc/<tid>/status (cold: once per new task).
pub fn status_ids(tid: i32) -> (Option<i32>, Option<i32>) {
    let text = match std::fs::read(format!("/proc/{tid}/status")) {
        Ok(t) => t,
        Err(_) => return (None, None),
    };
    let mut tgid = None;
    let mut ppid = None;
    for line in text.split(|&c| c == b'\n') {
        let field = |prefix: &[u8]| -> Option<i32> {
            line.strip_prefix(prefix)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.trim().parse().ok())
        };
        if let Some(v) = field(b"Tgid:") {
            tgid = Some(v);
        } else if let Some(v) = field(b"PPid:") {
            ppid = Some(v);
        }
    }
    (tgid, ppid)
}

/// A NUL-terminated string of the tracee, read page by page (a string may end just before an
/// unmapped page). At most PATH_MAX bytes.
pub fn read_cstr(pid: i32, addr: u64) -> Option<Vec<u8>> {
    if addr == 0 {
        return None;
    }
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < PATH_MAX {
        let to_page_end = 4096 - (at as usize & 4095);
        let mut buf = [0u8; 4096];
        let want = to_page_end.min(PATH_MAX - out.len());
        let n = t::read_mem(pid, at, &mut buf[..want]).ok()?;
        if n == 0 {
            break;
        }
        if let Some(end) = buf[..n].iter().position(|&c| c == 0) {
            out.extend_from_slice(&buf[..end]);
            return Some(out);
        }
        out.extend_from_slice(&buf[..n]);
        at += n as u64;
    }
    Some(out)
}

pub fn read_bytes(pid: i32, addr: u64, len: usize) -> Option<Vec<u8>> {
    if addr == 0 || len == 0 {
        return None;
    }
    let mut buf = vec![0u8; len];
    let n = t::read_mem(pid, addr, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

pub fn word(b: &[u8], at: usize, compat: bool) -> Option<u64> {
    if compat {
        let s = b.get(at..at + 4)?;
        Some(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]) as u64)
    } else {
        let s = b.get(at..at + 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Some(u64::from_ne_bytes(a))
    }
}
