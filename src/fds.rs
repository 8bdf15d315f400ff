//! fds() / fdsSync(): every open descriptor of a process from /proc/<pid>/fd (listed with
//! getdents64, or for our own big tables by probing with fstat; readlinkat where the link text
//! is not implied by fstat), sockets resolved through sockdiag.rs, optional
//! /proc/<pid>/fdinfo details.
//!
//! The result crosses to JS packed: a Float64Array of fixed columns per descriptor and two
//! NUL-separated strings (`text`: target and error, written by the scanning threads as they
//! go; `extra`: socket details and fdinfo, added after). lib/probes/fds.js builds the objects,
//! several times cheaper than building them with napi. The Promise form runs on a dedicated
//! thread, not the libuv threadpool: an inventory is most wanted when the pool is saturated,
//! and it must not queue behind the work it diagnoses.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, OnceLock};

use napi::bindgen_prelude::{Float64Array, Object};
use napi::{Env, Result};
use napi_derive::napi;

use crate::error::{arg_error, sys_error};
use crate::layout::{fds_bit as bit, fds_col as col, NULL_STR};
use crate::parse::fdinfo::{
    classify_target, clock_name, epoll_event_names, inotify_mask_names, open_flag_names,
    parse_fdinfo, type_from_mode, FdInfo, FdType, TargetKind,
};
use crate::parse::proc_text::field;
use crate::parse::sockdiag::{Addr, InodeSet, SocketInfo};
use crate::sockdiag::{errno_name, socket_table, Mode, SockDiag, SocketTable};
use crate::spawn::Service;
use crate::sys::{self, DirFd, ModeIno, SysResult};

#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    pub pid: Option<i32>,
    pub sockets: bool,
    pub fdinfo: bool,
    pub sockdiag: Mode,
}

/// Why a scan failed as a whole: the /proc directory could not be read.
#[derive(Debug)]
pub struct ScanError {
    pub syscall: &'static str,
    pub errno: i32,
    pub path: String,
}

/// The packed inventory lib/probes/fds.js unpacks.
#[derive(Debug, Default)]
pub struct Packed {
    /// col::LEN numbers per descriptor, in descriptor order.
    pub nums: Vec<f64>,
    /// Per descriptor: its target (NULL_STR when unknown), then its error when bit::ERROR.
    pub text: String,
    /// Per descriptor, the strings its other bits announce (see `bit`).
    pub extra: String,
    /// Descriptors whose link was refused (EACCES/EPERM): all of them means no access at all.
    refused: usize,
    /// Whether `extra` is written (a chunk is completed when its sockets can be told).
    complete: bool,
}

impl Packed {
    pub fn len(&self) -> usize {
        self.nums.len() / col::LEN
    }

    pub fn is_empty(&self) -> bool {
        self.nums.is_empty()
    }

    /// Room for about `records` descriptors.
    fn with_capacity(records: usize) -> Packed {
        Packed {
            nums: Vec::with_capacity(records * col::LEN),
            text: String::with_capacity(records * 32),
            ..Packed::default()
        }
    }

    fn row(&mut self, fd: i32, kind: FdType, inode: Option<u64>, bits: u32) {
        let mut row = [f64::NAN; col::LEN];
        row[col::FD] = f64::from(fd);
        row[col::TYPE] = f64::from(kind as u8);
        row[col::INODE] = num(inode);
        row[col::BITS] = f64::from(bits);
        self.nums.extend_from_slice(&row);
    }

    fn get(&self, i: usize, c: usize) -> f64 {
        self.nums.get(i * col::LEN + c).copied().unwrap_or(f64::NAN)
    }

    fn set(&mut self, i: usize, c: usize, v: f64) {
        if let Some(x) = self.nums.get_mut(i * col::LEN + c) {
            *x = v;
        }
    }

    fn fd(&self, i: usize) -> i32 {
        self.get(i, col::FD) as i32
    }

