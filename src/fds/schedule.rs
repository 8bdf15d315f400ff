//! The work of one scan, shared by the two scanning threads (the caller's and the helper's):
//! items claimed one at a time from a counter (the socket dump, then chunks of CHUNK
//! descriptors), each chunk described, completed when it can be, and joined to the result in
//! order as soon as it can be, by whichever thread.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

use crate::layout::fds_bit as bit;
use crate::parse::fdinfo::FdType;
use crate::sockdiag::{SockDiag, SocketTable};
use crate::sys::fd_gate::{self, Kept};
use crate::sys::{self, DirFd};

use super::complete::{complete, dumped_domain};
use super::describe::describe_one;
use super::pack::Packed;
use super::ScanOptions;

/// Descriptor numbers per work item.
pub(super) const CHUNK: usize = 256;

/// What the scanners walk.
pub(super) enum Walk {
    /// Every number below the fd table size (FDSize), probed with fstat: an unused number costs
    /// one failing fstat (0.12 µs), a used one the fstat the scan needs anyway — cheaper than
    /// getdents64 of /proc/self/fd (0.8 µs per entry, dentries cached or not) when the table is
    /// mostly in use.
    Probe(usize),
    /// Numbers listed with getdents64.
    Listed(Vec<i32>),
}

impl Walk {
    pub(super) fn len(&self) -> usize {
        match self {
            Walk::Probe(size) => *size,
            Walk::Listed(fds) => fds.len(),
        }
    }
}

/// What one work item gives: a chunk of records, or the socket table.
pub(super) enum Output {
    Chunk(Packed),
    Table(SocketTable),
}

#[derive(Default)]
pub(super) struct Progress {
    pub(super) done: usize,
    /// The result so far: the complete chunks, in order, up to the first one missing or not
    /// complete. Chunks are added here as soon as they can be, by whichever thread, so that
    /// little copying is left for after the walk (a big table's result is a MiB or so).
    pub(super) front: Packed,
    /// Chunk items in `front`.
    pub(super) appended: usize,
    /// Chunks not in `front` yet, by item index.
    pub(super) chunks: BTreeMap<usize, Packed>,
    /// Items whose scanner panicked (a bug): redone by the coordinator.
    pub(super) failed: Vec<usize>,
    /// Chunks taken out of `chunks` to be completed after the walk (Work::complete_after).
    pub(super) completing: usize,
    /// The first chunk key complete_after has not looked at yet.
    pub(super) cursor: usize,
    /// Set once the coordinator has taken the result: a late helper finds nothing to do.
    pub(super) over: bool,
}

