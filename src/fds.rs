//! fds() / fdsSync(): every open descriptor of a process from /proc/<pid>/fd (listed with
//! getdents64, or for our own big tables by probing with fstat; readlinkat where the link text
//! is not implied by fstat), sockets resolved through sockdiag.rs, optional
//! /proc/<pid>/fdinfo details.
//!
//! The result crosses to JS packed (a Float64Array of fixed columns and one NUL-separated
//! string); lib/fds.js builds the objects, several times cheaper than building them with napi.
//! The Promise form runs on a dedicated thread, not the libuv threadpool: an inventory is most
//! wanted when the pool is saturated, and it must not queue behind the work it diagnoses.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;

use napi::bindgen_prelude::{Float64Array, Object};
use napi::{Env, Result};
use napi_derive::napi;
use once_cell::sync::Lazy;

use crate::error::{arg_error, sys_error};
use crate::parse::fdinfo::{
    classify_target, clock_name, epoll_event_names, inotify_mask_names, open_flag_names,
    parse_fdinfo, type_from_mode, FdInfo, FdType, TargetKind,
};
use crate::parse::proc_text::field;
use crate::parse::sockdiag::SocketInfo;
use crate::sockdiag::{errno_name, socket_table, Mode};
use crate::sys::{self, DirFd, ModeIno, SysResult};

/// Columns of one record in `nums`; lib/fds.js reads the same layout.
pub mod col {
    pub const FD: usize = 0;
    pub const TYPE: usize = 1;
    pub const INODE: usize = 2;
    pub const BITS: usize = 3;
    pub const LOCAL_PORT: usize = 4;
    pub const REMOTE_PORT: usize = 5;
    pub const SEND_Q: usize = 6;
    pub const RECV_Q: usize = 7;
    pub const LEN: usize = 8;
}

/// Bits of col::BITS: which optional strings follow the target in `text`, in this order.
pub mod bit {
    /// error text
    pub const ERROR: u32 = 1;
    /// socket: family, protocol, state, localAddress, remoteAddress, path
    pub const SOCKET: u32 = 2;
    /// why the socket is not resolved
    pub const SOCKET_ERROR: u32 = 4;
    /// fdinfo details as one JSON object
    pub const FDINFO: u32 = 8;
}

/// Marks a null string in `text` (a NUL separates fields, so it cannot be used).
pub const NULL_STR: char = '\u{1}';

#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    pub pid: Option<i32>,
    pub sockets: bool,
    pub fdinfo: bool,
    pub sockdiag: Mode,
}

/// One descriptor.
#[derive(Debug, Clone)]
pub struct FdRecord {
    pub fd: i32,
    pub kind: FdType,
    pub target: Option<String>,
    pub inode: Option<u64>,
    pub error: Option<String>,
    pub socket: Option<Box<SocketInfo>>,
    pub socket_error: Option<String>,
    pub info: Option<Box<FdInfo>>,
}

/// Why a scan failed as a whole: the /proc directory could not be read.
#[derive(Debug)]
pub struct ScanError {
    pub syscall: &'static str,
    pub errno: i32,
    pub path: String,
}

fn proc_dir(pid: Option<i32>, leaf: &str) -> String {
    match pid {
        Some(p) => format!("/proc/{p}/{leaf}"),
        None => format!("/proc/self/{leaf}"),
    }
}

/// Descriptor numbers listed in an open /proc/<pid>/fd directory.
fn list_fds(dir: &DirFd) -> std::result::Result<Vec<i32>, i32> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut fds = Vec::with_capacity(256);
    loop {
        let n = dir.getdents(&mut buf)?;
        if n == 0 {
            break;
        }
        let mut off = 0;
        while off + 19 < n {
            // struct linux_dirent64: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name[]
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            if reclen == 0 || off + reclen > n {
                break;
            }
            let name = &buf[off + 19..off + reclen];
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            if let Ok(s) = std::str::from_utf8(&name[..end]) {
                if let Ok(fd) = s.parse::<i32>() {
                    fds.push(fd);
                }
            }
            off += reclen;
        }
    }
    Ok(fds)
}