    fn is(&self, i: usize, kind: FdType) -> bool {
        self.get(i, col::TYPE) == f64::from(kind as u8)
    }

    fn kind(&self, i: usize) -> FdType {
        FdType::from_index(self.get(i, col::TYPE) as usize)
    }

    fn inode(&self, i: usize) -> Option<u64> {
        let v = self.get(i, col::INODE);
        (!v.is_nan()).then_some(v as u64)
    }

    fn bits(&self, i: usize) -> u32 {
        self.get(i, col::BITS) as u32
    }

    fn add_bits(&mut self, i: usize, b: u32) {
        let bits = self.bits(i) | b;
        self.set(i, col::BITS, f64::from(bits));
    }

    /// Appends another chunk's records.
    fn append(&mut self, other: Packed) {
        self.nums.extend_from_slice(&other.nums);
        self.text.push_str(&other.text);
        self.extra.push_str(&other.extra);
        self.refused += other.refused;
    }
}

fn num(v: Option<u64>) -> f64 {
    v.map_or(f64::NAN, |v| v as f64)
}

fn push_str(text: &mut String, s: Option<&str>) {
    match s {
        Some(s) => text.push_str(s),
        None => text.push(NULL_STR),
    }
    text.push('\0');
}

/// `v` in decimal, without the formatting machinery (it runs once per descriptor).
fn push_decimal(out: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

fn proc_dir(pid: Option<i32>, leaf: &str) -> String {
    match pid {
        Some(p) => format!("/proc/{p}/{leaf}"),
        None => format!("/proc/self/{leaf}"),
    }
}

/// Descriptor numbers listed in an open /proc/<pid>/fd directory.
pub(crate) fn list_fds(dir: &DirFd) -> std::result::Result<Vec<i32>, i32> {
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

/// A descriptor whose link could not be read: gone (closed during the scan) or refused.
fn vanished(out: &mut Packed, fd: i32, errno: i32) {
    if errno == libc::EACCES || errno == libc::EPERM {
        out.refused += 1;
    }
    push_str(&mut out.text, None);
    push_str(&mut out.text, Some(&scan_failure(errno, "readlink")));
    out.row(fd, FdType::Unknown, None, bit::ERROR);
}

/// One descriptor into `out`: its target (readlink), type and inode. For our own descriptors
/// fstat comes first and is cheap (no path walk); a socket's target is then
/// "socket:[<inode>]" and an anonymous pipe's (a FIFO on pipefs) "pipe:[<inode>]", exactly
/// as the kernel's readlink prints them (sockfs_dname, pipefs_dname), so the costly readlink
/// is skipped for those.
fn describe_one(
    out: &mut Packed,
    dir: &DirFd,
    fd: i32,
    pre: Option<SysResult<ModeIno>>,
    name: &mut Vec<u8>,
    link: &mut [u8],
) {
    if let Some(Ok(st)) = pre {
        let fmt = st.mode & libc::S_IFMT;
        let known = if fmt == libc::S_IFSOCK {
            Some((FdType::Socket, "socket:["))
        } else if fmt == libc::S_IFIFO && Some(st.dev) == sys::pipefs_dev() {
            Some((FdType::Pipe, "pipe:["))
        } else {
            None
        };
        if let Some((kind, prefix)) = known {
            out.text.push_str(prefix);
            push_decimal(&mut out.text, st.ino);
            out.text.push_str("]\0");
            out.row(fd, kind, Some(st.ino), 0);
            return;
        }
    }
    if let Some(Err(e)) = pre {
        return vanished(out, fd, e);
    }
    fd_name(name, fd);
    let n = match sys::readlinkat(dir, name, link) {
        Ok(n) => n.min(link.len()),
        Err(e) => return vanished(out, fd, e),
    };
    let target = match std::str::from_utf8(&link[..n]) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(&link[..n]),
    };
    let mut error = None;
    let (kind, inode) = match classify_target(&target) {
        TargetKind::Known(kind, ino) => (kind, Some(ino)),
        kind => {
            let st = match pre {
                Some(st) => st,
                None => sys::fstatat_follow(dir, name),
            };
            let anon = match kind {
                TargetKind::Anon(t) => Some(t),
                _ => None,
            };
            match st {
                Ok(st) => (
                    anon.unwrap_or_else(|| type_from_mode(st.mode, &target)),
                    Some(st.ino),
                ),
                Err(e) => {
                    error = Some(scan_failure(e, "stat"));
                    (anon.unwrap_or(FdType::Unknown), None)
                }
            }
        }
    };
    push_str(&mut out.text, Some(&target));
    let mut bits = 0;
    if let Some(e) = &error {
        push_str(&mut out.text, Some(e));
        bits |= bit::ERROR;
    }
    out.row(fd, kind, inode, bits);
}

/// Descriptor numbers per work item.
const CHUNK: usize = 256;

/// Tables at least this big are shared with the helper thread.
const SPLIT_FROM: usize = 1024;

/// Descriptor count of the previous scan of this process: probing pays off only for big tables.
static LAST_OWN_COUNT: AtomicUsize = AtomicUsize::new(0);
const PROBE_FROM: usize = 1024;

/// Whether the previous scan found sockets: then the next one dumps the socket tables while
/// the descriptors are being read, as one more work item.
static EXPECT_SOCKETS: AtomicBool = AtomicBool::new(true);

/// What the scanners walk.
enum Walk {
    /// Every number below the fd table size (FDSize), probed with fstat: an unused number costs
    /// one failing fstat (0.12 µs), a used one the fstat the scan needs anyway — cheaper than
    /// getdents64 of /proc/self/fd (0.8 µs per entry, dentries cached or not) when the table is
    /// mostly in use.
    Probe(usize),
    /// Numbers listed with getdents64.
    Listed(Vec<i32>),
}

impl Walk {
    fn len(&self) -> usize {
        match self {
            Walk::Probe(size) => *size,
            Walk::Listed(fds) => fds.len(),
        }
    }
}

enum Done {
    Chunk(Packed),
    Table(SocketTable),
}

#[derive(Default)]
struct Progress {
    done: usize,
    /// The result so far: the complete chunks, in order, up to the first one missing or not
    /// complete. Chunks are added here as soon as they can be, by whichever thread, so that
    /// little copying is left for after the walk (a big table's result is a MiB or so).
    front: Packed,
    /// Chunk items in `front`.
    appended: usize,
    /// Chunks not in `front` yet, by item index.
    chunks: BTreeMap<usize, Packed>,
    /// Items whose scanner panicked (a bug): redone by the coordinator.
    failed: Vec<usize>,
}

impl Progress {
    /// Moves the chunks that come next and are complete into `front`.
    fn advance(&mut self, first_chunk: usize) {
        while let Some(entry) = self.chunks.first_entry() {
            if *entry.key() != first_chunk + self.appended || !entry.get().complete {
                break;
            }
            let part = entry.remove();
            self.front.append(part);
            self.appended += 1;
        }
    }
}

/// A scanning thread's directories: /proc/<pid>/fd and, with `fdinfo`, /proc/<pid>/fdinfo.
struct Dirs {
    fd: DirFd,
    info: Option<DirFd>,
}

impl Dirs {
    fn raw(&self) -> [i32; 2] {
        [self.fd.raw(), self.info.as_ref().map_or(-1, DirFd::raw)]
    }
}

/// One scan's work, shared by the calling thread and the helper. Items are claimed one at a
/// time from `next`, so a busy or late helper only takes less of it: item 0 is the socket
/// dump when there is one, then chunks of CHUNK descriptors. A chunk is finished (socket
/// details, fdinfo) by the thread that scanned it when it can be: when the socket table is
/// there already or the chunk needs none.
struct Work {
    walk: Walk,
    opts: ScanOptions,
    own: bool,
    /// The coordinator's directories (for our own process under /proc/thread-self).
    dirs: Dirs,
    /// The helper's: under /proc/self/task/<helper tid>. readlink of /proc/<pid>/fd/<n> locks
    /// the task <pid> twice (fget_task), so two threads reading the same directory contend;
    /// each reading its own task's directory (the same descriptor table) does not: 10,000
    /// readlinks on a 2-CPU Linux 6.18 machine take 12.7 ms on one thread, 7.9 ms on two
    /// through /proc/self/fd and 6.1 ms on two through their own /proc/<tid>/fd (a C loop).
    helper_dirs: Option<Dirs>,
    /// Descriptors the scan itself holds, left out.
    skip: [i32; 5],
    diag: Option<SockDiag>,
    table: OnceLock<SocketTable>,
    items: usize,
    next: AtomicUsize,
    progress: Mutex<Progress>,
    all_done: Condvar,
}

/// Reused buffers of one scanning thread.
struct Scratch {
    name: Vec<u8>,
    link: Vec<u8>,
    info: Vec<u8>,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            name: Vec::with_capacity(16),
            link: vec![0u8; 4096],
            info: Vec::new(),
        }
    }
}

