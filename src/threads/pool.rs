//! Which threads are the libuv threadpool's, told for certain where kernelscope can: the one
//! source threads() and the wait sampler read the pool from.
//!
//! - A probe task queued on the pool (napi async work: its execute runs on a pool thread)
//!   records the tid it ran on. Probes come in bursts of `threadpool_size` that wait for each
//!   other briefly, so that each idle pool thread takes one; the call that queued them waits
//!   too, then withdraws the probes no thread took (none is left queued behind a busy pool).
//! - The first probe also records its thread's *stack entry*: the outermost code address on
//!   its stack and that address's distance from the top of the stack mapping. glibc and musl
//!   keep a thread's start routine in its descriptor at the top of its stack, so for a pool
//!   thread this is libuv's worker loop. A thread whose stack (read from the stack pointer in
//!   its syscall file, with process_vm_readv on our own pid) holds the same entry at the same
//!   place started in that loop: a pool thread, idle or blocked in its work. Any other entry
//!   (a worker_thread's, a platform thread's) is not.
//!
//! Pool threads live as long as the process, so what is learnt is kept, per tid and start time
//! (a reused tid is a new thread), and dropped in a forked child. A probe can start the pool
//! when nothing had: threads() queues one only when enough unexplained threads exist for a
//! pool to be among them.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use napi::Env;
use once_cell::sync::Lazy;

use crate::parse::maps::{is_code, mapping_of, parse_maps, Mapping};
use crate::parse::proc_text::parse_stat;
use crate::sys;

/// How much of a stack, from its top, is searched for the entry (the descriptor and the first
/// frames: a few KiB with glibc).
const STACK_TOP_BYTES: u64 = 16 * 1024;
/// How long a burst waits for probes to join: with none joined yet, after the last one
/// joined, in all (ms). Then the probes no pool thread has taken are withdrawn.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    pub first_ms: f64,
    pub next_ms: f64,
    pub max_ms: f64,
}

/// threads()' first burst: long enough for idle pool threads to wake on a loaded machine.
pub const FIRST_BURST: Patience = Patience {
    first_ms: 100.0,
    next_ms: 50.0,
    max_ms: 250.0,
};
/// Later bursts, and the wait sampler's single probe: short.
pub const SHORT_BURST: Patience = Patience {
    first_ms: 20.0,
    next_ms: 20.0,
    max_ms: 50.0,
};
/// Bursts after the first are spaced by a delay doubling from the first to the second.
const BACKOFF_MS: (f64, f64) = (1_000.0, 60_000.0);
/// The most probes in one burst.
const MAX_BURST: usize = 128;

/// The outermost code address on a thread's stack and its distance in bytes from the top of
/// the stack's mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackEntry {
    pub addr: u64,
    pub from_top: u64,
}

/// What is known of one thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It ran a probe.
    Probe,
    /// Its stack entry is the probe's.
    Stack,
    /// Its stack entry is another.
    NotPool,
}

struct Seen {
    start_ticks: u64,
    verdict: Verdict,
}

struct Burst {
    id: u64,
    size: usize,
    started: usize,
    begun_ms: f64,
    last_ms: f64,
    patience: Patience,
    closed: bool,
}

impl Burst {
    /// Whether its probes still wait for each other at `now`.
    fn open(&self, now: f64) -> bool {
        !self.closed && self.started < self.size && now < self.deadline()
    }

    fn deadline(&self) -> f64 {
        let p = self.patience;
        let end = if self.started == 0 {
            self.begun_ms + p.first_ms
        } else {
            self.last_ms + p.next_ms
        };
        end.min(self.begun_ms + p.max_ms)
    }
}

#[derive(Default)]
struct State {
    pid: i32,
    seen: HashMap<i32, Seen>,
    entry: Option<StackEntry>,
    /// Whether the entry tells pool threads apart: no thread known not to be one (Node's
    /// platform threads) has it. None until checked.
    distinct: Option<bool>,
    burst: Option<Burst>,
    bursts: u64,
    next_burst_ms: f64,
    backoff_ms: f64,
}

static STATE: Lazy<Mutex<State>> = Lazy::new(|| Mutex::new(State::default()));
static JOINED: Condvar = Condvar::new();

/// The state of this process (a forked child starts afresh: its pool is not the parent's).
fn lock() -> MutexGuard<'static, State> {
    let mut g = STATE.lock().unwrap_or_else(|p| p.into_inner());
    let pid = sys::getpid();
    if g.pid != pid {
        *g = State {
            pid,
            ..State::default()
        };
    }
    g
}