fn vanished(fd: i32, errno: i32) -> FdRecord {
    FdRecord {
        fd,
        kind: FdType::Unknown,
        target: None,
        inode: None,
        error: Some(if errno == libc::ENOENT || errno == libc::EBADF {
            "closed during the scan".to_string()
        } else {
            format!("readlink failed: {}", errno_name(errno))
        }),
        socket: None,
        socket_error: None,
        info: None,
    }
}

/// "<fd>\0" into `name`, without allocating.
fn fd_name(name: &mut Vec<u8>, fd: i32) {
    name.clear();
    let mut digits = [0u8; 12];
    let mut i = digits.len();
    let mut v = fd.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    name.extend_from_slice(&digits[i..]);
    name.push(0);
}

fn scan_failure(e: i32, what: &str) -> String {
    if e == libc::EBADF || e == libc::ENOENT {
        "closed during the scan".to_string()
    } else {
        format!("{what} failed: {}", errno_name(e))
    }
}

/// One descriptor: its target (readlink), type and inode. For our own descriptors fstat comes
/// first and is cheap (no path walk); a socket's target is then "socket:[<inode>]" and an
/// anonymous pipe's (a FIFO on pipefs) "pipe:[<inode>]", exactly as the kernel's readlink
/// prints them (sockfs_dname, pipefs_dname), so the costly readlink is skipped for those.
fn describe_one(
    dir: &DirFd,
    fd: i32,
    pre: Option<SysResult<ModeIno>>,
    name: &mut Vec<u8>,
    link: &mut [u8],
) -> FdRecord {
    fd_name(name, fd);
    let mut rec = FdRecord {
        fd,
        kind: FdType::Unknown,
        target: None,
        inode: None,
        error: None,
        socket: None,
        socket_error: None,
        info: None,
    };
    if let Some(Ok(st)) = pre {
        let fmt = st.mode & libc::S_IFMT;
        if fmt == libc::S_IFSOCK {
            rec.kind = FdType::Socket;
            rec.inode = Some(st.ino);
            rec.target = Some(format!("socket:[{}]", st.ino));
            return rec;
        }
        if fmt == libc::S_IFIFO && Some(st.dev) == sys::pipefs_dev() {
            rec.kind = FdType::Pipe;
            rec.inode = Some(st.ino);
            rec.target = Some(format!("pipe:[{}]", st.ino));
            return rec;
        }
    }
    if let Some(Err(e)) = pre {
        return vanished(fd, e);
    }
    let n = match sys::readlinkat(dir, name, link) {
        Ok(n) => n,
        Err(e) => return vanished(fd, e),
    };
    let target = match std::str::from_utf8(&link[..n]) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(&link[..n]).into_owned(),
    };
    match classify_target(&target) {
        TargetKind::Known(kind, ino) => {
            rec.kind = kind;
            rec.inode = Some(ino);
        }
        kind => {
            let st = match pre {
                Some(st) => st,
                None => sys::fstatat_follow(dir, name),
            };
            match st {
                Ok(st) => {
                    rec.inode = Some(st.ino);
                    rec.kind = match kind {
                        TargetKind::Anon(t) => t,
                        _ => type_from_mode(st.mode, &target),
                    };
                }
                Err(e) => {
                    rec.kind = match kind {
                        TargetKind::Anon(t) => t,
                        _ => FdType::Unknown,
                    };
                    rec.error = Some(scan_failure(e, "stat"));
                }
            }
        }
    }
    rec.target = Some(target);
    rec
}