impl Work {
    fn first_chunk(&self) -> usize {
        usize::from(self.diag.is_some())
    }

    fn item(&self, i: usize, dirs: &Dirs, s: &mut Scratch) -> Done {
        if let (0, Some(diag)) = (i, &self.diag) {
            return Done::Table(diag.table(None));
        }
        let start = (i - self.first_chunk()) * CHUNK;
        let end = (start + CHUNK).min(self.walk.len());
        let mut out = Packed::with_capacity(end.saturating_sub(start));
        for k in start..end {
            let (fd, pre) = match &self.walk {
                Walk::Probe(_) => {
                    let fd = k as i32;
                    match sys::fstat_fd(fd) {
                        Ok(st) => (fd, Some(Ok(st))),
                        Err(_) => continue,
                    }
                }
                Walk::Listed(fds) => {
                    let fd = fds[k];
                    (fd, self.own.then(|| sys::fstat_fd(fd)))
                }
            };
            if self.skip.contains(&fd) {
                continue;
            }
            describe_one(&mut out, &dirs.fd, fd, pre, &mut s.name, &mut s.link);
        }
        let table = self.table.get();
        if self.ready(&out, table) {
            complete(&mut out, &self.opts, self.own, dirs.info.as_ref(), table, s);
        }
        Done::Chunk(out)
    }