impl Progress {
    /// Moves the chunks that come next and are complete into `front`.
    pub(super) fn advance(&mut self, first_chunk: usize) {
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
pub(super) struct Dirs {
    pub(super) fd: Kept<DirFd>,
    pub(super) info: Option<Kept<DirFd>>,
}

/// One scan's work, shared by the calling thread and the helper. Items are claimed one at a
/// time from `next`, so a busy or late helper only takes less of it: item 0 is the socket
/// dump when there is one, then chunks of CHUNK descriptors. A chunk is finished (socket
/// details, fdinfo) by the thread that scanned it when it can be: when the socket table is
/// there already or the chunk needs none. Our own table's fdinfo files are read only once
/// every chunk is walked (by both threads again): a walk must not see them (sys::fd_gate).
pub(super) struct Work {
    pub(super) walk: Walk,
    pub(super) opts: ScanOptions,
    pub(super) own: bool,
    /// The coordinator's directories (for our own process under /proc/thread-self).
    pub(super) dirs: Dirs,
    /// The helper's: under /proc/self/task/<helper tid>. readlink of /proc/<pid>/fd/<n> locks
    /// the task <pid> twice (fget_task), so two threads reading the same directory contend;
    /// each reading its own task's directory (the same descriptor table) does not: 10,000
    /// readlinks on a 2-CPU Linux 6.18 machine take 12.7 ms on one thread, 7.9 ms on two
    /// through /proc/self/fd and 6.1 ms on two through their own /proc/<tid>/fd (a C loop).
    pub(super) helper_dirs: Option<Dirs>,
    /// When the helper's directories are another thread's of another process (see mod.rs
    /// other_task): that thread's id. It can exit or unshare its table mid-scan.
    pub(super) other_tid: Option<i32>,
    /// Set once that thread seems gone: the helper then reads through `dirs` too.
    pub(super) other_task_gone: AtomicBool,
    pub(super) diag: Option<Kept<SockDiag>>,
    pub(super) table: OnceLock<SocketTable>,
    pub(super) items: usize,
    pub(super) next: AtomicUsize,
    pub(super) progress: Mutex<Progress>,
    pub(super) all_done: Condvar,
}

/// Reused buffers of one scanning thread.
pub(super) struct Scratch {
    pub(super) name: Vec<u8>,
    pub(super) link: Vec<u8>,
    /// The link of our own O_PATH descriptor on another process's file (describe::Pin).
    pub(super) again: Vec<u8>,
    /// The name of that descriptor in `own_fd_dir`.
    pub(super) own_name: Vec<u8>,
    /// /proc/thread-self/fd, while a chunk of another process's table is described (under a
    /// hold of sys::fd_gate: closed before the chunk ends).
    pub(super) own_fd_dir: Option<DirFd>,
    pub(super) info: Vec<u8>,
}

impl Scratch {
    pub(super) fn new() -> Scratch {
        Scratch {
            name: Vec::with_capacity(16),
            link: vec![0u8; 4096],
            again: vec![0u8; 4096],
            own_name: Vec::with_capacity(16),
            own_fd_dir: None,
            info: Vec::new(),
        }
    }
}

impl Work {
    pub(super) fn first_chunk(&self) -> usize {
        usize::from(self.diag.is_some())
    }

    pub(super) fn item(&self, i: usize, dirs: &Dirs, s: &mut Scratch) -> Output {
        if let (0, Some(diag)) = (i, &self.diag) {
            return Output::Table(diag.table(None));
        }
        let start = (i - self.first_chunk()) * CHUNK;
        let end = (start + CHUNK).min(self.walk.len());
        // Read through another thread of the process, which may have exited meanwhile: a chunk
        // in which descriptors were found gone is described once more through the process's
        // own directory, and when fewer are gone there, so is the rest of the helper's share.
        let other_task = self.other_tid.is_some() && !std::ptr::eq(dirs, &self.dirs);
        let dir = if other_task && self.other_task_gone.load(Ordering::Relaxed) {
            &self.dirs.fd
        } else {
            &dirs.fd
        };
        let mut out = self.describe_chunk(start, end, dir, s);
        if other_task && !std::ptr::eq(dir, &self.dirs.fd) {
            // That thread may also have unshared its table (unshare(CLONE_FILES)): its
            // directory then shows a copy that drifts from the process's. Still shared after
            // the chunk means shared throughout: a table is never shared again once unshared.
            let unshared = self
                .opts
                .pid
                .zip(self.other_tid)
                .is_none_or(|(pid, tid)| sys::same_fd_table(pid, tid) != Some(true));
            if unshared || out.vanished > 0 {
                let again = self.describe_chunk(start, end, &self.dirs.fd, s);
                if unshared || again.vanished < out.vanished {
                    self.other_task_gone.store(true, Ordering::Relaxed);
                }
                out = again;
            }
        }
        let table = self.table.get();
        if !self.after_walk(dirs) && self.ready(&out, table) {
            complete(
                &mut out,
                &self.opts,
                self.own,
                dirs.info.as_deref(),
                table,
                s,
            );
        }
        Output::Chunk(out)
    }

    /// The walk's numbers start..end described through `dir`.
    fn describe_chunk(&self, start: usize, end: usize, dir: &DirFd, s: &mut Scratch) -> Packed {
        let mut out = Packed::with_capacity(end.saturating_sub(start));
        // our own table: no kernelscope descriptor opens or closes meanwhile, and the ones
        // scans keep are left out. Another process's: describing it opens descriptors of our
        // own for a moment (describe::Pin), which no walk of our table may see.
        let gate = self.own.then(fd_gate::walk);
        let hold = (!self.own).then(fd_gate::hold);
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
            if gate.as_ref().is_some_and(|g| g.is_kept(fd)) {
                continue;
            }
            describe_one(&mut out, dir, fd, pre, s);
        }
        drop(gate);
        s.own_fd_dir = None;
        drop(hold);
        out
    }

    /// Whether chunks are completed only after the walk: when completing opens descriptors
    /// (fdinfo files) in the table being walked.
    fn after_walk(&self, dirs: &Dirs) -> bool {
        self.own && dirs.info.is_some()
    }

    /// Whether every socket of `part` can be told now: found in `table`, or known to be of a
    /// family the dumps do not cover (our own sockets).
    pub(super) fn ready(&self, part: &Packed, table: Option<&SocketTable>) -> bool {
        if !self.opts.sockets {
            return true;
        }
        (0..part.len())
            .filter(|&i| part.is_kind(i, FdType::Socket) && part.bits(i) & bit::ERROR == 0)
            .all(|i| match (table, part.inode(i)) {
                (_, None) => true,
                (Some(t), Some(ino)) if t.sockets.contains_key(&ino) => true,
                _ => self.own && sys::socket_domain(part.fd(i)).is_ok_and(|d| !dumped_domain(d)),
            })
    }

    pub(super) fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Completes `part` when it is not yet and now can be.
    pub(super) fn try_complete(&self, part: &mut Packed, dirs: &Dirs, s: &mut Scratch) {
        let table = self.table.get();
        if !part.complete && table.is_some() && !self.after_walk(dirs) && self.ready(part, table) {
            complete(part, &self.opts, self.own, dirs.info.as_deref(), table, s);
        }
    }

    /// Claims and does items until none is left; then, when chunks are completed after the
    /// walk, completes them with the other thread.
    pub(super) fn run(&self, dirs: &Dirs) {
        let mut scratch = Scratch::new();
        self.claim(dirs, &mut scratch);
        if self.after_walk(dirs) {
            self.complete_after(dirs, &mut scratch);
        }
    }

    /// Chunks left incomplete by the walk, completed one at a time by either thread once every
    /// item is done (no walk is under way any more). A chunk whose sockets are not all in the
    /// table stays for complete_late.
    fn complete_after(&self, dirs: &Dirs, s: &mut Scratch) {
        let mut p = self.progress();
        while p.done < self.items && !p.over {
            p = self.wait(p);
        }
        let table = self.table.get();
        loop {
            let next = p
                .chunks
                .range(p.cursor..)
                .find(|(_, c)| !c.complete)
                .map(|(&k, _)| k);
            let Some(k) = next else { return };
            p.cursor = k + 1;
            let Some(mut part) = p.chunks.remove(&k) else {
                return;
            };
            p.completing += 1;
            drop(p);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if self.ready(&part, table) {
                    complete(
                        &mut part,
                        &self.opts,
                        self.own,
                        dirs.info.as_deref(),
                        table,
                        s,
                    );
                }
            }));
            p = self.progress();
            p.completing -= 1;
            match r {
                Ok(()) => {
                    p.chunks.insert(k, part);
                }
                // half-written: scanned again by the coordinator
                Err(_) => p.failed.push(k),
            }
            p.advance(self.first_chunk());
            if p.completing == 0 {
                self.all_done.notify_all();
            }
        }
    }

    fn wait<'a>(
        &self,
        p: std::sync::MutexGuard<'a, Progress>,
    ) -> std::sync::MutexGuard<'a, Progress> {
        self.all_done
            .wait(p)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Claims and does items until none is left.
    fn claim(&self, dirs: &Dirs, scratch: &mut Scratch) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.items {
                return;
            }
            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut done = self.item(i, dirs, scratch);
                if let Output::Chunk(part) = &mut done {
                    // the table may have arrived while this chunk was scanned
                    self.try_complete(part, dirs, scratch);
                }
                done
            }));
            if done.is_err() {
                // a panic mid-chunk (a bug) may have left the chunk's own /proc/thread-self/fd
                // open: closed under the gate's hold, as it would have been
                let _hold = fd_gate::hold();
                scratch.own_fd_dir = None;
            }
            let mut p = self.progress();
            match done {
                Ok(Output::Chunk(part)) => {
                    p.chunks.insert(i, part);
                    p.advance(self.first_chunk());
                }
                Ok(Output::Table(table)) => {
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
                            self.try_complete(&mut part, dirs, scratch)
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
    pub(super) fn finish(&self) -> (Packed, Vec<Packed>) {
        self.run(&self.dirs);
        let mut guard = self.progress();
        while guard.done < self.items || guard.completing > 0 {
            guard = self.wait(guard);
        }
        let mut p = std::mem::take(&mut *guard);
        guard.over = true;
        drop(guard);
        let mut scratch = Scratch::new();
        for i in std::mem::take(&mut p.failed) {
            match self.item(i, &self.dirs, &mut scratch) {
                Output::Chunk(part) => {
                    p.chunks.insert(i, part);
                }
                Output::Table(table) => {
                    let _ = self.table.set(table);
                }
            }
        }
        p.advance(self.first_chunk());
        (p.front, p.chunks.into_values().collect())
    }
}
