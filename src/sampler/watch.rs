//! What the sampler thread reads per watched thread, and which threads it watches.
//!
//! Per sample a thread costs one `pread` of its already-open `syscall` file. `stat` (the state
//! letter) and `wchan` are read again only when the call changed, when the thread is blocked
//! outside a syscall, and every `REVERIFY` samples of an unchanged call (a thread may go from S
//! to D, or to another wait, inside one call); a target is described only when the call or its
//! arguments change. A pool worker parked in one futex wait (idle on libuv's condition variable)
//! is read every 4th pass only, except in the passes right after JS queued pool work
//! (samplerPoke). The set of pool workers is looked up again (`collect_threads`, a few dozen
//! /proc reads) only when the thread count changed (and once more at the next refresh, for
//! threads not yet named), a watched thread vanished, or once a second until the whole pool
//! (UV_THREADPOOL_SIZE workers) is known;
//! in between one `fstat` of /proc/self/task tells the count.

use std::collections::HashMap;

use crate::layout::{thread_role, thread_state_name, THREAD_STATES};
use crate::parse::syscall::{arg_target, parse_syscall_line, syscall_name, Arch, SyscallLine};
use crate::sys::{DirFd, ProcFile};
use crate::threads::{collect_threads, describe_target, RoleHints, ThreadsOptions};

/// An unchanged call's state and wchan are read again every this many samples.
pub const REVERIFY: u32 = 8;
/// The pool workers are looked up in full at least this often, ms.
const FULL_LOOKUP_MS: f64 = 1000.0;
/// A pool worker seen this many reads in a row in one unchanged futex wait is parked (idle on
/// libuv's condition variable, or waiting long on a lock).
const PARKED_AFTER: u32 = 8;

/// What one watched thread was last seen doing (the sampler's strings, not yet interned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Index into THREAD_STATES.
    pub state: u8,
    /// (nr, args) while in a syscall.
    pub call: Option<(i64, [u64; 6])>,
    pub name: Option<&'static str>,
    pub target: Option<String>,
    pub wchan: Option<String>,
}

pub struct Watched {
    pub role: u8,
    stat: ProcFile,
    syscall: ProcFile,
    wchan: ProcFile,
    pub seen: Option<Seen>,
    /// Samples since state and wchan were last read.
    stale: u32,
    /// Reads in a row that found the same call.
    same: u32,
    /// Whether this pass read the thread (a parked worker is not read every pass).
    pub fresh: bool,
}

impl Watched {
    /// A pool worker parked in one futex wait for PARKED_AFTER reads.
    pub fn parked(&self) -> bool {
        self.role == 1
            && self.same >= PARKED_AFTER
            && self.seen.as_ref().is_some_and(|s| s.name == Some("futex"))
    }
}

/// Looks (SETTLE_REFRESH_MS apart) at the pool again after the thread count changed.
const SETTLE_LOOKS: u32 = 50;

pub fn open_watched(tid: i32, role: u8) -> Option<Watched> {
    let base = format!("/proc/self/task/{tid}/");
    Some(Watched {
        role,
        stat: ProcFile::open(&format!("{base}stat")).ok()?,
        syscall: ProcFile::open(&format!("{base}syscall")).ok()?,
        wchan: ProcFile::open(&format!("{base}wchan")).ok()?,
        seen: None,
        stale: 0,
        same: 0,
        fresh: false,
    })
}

pub fn state_index(c: char) -> u8 {
    let name = thread_state_name(c);
    THREAD_STATES
        .iter()
        .position(|s| *s == name)
        .unwrap_or(THREAD_STATES.len() - 1) as u8
}

/// The state letter of a /proc/<pid>/task/<tid>/stat line (the first field after the comm).
pub fn stat_state(text: &[u8]) -> Option<char> {
    let close = text.iter().rposition(|&b| b == b')')?;
    text.get(close + 1..)?
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .map(|&b| b as char)
}

fn read_state(w: &Watched, buf: &mut [u8]) -> Option<char> {
    let n = w.stat.read(buf).ok()?;
    stat_state(&buf[..n])
}

fn read_wchan(w: &Watched, buf: &mut [u8]) -> Option<String> {
    let n = w.wchan.read(buf).ok()?;
    let s = String::from_utf8_lossy(&buf[..n]);
    let s = s.trim();
    (!s.is_empty() && s != "0").then(|| s.to_string())
}

/// The state letter and (unless running) the wchan; None when the thread is gone.
fn state_and_wchan(w: &Watched, buf: &mut [u8]) -> Option<(u8, Option<String>)> {
    let state = read_state(w, buf)?;
    let wchan = if state == 'R' {
        None
    } else {
        read_wchan(w, buf)
    };
    Some((state_index(state), wchan))
}

