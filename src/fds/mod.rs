//! fds() / fdsSync(): every open descriptor of a process from /proc/<pid>/fd (listed with
//! getdents64, or for our own big tables by probing with fstat; readlinkat where the link text
//! is not implied by fstat), sockets resolved through sockdiag.rs, optional
//! /proc/<pid>/fdinfo details.
//!
//! One file per job: `describe` (one descriptor), `schedule` (the work shared by the two
//! scanning threads), `complete` (socket details and fdinfo), `pack` (the wire format
//! lib/probes/fds.js unpacks, several times cheaper than building objects with napi),
//! `helper` (the second scanning thread), `entry` (the napi functions). `scan()` here strings
//! them together.

mod complete;
mod describe;
mod entry;
mod helper;
mod json;
mod pack;
mod schedule;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use crate::layout::fds_bit as bit;
use crate::parse::fdinfo::FdType;
use crate::parse::proc_text::field;
use crate::parse::sockdiag::InodeSet;
use crate::sockdiag::{socket_table, Mode, SockDiag};
use crate::sys::fd_gate::{self, Hold, Kept};
use crate::sys::{self, DirFd};

pub use entry::{fds_async, fds_json_sync, fds_sync, NativeFds, NativeFdsOptions};
pub use pack::Packed;

use complete::{complete, dumped_domain};
pub(crate) use describe::list_fds;
use helper::{helper, Released};
use schedule::{Dirs, Progress, Scratch, Walk, Work, CHUNK};

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

/// Tables at least this big are shared with the helper thread.
const SPLIT_FROM: usize = 1024;

/// Descriptor count of the previous scan of this process: probing pays off only for big tables.
static LAST_OWN_COUNT: AtomicUsize = AtomicUsize::new(0);
const PROBE_FROM: usize = 1024;

/// Whether the previous scan found sockets: then the next one dumps the socket tables while
/// the descriptors are being read, as one more work item.
static EXPECT_SOCKETS: AtomicBool = AtomicBool::new(true);

/// Where a scan reads.
struct Place {
    /// The scanned descriptor table is this process's (our pid, or one of our threads).
    own: bool,
    /// /proc/<pid>/fd as the caller names it (in errors).
    fd_path: String,
    /// /proc/<pid> or /proc/self.
    proc_base: String,
    /// Where the calling thread opens its directories: our own through the scanning thread's
    /// task (see Work::helper_dirs), another process's at proc_base.
    base: String,
}

impl Place {
    fn of(opts: &ScanOptions) -> Place {
        let own = opts.pid.is_none_or(|p| p == sys::getpid());
        let proc_base = match opts.pid {
            Some(p) => format!("/proc/{p}"),
            None => "/proc/self".to_string(),
        };
        let base = if own {
            "/proc/thread-self".to_string()
        } else {
            proc_base.clone()
        };
        Place {
            own,
            fd_path: format!("{proc_base}/fd"),
            proc_base,
            base,
        }
    }

    fn failure(&self, syscall: &'static str, errno: i32) -> ScanError {
        ScanError {
            syscall,
            errno,
            path: self.fd_path.clone(),
        }
    }
}

/// A directory the scan keeps open: left out of every walk of our own table (sys::fd_gate).
fn open_dir(hold: &Hold, path: &str) -> sys::SysResult<Kept<DirFd>> {
    let dir = DirFd::open(Path::new(path))?;
    let fd = dir.raw();
    Ok(Kept::new(hold, dir, Some(fd)))
}

/// <base>/fdinfo when fdinfo is asked for and can be opened.
fn info_dir(hold: &Hold, opts: &ScanOptions, base: &str) -> Option<Kept<DirFd>> {
    opts.fdinfo
        .then(|| open_dir(hold, &format!("{base}/fdinfo")).ok())
        .flatten()
}

/// Whether the open /proc/<pid>/fd directory `dir` lists our own descriptor table (`pid` one
/// of our threads): it then holds `dir` itself.
fn shares_our_table(dir: &DirFd) -> bool {
    let mut name = Vec::with_capacity(16);
    describe::fd_name(&mut name, dir.raw());
    match (sys::fstatat_follow(dir, &name), sys::fstat_fd(dir.raw())) {
        (Ok(a), Ok(b)) => a.dev == b.dev && a.ino == b.ino,
        _ => false,
    }
}