/// What is known of thread `tid` started at `start_ticks`.
pub fn verdict(tid: i32, start_ticks: u64) -> Option<Verdict> {
    lock()
        .seen
        .get(&tid)
        .filter(|s| s.start_ticks == start_ticks)
        .map(|s| s.verdict)
}

/// The probe's stack entry, once a probe has run.
pub fn entry() -> Option<StackEntry> {
    lock().entry
}

/// Whether the entry has been checked against threads that are not pool threads, and passed.
pub fn entry_distinct() -> Option<bool> {
    lock().distinct
}

/// Records that check (`others`: the stack entries of threads known not to be pool threads;
/// none read leaves it unchecked). Were a libuv to start every thread through one trampoline,
/// the entry would be everyone's and tell nothing: then it is not used.
pub fn check_distinct(others: &[StackEntry]) -> Option<bool> {
    let mut g = lock();
    if g.distinct.is_none() && !others.is_empty() {
        let entry = g.entry?;
        g.distinct = Some(others.iter().all(|e| *e != entry));
    }
    g.distinct
}

/// Pool threads known by probe or stack.
pub fn known_count() -> usize {
    lock()
        .seen
        .values()
        .filter(|s| s.verdict != Verdict::NotPool)
        .count()
}

/// Records what a thread's stack showed (a probe's record is not overwritten).
pub fn record_stack(tid: i32, start_ticks: u64, pool: bool) {
    let mut g = lock();
    let keep = g
        .seen
        .get(&tid)
        .is_some_and(|s| s.start_ticks == start_ticks && s.verdict == Verdict::Probe);
    if !keep {
        let verdict = if pool {
            Verdict::Stack
        } else {
            Verdict::NotPool
        };
        g.seen.insert(
            tid,
            Seen {
                start_ticks,
                verdict,
            },
        );
    }
}

/// Forgets threads that are gone (`alive`: the current list of this process's tids).
pub fn forget_gone(alive: &[i32]) {
    let mut g = lock();
    if g.seen.len() > alive.len() || g.seen.keys().any(|t| !alive.contains(t)) {
        g.seen.retain(|t, _| alive.contains(t));
    }
}

/// Queues a burst of `size` probes on the pool of `env`'s loop, unless the last burst was
/// too recent, and waits until every probe joined or the burst's patience ran out; then the
/// probes no pool thread took are withdrawn (sys::napi::pool_runs), so none is left queued.
pub fn probe(env: &Env, size: usize, patience: Patience) {
    let size = size.clamp(1, MAX_BURST);
    let now = sys::monotonic_ms();
    let id = {
        let mut g = lock();
        if g.burst.as_ref().is_some_and(|b| b.open(now)) || now < g.next_burst_ms {
            return;
        }
        g.bursts += 1;
        let id = g.bursts;
        g.burst = Some(Burst {
            id,
            size,
            started: 0,
            begun_ms: now,
            last_ms: now,
            patience,
            closed: false,
        });
        g.backoff_ms = if g.backoff_ms == 0.0 {
            BACKOFF_MS.0
        } else {
            (g.backoff_ms * 2.0).min(BACKOFF_MS.1)
        };
        g.next_burst_ms = now + g.backoff_ms;
        id
    };
    sys::napi::pool_runs(env, size, on_pool_thread, id, |queued| {
        let mut g = lock();
        if let Some(b) = g.burst.as_mut().filter(|b| b.id == id) {
            b.size = queued;
        }
        g = hold(g, id);
        if let Some(b) = g.burst.as_mut().filter(|b| b.id == id) {
            b.closed = true;
        }
        JOINED.notify_all();
    });
}