/// Describes `listed.fds[range]` in order, with one pair of reused buffers.
fn describe_range(
    dir: &DirFd,
    listed: &Listed,
    own: bool,
    range: std::ops::Range<usize>,
) -> Vec<FdRecord> {
    let mut link = vec![0u8; 4096];
    let mut name = Vec::with_capacity(16);
    range
        .map(|i| {
            let fd = listed.fds[i];
            let pre = match listed.stats.get(i) {
                Some(st) => Some(Ok(*st)),
                None if own => Some(sys::fstat_fd(fd)),
                None => None,
            };
            describe_one(dir, fd, pre, &mut name, &mut link)
        })
        .collect()
}

/// Tables at least this big are described by two threads.
const SPLIT_FROM: usize = 2048;

/// The readlinks are independent kernel path walks: on a quiet 2-CPU Linux 6.18 machine two
/// threads do 8,000 `fstat` + `readlinkat` in 7.2 ms where one takes 10.6 ms (a C loop), and
/// `fdsSync({ sockets: false })` at 9,000 fds takes 11.2 ms against 13.8 ms. On a loaded
/// machine the second thread gains little, so small tables stay on one thread.
fn describe_all(dir: &DirFd, listed: &Listed, own: bool) -> Vec<FdRecord> {
    let n = listed.fds.len();
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
    if n < SPLIT_FROM || cpus < 2 {
        return describe_range(dir, listed, own, 0..n);
    }
    let mid = n / 2;
    std::thread::scope(|scope| {
        let second = std::thread::Builder::new()
            .name("kernelscope-fds2".into())
            .spawn_scoped(scope, || describe_range(dir, listed, own, mid..n));
        let mut first = describe_range(dir, listed, own, 0..mid);
        match second.map(|h| h.join()) {
            Ok(Ok(rest)) => first.extend(rest),
            // no second thread (or it panicked): do that half here
            _ => first.extend(describe_range(dir, listed, own, mid..n)),
        }
        first
    })
}

/// The descriptor numbers, and when they came from probing, their fstat (same order).
struct Listed {
    fds: Vec<i32>,
    stats: Vec<ModeIno>,
}

/// Descriptor count of the previous scan of this process: probing pays off only for big tables.
static LAST_OWN_COUNT: AtomicUsize = AtomicUsize::new(0);
const PROBE_FROM: usize = 1024;

/// Our own descriptors by probing every number below the fd table size (FDSize in
/// /proc/self/status) with fstat: an unused number costs one failing fstat, a used one the
/// fstat the scan needs anyway — cheaper than getdents64 of /proc/self/fd, which makes a dentry
/// per entry, when the table is mostly in use. None when that is not the case (a table much
/// larger than the last count, or FDSize unreadable): then list with getdents64.
fn probe_own_fds(skip: i32) -> Option<Listed> {
    let last = LAST_OWN_COUNT.load(Ordering::Relaxed);
    if last < PROBE_FROM {
        return None;
    }
    let mut buf = [0u8; 4096];
    let n = sys::read_file_into(b"/proc/self/status", &mut buf).ok()?;
    let size = field(&buf[..n], "FDSize")? as usize;
    if size > last * 2 + PROBE_FROM || size > i32::MAX as usize {
        return None;
    }
    let mut out = Listed {
        fds: Vec::with_capacity(last + 64),
        stats: Vec::with_capacity(last + 64),
    };
    for fd in 0..size as i32 {
        if fd == skip {
            continue;
        }
        if let Ok(st) = sys::fstat_fd(fd) {
            out.fds.push(fd);
            out.stats.push(st);
        }
    }
    Some(out)
}