    /// Whether every socket of `part` can be told now: found in `table`, or known to be of a
    /// family the dumps do not cover (our own sockets).
    fn ready(&self, part: &Packed, table: Option<&SocketTable>) -> bool {
        if !self.opts.sockets {
            return true;
        }
        (0..part.len())
            .filter(|&i| part.is(i, FdType::Socket) && part.bits(i) & bit::ERROR == 0)
            .all(|i| match (table, part.inode(i)) {
                (_, None) => true,
                (Some(t), Some(ino)) if t.sockets.contains_key(&ino) => true,
                _ => self.own && sys::socket_domain(part.fd(i)).is_ok_and(|d| !dumped_domain(d)),
            })
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Completes `part` when it is not yet and now can be.
    fn try_complete(&self, part: &mut Packed, dirs: &Dirs, s: &mut Scratch) {
        let table = self.table.get();
        if !part.complete && table.is_some() && self.ready(part, table) {
            complete(part, &self.opts, self.own, dirs.info.as_ref(), table, s);
        }
    }

    /// Claims and does items until none is left.
    fn run(&self, dirs: &Dirs) {
        let mut scratch = Scratch::new();
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.items {
                return;
            }
            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut done = self.item(i, dirs, &mut scratch);
                if let Done::Chunk(part) = &mut done {
                    // the table may have arrived while this chunk was scanned
                    self.try_complete(part, dirs, &mut scratch);
                }
                done
            }));
            let mut p = self.progress();
            match done {
                Ok(Done::Chunk(part)) => {
                    p.chunks.insert(i, part);
                    p.advance(self.first_chunk());
                }
                Ok(Done::Table(table)) => {
                    // set once: item 0 is claimed once
                    let _ = self.table.set(table);
                    // The chunks scanned before the table was there are completed here while
                    // the other thread scans on. This item counts as done only after, so the
                    // coordinator cannot collect the chunks meanwhile.
                    let (waiting, ready): (BTreeMap<_, _>, BTreeMap<_, _>) =
                        std::mem::take(&mut p.chunks)
                            .into_iter()
                            .partition(|c| !c.1.complete);
                    p.chunks = ready;
                    drop(p);
                    let mut completed = Vec::with_capacity(waiting.len());
                    let mut failed = Vec::new();
                    for (k, mut part) in waiting {
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            self.try_complete(&mut part, dirs, &mut scratch)
                        }));
                        match r {
                            Ok(()) => completed.push((k, part)),
                            // half-written: scanned again by the coordinator
                            Err(_) => failed.push(k),
                        }
                    }
                    p = self.progress();
                    p.chunks.extend(completed);
                    p.failed.extend(failed);
                    p.advance(self.first_chunk());
                }
                Err(_) => p.failed.push(i),
            }
            p.done += 1;
            if p.done == self.items {
                self.all_done.notify_all();
            }
        }
    }

    /// The coordinator's part: its share of the items, then the wait for the helper's. Gives
    /// the result so far and the chunks that follow it, in order, some not complete yet.
    fn finish(&self) -> (Packed, Vec<Packed>) {
        self.run(&self.dirs);
        let mut p = self.progress();
        while p.done < self.items {
            p = self
                .all_done
                .wait(p)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        let mut p = std::mem::take(&mut *p);
        let mut scratch = Scratch::new();
        for i in std::mem::take(&mut p.failed) {
            match self.item(i, &self.dirs, &mut scratch) {
                Done::Chunk(part) => {
                    p.chunks.insert(i, part);
                }
                Done::Table(table) => {
                    let _ = self.table.set(table);
                }
            }
        }
        p.advance(self.first_chunk());
        (p.front, p.chunks.into_values().collect())
    }
}