/// Lists and classifies every descriptor of `opts.pid` (this process when None).
pub fn scan(opts: ScanOptions) -> std::result::Result<Packed, ScanError> {
    let mut place = Place::of(&opts);
    let (dirs, probe) = {
        let hold = fd_gate::hold();
        // each learnt once with a descriptor of its own: now, not in the middle of a walk
        let _ = sys::pipefs_dev();
        let _ = sys::sockfs_dev();
        let _ = helper::cpus();
        let dirs = open_dirs(&hold, &opts, &place)?;
        // one of our own threads: the same table, so the same care with our descriptors
        if !place.own && shares_our_table(&dirs.fd) {
            place.own = true;
        }
        (dirs, if place.own { probe_size() } else { None })
    };
    let walk = walk(&place, &dirs, probe)?;
    let (work, released) = share(walk, opts, &place, dirs);
    let (front, mut rest) = work.finish();
    // The scan's descriptors (directories, netlink socket) must be closed when it returns, not
    // whenever the helper lets go of them: a next inventory would list them. The helper is
    // done with its last item already; this waits for it to drop the Work (a wake-up when it
    // took the job late, the end of another scan when it was busy with one).
    if let Some(released) = released {
        released.wait(std::time::Duration::from_secs(5));
    }
    remember(&opts, &place, &front, &rest)?;
    if rest.iter().any(|p| !p.complete) {
        complete_late(&mut rest, work, &opts, &place);
    }
    let mut all = front;
    for part in rest {
        all.append(part);
    }
    Ok(all)
}

