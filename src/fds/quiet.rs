//! Whether another process ran at all while a chunk of its descriptors was read: then none of
//! them can have been closed and reused meanwhile, and the second readlink of each path
//! descriptor (describe.rs `check`, the reuse check) is not needed for that chunk.
//!
//! A process's descriptor table changes only by what its own threads do (open, close, dup,
//! accept, recvmsg of SCM_RIGHTS, io_uring's workers and SQPOLL thread, which are threads of
//! the process too). A thread that is blocked — off the CPU and off the run queue: its
//! `/proc/<pid>/task/<tid>/wchan` names a function (the kernel's get_wchan() gives one only
//! then; a running, runnable or just-woken thread reads "0") — and whose context-switch counts
//! (`voluntary_ctxt_switches` + `nonvoluntary_ctxt_switches` of its status) are the same after
//! the chunk as before it, did not run in between: running would have meant being switched
//! in, and being blocked again at the end, switched out, which counts one. Reads before a
//! chunk: counts, then wchan; after: wchan, then counts. The thread list must be the whole
//! group (the leader's `Threads:` equals its length, before and after): a thread is created
//! only by one that runs.
//!
//! Not covered: another process sharing the table without being one of its threads
//! (clone(CLONE_FILES) without CLONE_THREAD; no common runtime does it). With any thread
//! running, a read failing, or more than MAX_THREADS threads (the reads would cost more than
//! the readlinks they save), chunks are read with the reuse check, as before.

use crate::parse::proc_text::field;
use crate::sys::fd_gate::{Hold, Kept};
use crate::sys::{DirFd, ProcFile};

/// Beyond this many threads the snapshots (four reads a thread a chunk) are not worth it.
const MAX_THREADS: usize = 64;

struct Task {
    status: Kept<ProcFile>,
    wchan: Kept<ProcFile>,
}

/// A file of the scan: opened under `hold` and left out of walks of our own table, as the
/// scan's other descriptors are.
fn kept(hold: &Hold, path: &str) -> Option<Kept<ProcFile>> {
    let f = ProcFile::open(path).ok()?;
    let fd = f.raw();
    Some(Kept::new(hold, f, Some(fd)))
}

/// The threads of another process, their status and wchan files kept open.
pub(super) struct Quiet {
    tasks: Vec<Task>,
}

/// What a snapshot saw: every thread blocked, with these switch counts.
#[derive(PartialEq, Eq, Debug)]
pub(super) struct Still(Vec<u64>);

impl Quiet {
    /// The threads of `pid`; None when there are too many or they cannot be read.
    pub(super) fn open(hold: &Hold, pid: i32) -> Option<Quiet> {
        let dir = DirFd::open(std::path::Path::new(&format!("/proc/{pid}/task"))).ok()?;
        let mut buf = vec![0u8; 16 * 1024];
        let mut tids = Vec::new();
        dir.for_each_name(&mut buf, |name| {
            if let Some(tid) = crate::sys::parse_i32(name) {
                tids.push(tid);
            }
        })
        .ok()?;
        if tids.is_empty() || tids.len() > MAX_THREADS {
            return None;
        }
        // the leader first: its status carries the group's thread count
        tids.sort_unstable_by_key(|&t| t != pid);
        if tids[0] != pid {
            return None;
        }
        let tasks = tids
            .iter()
            .map(|tid| {
                let base = format!("/proc/{pid}/task/{tid}");
                Some(Task {
                    status: kept(hold, &format!("{base}/status"))?,
                    wchan: kept(hold, &format!("{base}/wchan"))?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Quiet { tasks })
    }

    fn counts(&self, t: &Task, leader: bool, buf: &mut [u8]) -> Option<u64> {
        let n = t.status.read(buf).ok()?;
        let text = &buf[..n];
        if leader && field(text, "Threads")? != self.tasks.len() as u64 {
            return None;
        }
        Some(field(text, "voluntary_ctxt_switches")? + field(text, "nonvoluntary_ctxt_switches")?)
    }

    fn blocked(t: &Task, buf: &mut [u8]) -> bool {
        match t.wchan.read(buf) {
            Ok(n) => n > 0 && &buf[..n] != b"0",
            Err(_) => false,
        }
    }

    /// Before a chunk: every thread's counts, then whether it is blocked. None when one is not.
    pub(super) fn before(&self) -> Option<Still> {
        let mut buf = [0u8; 4096];
        let mut counts = Vec::with_capacity(self.tasks.len());
        for (i, t) in self.tasks.iter().enumerate() {
            counts.push(self.counts(t, i == 0, &mut buf)?);
            if !Self::blocked(t, &mut buf) {
                return None;
            }
        }
        Some(Still(counts))
    }

    /// After a chunk: whether every thread is still blocked with the counts `before` saw.
    pub(super) fn still(&self, before: &Still) -> bool {
        let mut buf = [0u8; 4096];
        self.tasks.iter().enumerate().all(|(i, t)| {
            Self::blocked(t, &mut buf) && self.counts(t, i == 0, &mut buf) == Some(before.0[i])
        })
    }
}