/// The strings in `extra` for every record of `part`: fdinfo, socket details.
fn complete(
    part: &mut Packed,
    opts: &ScanOptions,
    own: bool,
    info_dir: Option<&DirFd>,
    table: Option<&SocketTable>,
    s: &mut Scratch,
) {
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
            push_str(&mut part.extra, Some(e));
            part.add_bits(i, bit::LATE_ERROR);
        }
        if let (true, FdType::Socket, None) = (opts.sockets, kind, late_error) {
            socket_fields(part, i, table, own);
        }
        if let Some(info) = info {
            push_str(&mut part.extra, Some(&fdinfo_json(&info, kind)));
            part.add_bits(i, bit::FDINFO);
        }
    }
    part.complete = true;
}

/// kernelscope's second scanner thread ("kernelscope-fdh"), started on first use and kept:
/// its /proc/<tid>/fd entries stay in the dentry cache between scans, where a fresh thread's
/// would be made anew each time.
static HELPER: Service<HelperJob> = Service::new("kernelscope-fdh", help);

/// Set by the helper once it has let go of a scan's Work (and so of the descriptors in it).
#[derive(Default)]
struct Released {
    done: Mutex<bool>,
    cv: Condvar,
}

impl Released {
    fn set(&self) {
        *self.done.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    /// Waits until set, at most `limit`; whether it was set.
    fn wait(&self, limit: std::time::Duration) -> bool {
        let guard = self.done.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = self
            .cv
            .wait_timeout_while(guard, limit, |done| !*done)
            .unwrap_or_else(|p| p.into_inner());
        *guard
    }
}

type HelperJob = (Arc<Work>, Arc<Released>);

/// The helper's part of one scan.
fn help((work, released): HelperJob) {
    let dirs = work.helper_dirs.as_ref().unwrap_or(&work.dirs);
    // run() catches a panic per item
    work.run(dirs);
    drop(work);
    released.set();
}

/// The helper's sender and thread id, starting it if needed; None without a second CPU or
/// when no thread can be started.
fn helper() -> Option<(mpsc::Sender<HelperJob>, i32)> {
    if std::thread::available_parallelism().map_or(1, |c| c.get()) < 2 {
        return None;
    }
    HELPER.handle().map(|h| (h.tx, h.tid))
}

/// The size of our own fd table when probing it is worthwhile (see Walk::Probe).
fn probe_size() -> Option<usize> {
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
    Some(size)
}

/// Lists and classifies every descriptor of `opts.pid` (this process when None).
pub fn scan(opts: ScanOptions) -> std::result::Result<Packed, ScanError> {
    let own = opts.pid.is_none_or(|p| p == sys::getpid());
    let fd_path = proc_dir(opts.pid, "fd");
    let open_dir = |path: &str| DirFd::open(Path::new(path));
    // our own directories are opened through the scanning thread's task: see Work::helper_dirs
    let proc_base = match opts.pid {
        Some(p) => format!("/proc/{p}"),
        None => "/proc/self".to_string(),
    };
    let base = if own {
        "/proc/thread-self".to_string()
    } else {
        proc_base.clone()
    };
    let fd_dir = open_dir(&format!("{base}/fd"))
        .or_else(|_| open_dir(&fd_path))
        .map_err(|errno| ScanError {
            syscall: "open",
            errno,
            path: fd_path.clone(),
        })?;
    let info_dir = |base: &str| {
        opts.fdinfo
            .then(|| open_dir(&format!("{base}/fdinfo")).ok())
            .flatten()
    };
    let dirs = Dirs {
        fd: fd_dir,
        info: info_dir(&base),
    };
    // learnt once with a pipe of its own: made now, not in the middle of the walk
    let _ = sys::pipefs_dev();
    let walk = match if own { probe_size() } else { None } {
        Some(size) => Walk::Probe(size),
        None => {
            let mut fds = list_fds(&dirs.fd).map_err(|errno| ScanError {
                syscall: "getdents64",
                errno,
                path: fd_path.clone(),
            })?;
            fds.sort_unstable();
            Walk::Listed(fds)
        }
    };
    // Big tables are shared with the helper thread (its directories are opened here, before
    // the walk, so that the walk can leave them out), and so is the socket dump when the last
    // scan saw sockets: it is independent kernel work.
    let helper = if walk.len() >= SPLIT_FROM {
        helper()
    } else {
        None
    };
    let helper_dirs = helper.as_ref().and_then(|(_, tid)| {
        let base = if own {
            format!("/proc/self/task/{tid}")
        } else {
            base.clone()
        };
        Some(Dirs {
            fd: open_dir(&format!("{base}/fd")).ok()?,
            info: info_dir(&base),
        })
    });
    let diag = (opts.sockets && EXPECT_SOCKETS.load(Ordering::Relaxed))
        .then(|| SockDiag::open(opts.pid, opts.sockdiag));
    let mut skip = [-1; 5];
    if own {
        let [a, b] = dirs.raw();
        let [c, d] = helper_dirs.as_ref().map_or([-1, -1], Dirs::raw);
        let e = diag.as_ref().and_then(SockDiag::raw_fd).unwrap_or(-1);
        skip = [a, b, c, d, e];
    }
    let chunks = walk.len().div_ceil(CHUNK);
    let items = chunks + usize::from(diag.is_some());
    let expected = match &walk {
        Walk::Probe(_) => LAST_OWN_COUNT.load(Ordering::Relaxed) + 64,
        Walk::Listed(fds) => fds.len(),
    };
    let work = Arc::new(Work {
        walk,
        opts,
        own,
        dirs,
        helper_dirs,
        skip,
        diag,
        table: OnceLock::new(),
        items,
        next: AtomicUsize::new(0),
        progress: Mutex::new(Progress {
            front: Packed::with_capacity(expected),
            ..Progress::default()
        }),
        all_done: Condvar::new(),
    });
    let released = helper.and_then(|(tx, _)| {
        let released = Arc::new(Released::default());
        // a send fails only when the helper is gone: the coordinator then does every item
        tx.send((Arc::clone(&work), Arc::clone(&released)))
            .ok()
            .map(|()| released)
    });
    let (mut all, mut parts) = work.finish();
    // The scan's descriptors (directories, netlink socket) must be closed when it returns, not
    // whenever the helper lets go of them: a next inventory would list them. The helper is
    // done with its last item already; this waits for it to drop the Work (a wake-up when it
    // took the job late, the end of another scan when it was busy with one).
    if let Some(released) = released {
        released.wait(std::time::Duration::from_secs(5));
    }
    let n: usize = all.len() + parts.iter().map(Packed::len).sum::<usize>();
    let refused: usize = all.refused + parts.iter().map(|p| p.refused).sum::<usize>();
    if own {
        LAST_OWN_COUNT.store(n, Ordering::Relaxed);
    }
    // /proc/<pid>/fd lists for anyone who may read the directory, but its links need ptrace
    // read access: when every one is refused, the inventory is, as a whole
    if !own && n > 0 && refused == n {
        return Err(ScanError {
            syscall: "readlink",
            errno: libc::EACCES,
            path: fd_path,
        });
    }
    if opts.sockets {
        let any_socket = std::iter::once(&all)
            .chain(&parts)
            .any(|p| (0..p.len()).any(|i| p.is(i, FdType::Socket)));
        EXPECT_SOCKETS.store(any_socket, Ordering::Relaxed);
    }
    // Chunks that could not be completed in the walk: their sockets were made after the early
    // dump started, or there was no early dump. One more dump, of just those sockets.
    if parts.iter().any(|p| !p.complete) {
        let work = Arc::try_unwrap(work);
        let (diag, early) = match work {
            Ok(work) => (work.diag, work.table.into_inner()),
            // the helper still holds it (it did not answer within the wait)
            Err(work) => (None, work.table.get().cloned()),
        };
        let table = if opts.sockets {
            let missing: InodeSet = parts
                .iter()
                .filter(|p| !p.complete)
                .flat_map(|p| (0..p.len()).map(move |i| (p, i)))
                .filter(|&(p, i)| p.is(i, FdType::Socket) && p.bits(i) & bit::ERROR == 0)
                .filter_map(|(p, i)| Some((p, i, p.inode(i)?)))
                .filter(|(_, _, ino)| early.as_ref().is_none_or(|t| !t.sockets.contains_key(ino)))
                .filter(|&(p, i, _)| !own || sys::socket_domain(p.fd(i)).is_ok_and(dumped_domain))
                .map(|(_, _, ino)| ino)
                .collect();
            let more = (!missing.is_empty()).then(|| match &diag {
                Some(diag) => diag.table(Some(&missing)),
                None => socket_table(opts.pid, opts.sockdiag, Some(&missing)),
            });
            match (early, more) {
                (Some(mut t), Some(more)) => {
                    t.sockets.extend(more.sockets);
                    Some(t)
                }
                (t, more) => t.or(more),
            }
        } else {
            None
        };
        let info_dir = info_dir(&proc_base);
        let mut scratch = Scratch::new();
        for part in parts.iter_mut().filter(|p| !p.complete) {
            complete(
                part,
                &opts,
                own,
                info_dir.as_ref(),
                table.as_ref(),
                &mut scratch,
            );
        }
    }
    for part in parts {
        all.append(part);
    }
    Ok(all)
}

/// A socket's details (or why there are none) into `out.extra` and its numeric columns.
fn socket_fields(out: &mut Packed, i: usize, table: Option<&SocketTable>, own: bool) {
    let Some(ino) = out.inode(i) else { return };
    if let Some(s) = table.and_then(|t| t.sockets.get(&ino)) {
        write_socket(&mut out.extra, s);
        out.set(i, col::LOCAL_PORT, num(s.local_port.map(u64::from)));
        out.set(i, col::REMOTE_PORT, num(s.remote_port.map(u64::from)));
        out.set(i, col::SEND_Q, num(s.send_queue_bytes));
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
    push_str(&mut out.extra, Some(&why));
    out.add_bits(i, bit::SOCKET_ERROR);
}

/// family, protocol, state, localAddress, remoteAddress, path: the addresses are formatted
/// straight into `extra`.
fn write_socket(extra: &mut String, s: &SocketInfo) {
    // in crate::layout::fds_socket order
    push_str(extra, Some(s.family.name()));
    push_str(extra, Some(s.protocol));
    push_str(extra, Some(s.state));
    for addr in [&s.local_address, &s.remote_address] {
        match addr {
            Some(Addr::Ip(IpAddr::V4(ip))) => {
                let [a, b, c, d] = ip.octets();
                for (k, octet) in [a, b, c, d].into_iter().enumerate() {
                    if k > 0 {
                        extra.push('.');
                    }
                    push_decimal(extra, u64::from(octet));
                }
                extra.push('\0');
            }
            Some(a) => {
                // writing to a String cannot fail
                let _ = write!(extra, "{a}\0");
            }
            None => push_str(extra, None),
        }
    }
    push_str(extra, s.path.as_deref());
}

/// Families the socket dumps cover.
fn dumped_domain(d: i32) -> bool {
    d == libc::AF_INET || d == libc::AF_INET6 || d == libc::AF_UNIX
}

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
    /// NUL-separated strings per record: target, error (bits::ERROR).
    pub text: String,
    /// NUL-separated strings per record, for the other bits.
    pub extra: String,
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
        Ok(packed) => Ok(packed),
        Err(e) => Err(sys_error(e.syscall, e.errno, &e.path)),
    }
}