/// Reads one thread into `w.seen`; false when it is gone.
pub fn observe(w: &mut Watched, buf: &mut [u8]) -> bool {
    let line = match w.syscall.read(buf) {
        Ok(n) => parse_syscall_line(&buf[..n]),
        Err(_) => None,
    };
    let seen = match line {
        // "running" is what the kernel prints for a task in state R (TASK_RUNNING)
        Some(SyscallLine::Running) => {
            w.same = 0;
            Seen {
                state: state_index('R'),
                call: None,
                name: None,
                target: None,
                wchan: None,
            }
        }
        Some(SyscallLine::InSyscall { nr, args, .. }) => {
            let same = w.seen.as_ref().is_some_and(|s| s.call == Some((nr, args)));
            w.same = if same { w.same.saturating_add(1) } else { 0 };
            if same && w.stale + 1 < REVERIFY {
                w.stale += 1;
                return true;
            }
            let Some((state, wchan)) = state_and_wchan(w, buf) else {
                return false;
            };
            let name = Arch::native().and_then(|a| syscall_name(a, nr));
            let target = match (&w.seen, same) {
                (Some(s), true) => s.target.clone(),
                _ => name
                    .and_then(arg_target)
                    .and_then(|t| describe_target(t, &args)),
            };
            Seen {
                state,
                call: Some((nr, args)),
                name,
                target,
                wchan,
            }
        }
        // blocked outside a syscall (a page fault, stopped), or no syscall file to read
        Some(SyscallLine::NotInSyscall { .. }) | None => {
            w.same = 0;
            let Some((state, wchan)) = state_and_wchan(w, buf) else {
                return false;
            };
            Seen {
                state,
                call: None,
                name: None,
                target: None,
                wchan,
            }
        }
    };
    w.seen = Some(seen);
    w.stale = 0;
    true
}

/// Which threads are libuv pool workers, looked up again only when that may have changed.
#[derive(Default)]
pub struct Roster {
    task_dir: Option<DirFd>,
    nlink: Option<u64>,
    next_full_ms: f64,
    hints: Option<RoleHints>,
    pool: Vec<i32>,
    /// A watched thread vanished: look again at the next refresh.
    pub stale: bool,
    /// Refreshes left that look again (the count changed lately; new threads name themselves late).
    settle: u32,
}

impl Roster {
    /// Whether the thread count changed lately (the next looks come sooner).
    pub fn settling(&self) -> bool {
        self.settle > 0
    }

    pub fn pool_workers(&mut self, hints: &RoleHints, own: i32, now_ms: f64) -> &[i32] {
        if self.task_dir.is_none() {
            self.task_dir = DirFd::open(std::path::Path::new("/proc/self/task")).ok();
        }
        let nlink = self.task_dir.as_ref().and_then(|d| d.nlink().ok());
        let moved = nlink.is_none() || nlink != self.nlink;
        let changed = moved
            || self.settle > 0
            || self.stale
            || now_ms >= self.next_full_ms
            || self.hints.as_ref() != Some(hints);
        if changed {
            self.pool = pool_tids(hints, own);
            // threads that just appeared may not have their names yet (libuv names each worker
            // from inside it, so a look taken in between finds "node" threads not yet known as
            // workers, and on a loaded machine a new thread may not run for 100 ms and more):
            // after a change in the count, look again at each of the next SETTLE_LOOKS refreshes
            // (10 ms apart: half a second)
            // once the whole pool is known (libuv starts all its UV_THREADPOOL_SIZE workers at
            // once and never ends one before the process exits) there is nothing left to wait
            // for: no settling looks and no periodic full look; a change in the count, a
            // vanished thread or new hints still bring one
            let complete = self.pool.len() >= hints.threadpool_size.max(1) as usize;
            self.settle = if complete {
                0
            } else if moved {
                SETTLE_LOOKS
            } else {
                self.settle.saturating_sub(1)
            };
            self.nlink = nlink;
            self.hints = Some(hints.clone());
            self.next_full_ms = if complete {
                f64::INFINITY
            } else {
                now_ms + FULL_LOOKUP_MS
            };
            self.stale = false;
        }
        &self.pool
    }
}

fn pool_tids(hints: &RoleHints, own: i32) -> Vec<i32> {
    let opts = ThreadsOptions {
        syscalls: false,
        pid: None,
        hints: hints.clone(),
    };
    match collect_threads(&opts, None) {
        Ok(list) => list
            .into_iter()
            .filter(|t| t.role == thread_role::LIBUV_WORKER && t.tid != own)
            .map(|t| t.tid)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The threads to watch: pool workers (role 1) and the loop threads that asked (role 0).
pub fn wanted(pool: &[i32], loops: &[i32]) -> HashMap<i32, u8> {
    let mut want: HashMap<i32, u8> = pool.iter().map(|&t| (t, 1)).collect();
    for &t in loops {
        want.insert(t, 0);
    }
    want
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_letter_after_the_comm() {
        assert_eq!(stat_state(b"12 (a) b) S 1 2"), Some('S'));
        assert_eq!(stat_state(b"12 (node) R 1"), Some('R'));
        assert_eq!(stat_state(b"12 (node"), None);
    }

    #[test]
    fn an_unchanged_call_is_read_again_every_reverify_samples() {
        // this test thread's own sibling: a thread parked in a futex for the whole test
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let h = std::thread::spawn(move || {
            tid_tx.send(crate::sys::gettid()).ok();
            rx.recv().ok();
        });
        let tid = tid_rx.recv().unwrap_or(0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut w = open_watched(tid, 1).expect("own thread's files");
        let mut buf = vec![0u8; 1024];
        assert!(observe(&mut w, &mut buf));
        let first = w.seen.clone().expect("seen");
        assert_eq!(first.name, Some("futex"));
        assert_eq!(first.state, state_index('S'));
        for _ in 0..REVERIFY * 2 {
            assert!(observe(&mut w, &mut buf));
            assert_eq!(w.seen.as_ref(), Some(&first));
            assert!(w.stale < REVERIFY);
        }
        assert!(w.parked(), "{} reads in one futex wait", REVERIFY * 2 + 1);
        w.role = 0;
        assert!(!w.parked(), "a loop thread is never parked");
        tx.send(()).ok();
        h.join().ok();
        // gone: its files read ESRCH
        assert!(!observe(&mut w, &mut buf));
    }
}