/// Lists and classifies every descriptor of `opts.pid` (this process when None).
pub fn scan(opts: ScanOptions) -> std::result::Result<Vec<FdRecord>, ScanError> {
    let own = opts.pid.is_none_or(|p| p == sys::getpid());
    let fd_path = proc_dir(opts.pid, "fd");
    let dir = DirFd::open(Path::new(&fd_path)).map_err(|errno| ScanError {
        syscall: "open",
        errno,
        path: fd_path.clone(),
    })?;
    let probed = if own { probe_own_fds(dir.raw()) } else { None };
    let listed = match probed {
        Some(listed) => listed,
        None => {
            let mut fds = list_fds(&dir).map_err(|errno| ScanError {
                syscall: "getdents64",
                errno,
                path: fd_path.clone(),
            })?;
            if own {
                // the directory we are reading is not one of the caller's descriptors
                fds.retain(|&fd| fd != dir.raw());
            }
            fds.sort_unstable();
            Listed {
                fds,
                stats: Vec::new(),
            }
        }
    };
    if own {
        LAST_OWN_COUNT.store(listed.fds.len(), Ordering::Relaxed);
    }

    // The socket dump and the readlinks are independent kernel work: when the last scan saw
    // sockets and there is a second CPU, the dump runs on a helper thread meanwhile.
    let early = opts.sockets
        && EXPECT_SOCKETS.load(Ordering::Relaxed)
        && std::thread::available_parallelism().map_or(1, |n| n.get()) > 1;
    let (mut records, early_table) = std::thread::scope(|scope| {
        let dump = if early {
            std::thread::Builder::new()
                .name("kernelscope-sockdiag".into())
                .spawn_scoped(scope, || socket_table(opts.pid, opts.sockdiag, None))
                .ok()
        } else {
            None
        };
        let records = describe_all(&dir, &listed, own);
        (records, dump.and_then(|h| h.join().ok()))
    });
    if !own && !records.is_empty() {
        // /proc/<pid>/fd lists for anyone who may read the directory, but its links need
        // ptrace read access: when every one is refused, the inventory is, as a whole
        let refused = |r: &FdRecord| {
            r.target.is_none()
                && r.error
                    .as_deref()
                    .is_some_and(|e| e.ends_with("EACCES") || e.ends_with("EPERM"))
        };
        if records.iter().all(refused) {
            return Err(ScanError {
                syscall: "readlink",
                errno: libc::EACCES,
                path: fd_path,
            });
        }
    }
    let any_socket = records.iter().any(|r| r.kind == FdType::Socket);
    let mut name = Vec::with_capacity(16);
    drop(dir);

    if opts.fdinfo {
        let info_path = proc_dir(opts.pid, "fdinfo");
        if let Ok(info_dir) = DirFd::open(Path::new(&info_path)) {
            let mut buf = Vec::with_capacity(4096);
            for rec in records.iter_mut().filter(|r| r.error.is_none()) {
                fd_name(&mut name, rec.fd);
                match sys::read_file_at(&info_dir, &name, &mut buf) {
                    Ok(()) => {
                        let info = parse_fdinfo(&buf);
                        // a different inode here means the number was closed and reused
                        // between the readlink and this read
                        if let (Some(a), Some(b)) = (info.ino, rec.inode) {
                            if a != b {
                                rec.error = Some("replaced during the scan".to_string());
                            }
                        }
                        rec.info = Some(Box::new(info));
                    }
                    Err(e) if e == libc::ENOENT || e == libc::EBADF => {
                        rec.error = Some("closed during the scan".to_string());
                    }
                    Err(_) => {}
                }
            }
        }
    }

    if opts.sockets {
        EXPECT_SOCKETS.store(any_socket, Ordering::Relaxed);
    }
    if opts.sockets && any_socket {
        let wanted: HashSet<u64> = records
            .iter()
            .filter(|r| r.kind == FdType::Socket)
            .filter_map(|r| r.inode)
            .collect();
        let table = match early_table {
            Some(mut table) => {
                // sockets made after the early dump started: one more, filtered dump
                let missing: HashSet<u64> = records
                    .iter()
                    .filter(|r| r.kind == FdType::Socket && r.error.is_none())
                    .filter(|r| r.inode.is_some_and(|i| !table.sockets.contains_key(&i)))
                    .filter(|r| !own || sys::socket_domain(r.fd).is_ok_and(dumped_domain))
                    .filter_map(|r| r.inode)
                    .collect();
                if !missing.is_empty() {
                    let more = socket_table(opts.pid, opts.sockdiag, Some(&missing));
                    table.sockets.extend(more.sockets);
                }
                table
            }
            None => socket_table(opts.pid, opts.sockdiag, Some(&wanted)),
        };
        for rec in records
            .iter_mut()
            .filter(|r| r.kind == FdType::Socket && r.error.is_none())
        {
            let Some(ino) = rec.inode else { continue };
            if let Some(s) = table.sockets.get(&ino) {
                rec.socket = Some(Box::new(s.clone()));
                continue;
            }
            rec.socket_error = Some(if !table.failures.is_empty() {
                format!("socket tables unavailable: {}", table.failures.join("; "))
            } else if own {
                match sys::socket_domain(rec.fd) {
                    Ok(d) => format!("not in the socket dumps ({} socket)", domain_name(d)),
                    Err(_) => "closed during the scan".to_string(),
                }
            } else {
                "not in the socket dumps (another family, or closed during the scan)".to_string()
            });
        }
    }
    Ok(records)
}