fn to_js(p: Packed) -> NativeFds {
    NativeFds {
        nums: Float64Array::new(p.nums),
        text: p.text,
        extra: p.extra,
    }
}

#[napi(js_name = "fdsSync", catch_unwind)]
pub fn fds_sync(options: NativeFdsOptions) -> Result<NativeFds> {
    compute(scan_options(&options)?).map(to_js)
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The one thread that runs Promise-form inventories ("kernelscope-fds"), started on first use.
static WORKER: Service<Job> = Service::new("kernelscope-fds", run_job);

fn run_job(job: Job) {
    job()
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
    if let Err(job) = WORKER.submit(job) {
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
    fn decimals() {
        for v in [0u64, 7, 10, 255, 1234567, u64::MAX] {
            let mut s = String::from("x");
            push_decimal(&mut s, v);
            assert_eq!(s, format!("x{v}"));
        }
    }

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
        let out = scan(ScanOptions {
            pid: None,
            sockets: true,
            fdinfo: true,
            sockdiag: Mode::Auto,
        })
        .unwrap();
        assert_eq!(out.nums.len() % col::LEN, 0);
        // walk the text the way lib/probes/fds.js does
        let mut text = out.text.split('\0');
        let mut found = false;
        for i in 0..out.len() {
            let target = text.next().unwrap();
            if out.bits(i) & bit::ERROR != 0 {
                text.next();
            }
            if out.fd(i) == f.as_raw_fd() {
                found = true;
                assert_eq!(out.kind(i), FdType::File);
                assert!(target.ends_with("/status"), "{target}");
                assert_ne!(out.bits(i) & bit::FDINFO, 0);
            }
        }
        assert!(found);
    }
}