/// Waits while burst `id` is open (its probes wait for each other).
fn hold(mut g: MutexGuard<'static, State>, id: u64) -> MutexGuard<'static, State> {
    loop {
        let now = sys::monotonic_ms();
        let Some(left) = g
            .burst
            .as_ref()
            .filter(|b| b.id == id && b.open(now))
            .map(|b| b.deadline() - now)
        else {
            return g;
        };
        let d = Duration::from_micros((left.max(0.1) * 1000.0) as u64);
        g = match JOINED.wait_timeout(g, d) {
            Ok((g, _)) => g,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
}

/// A probe, on a libuv pool thread: records this thread, and holds it while its burst is open.
fn on_pool_thread(id: u64) {
    let tid = sys::gettid();
    let start = own_start_ticks();
    let entry = if lock().entry.is_none() {
        own_stack_entry()
    } else {
        None
    };
    let mut g = lock();
    if let Some(start_ticks) = start {
        g.seen.insert(
            tid,
            Seen {
                start_ticks,
                verdict: Verdict::Probe,
            },
        );
    }
    if g.entry.is_none() {
        g.entry = entry;
    }
    let now = sys::monotonic_ms();
    let joined = match g.burst.as_mut().filter(|b| b.id == id && b.open(now)) {
        Some(b) => {
            b.started += 1;
            b.last_ms = now;
            true
        }
        None => false,
    };
    JOINED.notify_all();
    // hold this thread until the others joined, so that each idle pool thread takes a probe
    if joined {
        drop(hold(g, id));
    }
}

/// This thread's start time (task stat starttime, clock ticks after boot).
fn own_start_ticks() -> Option<u64> {
    let mut buf = [0u8; 1024];
    let n = sys::read_file_into(b"/proc/thread-self/stat", &mut buf).ok()?;
    parse_stat(&buf[..n]).map(|s| s.starttime)
}

/// This thread's own stack entry.
fn own_stack_entry() -> Option<StackEntry> {
    let marker = 0u8;
    // an address inside this thread's stack: this function's own frame
    let here = std::hint::black_box(std::ptr::addr_of!(marker)) as u64;
    stack_entry(here, &own_maps()?)
}

/// This process's mappings (cold: read when a stack must be looked at).
pub fn own_maps() -> Option<Vec<Mapping>> {
    std::fs::read("/proc/self/maps")
        .ok()
        .map(|t| parse_maps(&t))
}

/// The stack entry of the thread of this process whose stack pointer is `sp`; None when `sp`
/// is not in a stack-like mapping or its top cannot be read.
pub fn stack_entry(sp: u64, maps: &[Mapping]) -> Option<StackEntry> {
    let m = mapping_of(maps, sp)?;
    if m.exec {
        return None;
    }
    let top = m.end;
    let from = sp.max(top.saturating_sub(STACK_TOP_BYTES)) & !7;
    let mut buf = vec![0u8; usize::try_from(top - from).ok()?];
    let n = sys::read_process_memory(sys::getpid(), from, &mut buf).ok()?;
    if n < buf.len() {
        return None;
    }
    outermost_code(&buf, from, top, maps)
}

/// The code address nearest the top of `words` (memory read from `from` up to `top`).
fn outermost_code(words: &[u8], from: u64, top: u64, maps: &[Mapping]) -> Option<StackEntry> {
    words.chunks_exact(8).enumerate().rev().find_map(|(i, w)| {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let addr = u64::from_ne_bytes(a);
        let at = from + 8 * i as u64;
        is_code(maps, addr).then_some(StackEntry {
            addr,
            from_top: top - at,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outermost_code_word() {
        let maps = [
            Mapping {
                start: 0x1000,
                end: 0x2000,
                exec: true,
            },
            Mapping {
                start: 0x8000,
                end: 0x9000,
                exec: false,
            },
        ];
        let mut stack = vec![0u8; 64];
        let put = |s: &mut Vec<u8>, i: usize, v: u64| {
            s[i * 8..i * 8 + 8].copy_from_slice(&v.to_ne_bytes())
        };
        put(&mut stack, 1, 0x1500); // a deeper return address
        put(&mut stack, 5, 0x1a00); // the start routine
        put(&mut stack, 6, 0x8123); // a stack address above it: data
        let e = outermost_code(&stack, 0x8fc0, 0x9000, &maps);
        assert_eq!(
            e,
            Some(StackEntry {
                addr: 0x1a00,
                from_top: 24
            })
        );
        assert_eq!(outermost_code(&[0u8; 16], 0x8ff0, 0x9000, &maps), None);
    }

    #[test]
    fn this_threads_entry_is_its_start_routine() {
        // two threads started by the same std::thread code share their entry; the test's
        // own stack entry is found and is a code address
        let a = std::thread::spawn(own_stack_entry).join().unwrap();
        let b = std::thread::spawn(own_stack_entry).join().unwrap();
        assert!(a.is_some());
        assert_eq!(a, b);
        let maps = own_maps().unwrap();
        assert!(is_code(&maps, a.unwrap().addr));
    }

    #[test]
    fn no_entry_for_a_code_or_unmapped_address() {
        let maps = own_maps().unwrap();
        let code = maps.iter().find(|m| m.exec).unwrap();
        assert_eq!(stack_entry(code.start, &maps), None);
        assert_eq!(stack_entry(8, &maps), None);
    }
}