/// Families the socket dumps cover.
fn dumped_domain(d: i32) -> bool {
    d == libc::AF_INET || d == libc::AF_INET6 || d == libc::AF_UNIX
}

/// Whether the previous scan found sockets: then the next one starts its socket dump early.
static EXPECT_SOCKETS: AtomicBool = AtomicBool::new(true);

fn domain_name(d: i32) -> String {
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

// ---- packing for JS ----

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    crate::error::json_escape_into(out, s);
    out.push('"');
}

fn json_names(out: &mut String, names: &[&str]) {
    out.push('[');
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, n);
    }
    out.push(']');
}

fn json_opt_num(out: &mut String, v: Option<u64>) {
    match v {
        Some(v) => out.push_str(&v.to_string()),
        None => out.push_str("null"),
    }
}

/// fdinfo details as one JSON object: position, flags, epoll, eventfd, timerfd, inotify.
fn fdinfo_json(info: &FdInfo, kind: FdType) -> String {
    let mut o = String::with_capacity(96);
    o.push_str("{\"position\":");
    json_opt_num(&mut o, info.pos);
    o.push_str(",\"flags\":");
    match info.flags {
        Some(f) => json_names(&mut o, &open_flag_names(f)),
        None => o.push_str("null"),
    }
    o.push_str(",\"epoll\":");
    if kind == FdType::Epoll {
        o.push_str("{\"watches\":[");
        for (i, w) in info.epoll.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push_str(&format!("{{\"fd\":{},\"events\":", w.tfd));
            json_names(&mut o, &epoll_event_names(w.events));
            o.push_str(",\"inode\":");
            json_opt_num(&mut o, w.inode);
            o.push('}');
        }
        o.push_str("]}");
    } else {
        o.push_str("null");
    }
    o.push_str(",\"eventfd\":");
    match info.eventfd_count {
        Some(c) if kind == FdType::EventFd => {
            o.push_str(&format!("{{\"count\":{c},\"semaphore\":"));
            match info.eventfd_semaphore {
                Some(b) => o.push_str(if b { "true" } else { "false" }),
                None => o.push_str("null"),
            }
            o.push('}');
        }
        _ => o.push_str("null"),
    }
    o.push_str(",\"timerfd\":");
    match &info.timerfd {
        Some(t) if kind == FdType::TimerFd => {
            o.push_str("{\"clock\":");
            json_str(&mut o, clock_name(t.clock_id));
            o.push_str(&format!(
                ",\"ticks\":{},\"valueMs\":{},\"intervalMs\":{},\"absolute\":{}}}",
                t.ticks,
                t.value_ms,
                t.interval_ms,
                t.settime_flags & 1 != 0
            ));
        }
        _ => o.push_str("null"),
    }
    o.push_str(",\"inotify\":");
    if kind == FdType::Inotify {
        o.push_str("{\"watches\":[");
        for (i, w) in info.inotify.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push_str(&format!("{{\"wd\":{},\"inode\":", w.wd));
            json_opt_num(&mut o, w.inode);
            o.push_str(",\"device\":");
            json_opt_num(&mut o, w.device);
            o.push_str(",\"events\":");
            json_names(&mut o, &inotify_mask_names(w.mask));
            o.push('}');
        }
        o.push_str("]}");
    } else {
        o.push_str("null");
    }
    o.push('}');
    o
}