/// Step 1: the calling thread's /proc/<pid>/fd (and fdinfo) directories.
fn open_dirs(hold: &Hold, opts: &ScanOptions, place: &Place) -> Result<Dirs, ScanError> {
    let fd = open_dir(hold, &format!("{}/fd", place.base))
        .or_else(|_| open_dir(hold, &place.fd_path))
        .map_err(|errno| place.failure("open", errno))?;
    Ok(Dirs {
        fd,
        info: info_dir(hold, opts, &place.base),
    })
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

/// Step 2: which numbers to walk: probed for our own big tables (`probe`, see probe_size),
/// else listed — our own under a walk of sys::fd_gate, without the descriptors scans keep.
fn walk(place: &Place, dirs: &Dirs, probe: Option<usize>) -> Result<Walk, ScanError> {
    if let Some(size) = probe {
        return Ok(Walk::Probe(size));
    }
    let gate = place.own.then(fd_gate::walk);
    let mut fds = list_fds(&dirs.fd).map_err(|errno| place.failure("getdents64", errno))?;
    if let Some(gate) = gate {
        fds.retain(|&fd| !gate.is_kept(fd));
    }
    fds.sort_unstable();
    Ok(Walk::Listed(fds))
}

/// Step 3: the work of the scan, handed to the helper thread too when the table is big. Big
/// tables are shared with the helper (its directories are opened here, and kept out of the
/// walks of our own table like every descriptor of the scan), and so is the socket dump when
/// the last scan saw sockets: it is independent kernel work.
fn share(
    walk: Walk,
    opts: ScanOptions,
    place: &Place,
    dirs: Dirs,
) -> (Arc<Work>, Option<Arc<Released>>) {
    let own = place.own;
    let helper = if walk.len() >= SPLIT_FROM {
        helper()
    } else {
        None
    };
    let hold = fd_gate::hold();
    let mut other_tid = None;
    let helper_dirs = helper.as_ref().and_then(|(_, tid)| {
        let base = if own {
            format!("/proc/self/task/{tid}")
        } else if let Some((task, tid)) = opts.pid.and_then(|pid| other_task(pid, place)) {
            other_tid = Some(tid);
            task
        } else {
            place.base.clone()
        };
        // fdinfo of another process through its own directory: read once a chunk is
        // described, where a thread gone could not be told from a descriptor gone
        let info_base = if other_tid.is_some() {
            &place.base
        } else {
            &base
        };
        Some(Dirs {
            fd: open_dir(&hold, &format!("{base}/fd")).ok()?,
            info: info_dir(&hold, &opts, info_base),
        })
    });
    let diag = (opts.sockets && EXPECT_SOCKETS.load(Ordering::Relaxed)).then(|| {
        let diag = SockDiag::open(opts.pid, opts.sockdiag);
        let fd = diag.raw_fd();
        Kept::new(&hold, diag, fd)
    });
    drop(hold);
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
        other_tid,
        other_task_gone: AtomicBool::new(false),
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
    (work, released)
}

/// /proc/<pid>/task/<tid> of another thread of the process `pid` that shares its descriptor
/// table (kcmp), for the helper: the two scanning threads then read the table through two
/// tasks, where through one they contend for it (fget_task takes the task's lock on every
/// lookup). 10,000 readlinks, stats through the links and lstats of their paths on two threads:
/// 16.6 ms through one task, 13.3 ms through two (a C loop, 2-CPU Linux 6.18). None for a
/// process of one thread, or where kcmp cannot tell. The helper checks again after each chunk
/// (schedule.rs Work::item): that thread may exit or unshare its table.
fn other_task(pid: i32, place: &Place) -> Option<(String, i32)> {
    let tasks = sys::numeric_entries(Path::new(&format!("{}/task", place.proc_base))).ok()?;
    for tid in tasks.into_iter().filter(|&t| t != pid) {
        match sys::same_fd_table(pid, tid) {
            Some(true) => return Some((format!("{}/task/{tid}", place.proc_base), tid)),
            Some(false) => {}
            // no kcmp here (ENOSYS, or refused: EPERM under some seccomp profiles)
            None => return None,
        }
    }
    None
}

/// Step 4: what the next scan should know (the table's size, whether it had sockets); and
/// the refusal of another process's inventory as a whole.
fn remember(
    opts: &ScanOptions,
    place: &Place,
    front: &Packed,
    rest: &[Packed],
) -> Result<(), ScanError> {
    let n: usize = front.len() + rest.iter().map(Packed::len).sum::<usize>();
    let refused: usize = front.refused + rest.iter().map(|p| p.refused).sum::<usize>();
    if place.own {
        LAST_OWN_COUNT.store(n, Ordering::Relaxed);
    }
    // /proc/<pid>/fd lists for anyone who may read the directory, but its links need ptrace
    // read access: when every one is refused, the inventory is, as a whole
    if !place.own && n > 0 && refused == n {
        return Err(place.failure("readlink", libc::EACCES));
    }
    if opts.sockets {
        let any_socket = std::iter::once(front)
            .chain(rest)
            .any(|p| (0..p.len()).any(|i| p.is_kind(i, FdType::Socket)));
        EXPECT_SOCKETS.store(any_socket, Ordering::Relaxed);
    }
    Ok(())
}

/// Step 5: chunks that could not be completed in the walk: their sockets were made after the
/// early dump started, or there was no early dump. One more dump, of just those sockets.
fn complete_late(parts: &mut [Packed], work: Arc<Work>, opts: &ScanOptions, place: &Place) {
    let own = place.own;
    let (diag, early) = match Arc::try_unwrap(work) {
        Ok(work) => (work.diag, work.table.into_inner()),
        // the helper still holds it (it did not answer within the wait)
        Err(work) => (None, work.table.get().cloned()),
    };
    let table = if opts.sockets {
        let missing: InodeSet = parts
            .iter()
            .filter(|p| !p.complete)
            .flat_map(|p| (0..p.len()).map(move |i| (p, i)))
            .filter(|&(p, i)| p.is_kind(i, FdType::Socket) && p.bits(i) & bit::ERROR == 0)
            .filter_map(|(p, i)| Some((p, i, p.inode(i)?)))
            .filter(|(_, _, ino)| early.as_ref().is_none_or(|t| !t.sockets.contains_key(ino)))
            .filter(|&(p, i, _)| !own || sys::socket_domain(p.fd(i)).is_ok_and(dumped_domain))
            .map(|(_, _, ino)| ino)
            .collect();
        let more = (!missing.is_empty()).then(|| match &diag {
            Some(diag) => diag.table(Some(&missing)),
            // its netlink socket lives for the dump: opened and closed under a hold
            None => {
                let _hold = fd_gate::hold();
                socket_table(opts.pid, opts.sockdiag, Some(&missing))
            }
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
    let info_dir = info_dir(&fd_gate::hold(), opts, &place.proc_base);
    let mut scratch = Scratch::new();
    for part in parts.iter_mut().filter(|p| !p.complete) {
        complete(
            part,
            opts,
            own,
            info_dir.as_deref(),
            table.as_ref(),
            &mut scratch,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::fds_col as col;

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
        let strings = out.text.to_vec();
        let mut text = strings.iter();
        let mut found = false;
        for i in 0..out.len() {
            let target = text.next().unwrap().clone().unwrap_or_default();
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
        assert!(text.next().is_none(), "every string read");
    }
}