fn push_field(text: &mut String, s: Option<&str>) {
    match s {
        Some(s) => text.push_str(s),
        None => text.push(NULL_STR),
    }
    text.push('\0');
}

fn num(v: Option<u64>) -> f64 {
    v.map_or(f64::NAN, |v| v as f64)
}

/// The packed form lib/fds.js unpacks.
pub struct Packed {
    pub nums: Vec<f64>,
    pub text: String,
}

pub fn pack(records: &[FdRecord]) -> Packed {
    let mut nums = Vec::with_capacity(records.len() * col::LEN);
    let mut text = String::with_capacity(records.len() * 24);
    for r in records {
        let mut bits = 0u32;
        let mut row = [f64::NAN; col::LEN];
        row[col::FD] = r.fd as f64;
        row[col::TYPE] = r.kind as u8 as f64;
        row[col::INODE] = num(r.inode);
        push_field(&mut text, r.target.as_deref());
        if let Some(e) = &r.error {
            bits |= bit::ERROR;
            push_field(&mut text, Some(e));
        }
        if let Some(s) = &r.socket {
            bits |= bit::SOCKET;
            push_field(&mut text, Some(s.family.name()));
            push_field(&mut text, Some(s.protocol));
            push_field(&mut text, Some(s.state));
            push_field(&mut text, s.local_address.as_deref());
            push_field(&mut text, s.remote_address.as_deref());
            push_field(&mut text, s.path.as_deref());
            row[col::LOCAL_PORT] = num(s.local_port.map(u64::from));
            row[col::REMOTE_PORT] = num(s.remote_port.map(u64::from));
            row[col::SEND_Q] = num(s.send_queue_bytes);
            row[col::RECV_Q] = num(s.recv_queue_bytes);
        }
        if let Some(e) = &r.socket_error {
            bits |= bit::SOCKET_ERROR;
            push_field(&mut text, Some(e));
        }
        if let Some(info) = &r.info {
            bits |= bit::FDINFO;
            push_field(&mut text, Some(&fdinfo_json(info, r.kind)));
        }
        row[col::BITS] = bits as f64;
        nums.extend_from_slice(&row);
    }
    Packed { nums, text }
}

// ---- napi ----

#[napi(object)]
pub struct NativeFdsOptions {
    /// null/undefined: this process.
    pub pid: Option<i32>,
    pub sockets: bool,
    pub fdinfo: bool,
    /// Where socket details come from: "auto" (netlink, /proc/net where refused), "procnet"
    /// or "off" (KERNELSCOPE_SOCKDIAG, to see what a sandbox would give).
    pub sockdiag: String,
}

#[napi(object)]
pub struct NativeFds {
    /// col::LEN numbers per descriptor.
    pub nums: Float64Array,
    /// NUL-separated strings, in record order.
    pub text: String,
}

fn scan_options(o: &NativeFdsOptions) -> Result<ScanOptions> {
    if let Some(p) = o.pid {
        if p <= 0 {
            return Err(arg_error(
                "ERR_OUT_OF_RANGE",
                "pid must be a positive integer",
            ));
        }
    }
    Ok(ScanOptions {
        pid: o.pid,
        sockets: o.sockets,
        fdinfo: o.fdinfo,
        sockdiag: match o.sockdiag.as_str() {
            "procnet" => Mode::ProcNet,
            "off" => Mode::Off,
            _ => Mode::Auto,
        },
    })
}

fn compute(opts: ScanOptions) -> Result<Packed> {
    match scan(opts) {
        Ok(records) => Ok(pack(&records)),
        Err(e) => Err(sys_error(e.syscall, e.errno, &e.path)),
    }
}

fn to_js(p: Packed) -> NativeFds {
    NativeFds {
        nums: Float64Array::new(p.nums),
        text: p.text,
    }
}

#[napi(js_name = "fdsSync", catch_unwind)]
pub fn fds_sync(options: NativeFdsOptions) -> Result<NativeFds> {
    compute(scan_options(&options)?).map(to_js)
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The one thread that runs Promise-form inventories, started on first use.
static WORKER: Lazy<Mutex<Option<mpsc::Sender<Job>>>> = Lazy::new(|| Mutex::new(None));

fn start_worker() -> std::io::Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("kernelscope-fds".into())
        .spawn(move || {
            while let Ok(job) = rx.recv() {
                // a panic in one job must not take the thread (and every later job) with it
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
        })?;
    Ok(tx)
}

/// Runs `job` on the dedicated thread; Err(job) when the thread cannot be started.
fn submit(job: Job) -> std::result::Result<(), Job> {
    let mut guard = match WORKER.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    let job = match guard.as_ref() {
        Some(tx) => match tx.send(job) {
            Ok(()) => return Ok(()),
            Err(mpsc::SendError(job)) => job,
        },
        None => job,
    };
    match start_worker() {
        Ok(tx) => {
            let r = tx.send(job).map_err(|mpsc::SendError(job)| job);
            *guard = Some(tx);
            r
        }
        Err(_) => Err(job),
    }
}

/// The Promise form: the scan runs on the kernelscope-fds thread and the promise settles on
/// the calling JS thread.
#[napi(js_name = "fdsAsync", catch_unwind)]
pub fn fds_async(env: &Env, options: NativeFdsOptions) -> Result<Object<'_>> {
    let opts = scan_options(&options)?;
    let (deferred, promise) = env.create_deferred()?;
    let job: Job = Box::new(move || {
        // settle the promise whatever happens: an unsettled deferred would keep the loop alive
        let result = std::panic::catch_unwind(|| compute(opts)).unwrap_or_else(|_| {
            Err(arg_error(
                "ERR_KERNELSCOPE_INTERNAL",
                "fds() failed inside kernelscope (a bug: please report it)",
            ))
        });
        match result {
            Ok(packed) => deferred.resolve(move |_env| Ok(to_js(packed))),
            Err(e) => deferred.reject(e),
        }
    });
    if let Err(job) = submit(job) {
        // no thread could be started: run here rather than fail (the promise still settles
        // asynchronously, through the deferred's threadsafe function)
        job();
    }
    Ok(promise)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_names() {
        let mut n = Vec::new();
        for fd in [0, 7, 10, 12345, i32::MAX] {
            fd_name(&mut n, fd);
            assert_eq!(n, format!("{fd}\0").into_bytes());
        }
    }

    #[test]
    fn scans_itself() {
        let f = std::fs::File::open("/proc/self/status").unwrap();
        use std::os::fd::AsRawFd;
        let recs = scan(ScanOptions {
            pid: None,
            sockets: true,
            fdinfo: true,
            sockdiag: Mode::Auto,
        })
        .unwrap();
        let r = recs.iter().find(|r| r.fd == f.as_raw_fd()).unwrap();
        assert_eq!(r.kind, FdType::File);
        assert!(r.target.as_deref().unwrap().ends_with("/status"));
        assert!(r.info.as_ref().unwrap().flags.is_some());
        let p = pack(&recs);
        assert_eq!(p.nums.len(), recs.len() * col::LEN);
    }
}
