//! The wait sampler: one kernelscope thread that, only while at least one explained operation is
//! in flight, reads every `interval` the state, syscall (with what it is about: a path, a peer)
//! and wchan of the libuv pool workers and of the loop threads that asked for it, into a fixed
//! ring of episodes (ring.rs) that JS drains in one call. It stops when the last one leaves.
//! Cost: three `pread`s of already-open /proc files per watched thread per sample; a target is
//! described (readlink / process_vm_readv) only when a thread's syscall or arguments change.

pub mod ring;

use std::collections::HashMap;
use std::time::Duration;

use napi::bindgen_prelude::Float64Array;
use napi::{Env, Result};
use napi_derive::napi;
use once_cell::sync::Lazy;
use std::sync::Mutex;

use crate::layout::{sampler_episode as slot, thread_role, thread_state_name, THREAD_STATES};
use crate::parse::syscall::{arg_target, parse_syscall_line, syscall_name, Arch, SyscallLine};
use crate::sys::{self, ProcFile};
use crate::threads::{collect_threads, describe_target, RoleHints, ThreadsOptions};
use ring::{Observation, Ring};

/// How often the set of pool workers is looked up again (the pool starts lazily).
const REFRESH_MS: f64 = 100.0;

#[derive(Default)]
struct Shared {
    ring: Ring,
    /// loop thread tid -> the intervals (ms) its explained operations asked for.
    wants: HashMap<i32, Vec<f64>>,
    /// tids whose environment has a cleanup hook that drops its wants.
    hooked: std::collections::HashSet<i32>,
    hints: Option<RoleHints>,
    /// Bumped at each start of a thread; a thread runs while it holds the current value.
    generation: u64,
    /// pid the running thread was started in (a forked child has none).
    pid: i32,
    running: bool,
    samples: u64,
    cpu_ms: f64,
    active_ms: f64,
}

static SHARED: Lazy<Mutex<Shared>> = Lazy::new(|| Mutex::new(Shared::default()));

fn lock() -> std::sync::MutexGuard<'static, Shared> {
    SHARED.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn interval_ms(&self) -> Option<f64> {
        self.wants
            .values()
            .flatten()
            .copied()
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))))
    }
}

struct Watched {
    role: u8,
    stat: ProcFile,
    syscall: ProcFile,
    wchan: ProcFile,
    /// The last (nr, args) seen and the target id it was described as.
    last_call: Option<(i64, [u64; 6])>,
    last_target: i64,
}

fn open_watched(tid: i32, role: u8) -> Option<Watched> {
    let base = format!("/proc/self/task/{tid}/");
    Some(Watched {
        role,
        stat: ProcFile::open(&format!("{base}stat")).ok()?,
        syscall: ProcFile::open(&format!("{base}syscall")).ok()?,
        wchan: ProcFile::open(&format!("{base}wchan")).ok()?,
        last_call: None,
        last_target: -1,
    })
}

fn state_index(c: char) -> u8 {
    let name = thread_state_name(c);
    THREAD_STATES
        .iter()
        .position(|s| *s == name)
        .unwrap_or(THREAD_STATES.len() - 1) as u8
}

/// The state letter of a /proc/<pid>/task/<tid>/stat line (the first field after the comm).
fn stat_state(text: &[u8]) -> Option<char> {
    let close = text.iter().rposition(|&b| b == b')')?;
    text.get(close + 1..)?
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .map(|&b| b as char)
}

/// Reads one thread; None when it is gone.
fn observe(w: &mut Watched, ring: &mut Ring, buf: &mut [u8]) -> Option<Observation> {
    let n = w.stat.read(buf).ok()?;
    let state = stat_state(&buf[..n])?;
    let mut nr = -1;
    let mut name = -1;
    let mut target = -1;
    if let Ok(n) = w.syscall.read(buf) {
        if let Some(SyscallLine::InSyscall { nr: call, args }) = parse_syscall_line(&buf[..n]) {
            nr = call;
            name = Arch::native()
                .and_then(|a| syscall_name(a, call))
                .map_or(-1, |s| ring.intern(s));
            if w.last_call == Some((call, args)) {
                target = w.last_target;
            } else {
                target = Arch::native()
                    .and_then(|a| syscall_name(a, call))
                    .and_then(arg_target)
                    .and_then(|t| describe_target(t, &args))
                    .map_or(-1, |s| ring.intern(&s));
                w.last_call = Some((call, args));
                w.last_target = target;
            }
        }
    }
    let mut wchan = -1;
    if state != 'R' {
        if let Ok(n) = w.wchan.read(buf) {
            let s = String::from_utf8_lossy(&buf[..n]);
            let s = s.trim();
            if !s.is_empty() && s != "0" {
                wchan = ring.intern(s);
            }
        }
    }
    Some(Observation {
        state: state_index(state),
        nr,
        name,
        target,
        wchan,
    })
}

fn pool_tids(hints: &RoleHints, own: i32) -> Vec<i32> {
    let opts = ThreadsOptions {
        syscalls: false,
        pid: None,
        hints: hints.clone(),
    };
    match collect_threads(&opts) {
        Ok(list) => list
            .into_iter()
            .filter(|t| t.role == thread_role::LIBUV_WORKER && t.tid != own)
            .map(|t| t.tid)
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn run(generation: u64) {
    let own = sys::gettid();
    let mut watched: HashMap<i32, Watched> = HashMap::new();
    let mut buf = vec![0u8; 1024];
    let mut next_refresh = 0.0;
    let mut last_cpu = sys::thread_cpu_ms();
    let mut last_at = sys::monotonic_ms();
    loop {
        let started = sys::monotonic_ms();
        let interval = {
            let mut g = lock();
            if g.generation != generation || g.pid != sys::getpid() {
                return;
            }
            let Some(interval) = g.interval_ms() else {
                g.ring.close_all();
                g.running = false;
                return;
            };
            if started >= next_refresh {
                next_refresh = started + REFRESH_MS;
                let mut want: HashMap<i32, u8> = HashMap::new();
                if let Some(h) = g.hints.clone() {
                    for t in pool_tids(&h, own) {
                        want.insert(t, 1);
                    }
                }
                for (&t, v) in &g.wants {
                    if !v.is_empty() {
                        want.insert(t, 0);
                    }
                }
                let gone: Vec<i32> = watched
                    .iter()
                    .filter(|(t, w)| want.get(t) != Some(&w.role))
                    .map(|(&t, _)| t)
                    .collect();
                for t in gone {
                    watched.remove(&t);
                    g.ring.close(t);
                }
                for (t, role) in want {
                    if let std::collections::hash_map::Entry::Vacant(e) = watched.entry(t) {
                        if let Some(w) = open_watched(t, role) {
                            e.insert(w);
                        }
                    }
                }
            }
            let at = sys::monotonic_ms();
            let mut dead = Vec::new();
            let shared = &mut *g;
            for (&tid, w) in watched.iter_mut() {
                match observe(w, &mut shared.ring, &mut buf) {
                    Some(obs) => shared.ring.record(tid, w.role, obs, at),
                    None => dead.push(tid),
                }
            }
            for t in dead {
                watched.remove(&t);
                shared.ring.close(t);
            }
            shared.samples += 1;
            let cpu = sys::thread_cpu_ms();
            shared.cpu_ms += cpu - last_cpu;
            last_cpu = cpu;
            let now = sys::monotonic_ms();
            shared.active_ms += now - last_at;
            last_at = now;
            interval
        };
        let spent = sys::monotonic_ms() - started;
        let rest = (interval - spent).max(0.05);
        std::thread::sleep(Duration::from_micros((rest * 1000.0) as u64));
    }
}

/// Starts the thread when none runs for this process; false when none could be started.
fn ensure_running(g: &mut Shared) -> bool {
    let pid = sys::getpid();
    if g.running && g.pid == pid {
        return true;
    }
    g.generation += 1;
    g.pid = pid;
    let generation = g.generation;
    let ok = crate::spawn::spawn_named("kernelscope-smp", move || run(generation)).is_ok();
    g.running = ok;
    ok
}

/// Asks for sampling at `interval_ms` on behalf of the calling thread's loop (one explained
/// operation). Returns false when the sampler thread could not be started.
#[napi(js_name = "samplerStart", catch_unwind)]
pub fn sampler_start(env: Env, interval_ms: f64, hints: RoleHints) -> Result<bool> {
    let tid = sys::gettid();
    let interval = if interval_ms.is_finite() {
        interval_ms.clamp(0.1, 60_000.0)
    } else {
        2.0
    };
    let mut g = lock();
    if !g.hooked.contains(&tid) {
        // a worker terminated mid-explain never calls stop: its wants go with its environment
        env.add_env_cleanup_hook(tid, |tid| {
            let mut g = lock();
            g.wants.remove(&tid);
            g.hooked.remove(&tid);
        })?;
        g.hooked.insert(tid);
    }
    if g.interval_ms().is_none() {
        // a new run: a fresh ring and string table
        let dropped = g.ring.dropped;
        g.ring = Ring::default();
        g.ring.dropped = dropped;
    }
    g.hints = Some(hints);
    g.wants.entry(tid).or_default().push(interval);
    Ok(ensure_running(&mut g))
}

/// Withdraws one `samplerStart(interval_ms)` of the calling thread; the thread stops with the
/// last one.
#[napi(js_name = "samplerStop", catch_unwind)]
pub fn sampler_stop(interval_ms: f64) -> Result<()> {
    let tid = sys::gettid();
    let interval = if interval_ms.is_finite() {
        interval_ms.clamp(0.1, 60_000.0)
    } else {
        2.0
    };
    let mut g = lock();
    if let Some(v) = g.wants.get_mut(&tid) {
        if let Some(i) = v.iter().position(|&x| x == interval) {
            v.swap_remove(i);
        } else {
            v.pop();
        }
        if v.is_empty() {
            g.wants.remove(&tid);
        }
    }
    Ok(())
}

#[napi(object)]
pub struct SamplerDrain {
    /// Episodes with seq >= the cursor, sampler_episode::LEN slots each.
    pub episodes: Float64Array,
    /// Strings from index `from_string` on; episode TARGET / WCHAN index the whole table.
    pub strings: Vec<String>,
    /// The next unused sequence number.
    pub next_seq: f64,
    /// Episodes lost to a full ring since the process started.
    pub dropped: f64,
    /// Sample passes since the process started.
    pub samples: f64,
    /// CPU the sampler thread has used, ms, since the process started.
    pub cpu_ms: f64,
    /// Wall time the sampler has been running, ms, since the process started.
    pub active_ms: f64,
    /// The calling thread's id (the loop thread its episodes have role 0 for).
    pub tid: i32,
    /// The current run: the string table and sequence numbers restart with each run.
    pub generation: f64,
}

/// Episodes with seq >= `from_seq` and strings from index `from_string` on.
#[napi(js_name = "samplerDrain", catch_unwind)]
pub fn sampler_drain(from_seq: f64, from_string: u32) -> Result<SamplerDrain> {
    let g = lock();
    let from = if from_seq.is_finite() && from_seq > 0.0 {
        from_seq as u64
    } else {
        0
    };
    let mut out: Vec<f64> = Vec::new();
    for e in g.ring.since(from) {
        let base = out.len();
        out.resize(base + slot::LEN, 0.0);
        let s = &mut out[base..];
        s[slot::SEQ] = e.seq as f64;
        s[slot::TID] = f64::from(e.tid);
        s[slot::ROLE] = f64::from(e.role);
        s[slot::STATE] = f64::from(e.obs.state);
        s[slot::NR] = e.obs.nr as f64;
        s[slot::NAME] = e.obs.name as f64;
        s[slot::TARGET] = e.obs.target as f64;
        s[slot::WCHAN] = e.obs.wchan as f64;
        s[slot::FIRST_MS] = e.first_ms;
        s[slot::LAST_MS] = e.last_ms;
        s[slot::SAMPLES] = f64::from(e.samples);
        s[slot::OPEN] = f64::from(u8::from(e.open));
    }
    Ok(SamplerDrain {
        episodes: Float64Array::new(out),
        strings: g.ring.strings_from(from_string as usize).to_vec(),
        next_seq: g.ring.next_seq() as f64,
        dropped: g.ring.dropped as f64,
        samples: g.samples as f64,
        cpu_ms: g.cpu_ms,
        active_ms: g.active_ms,
        tid: sys::gettid(),
        generation: g.generation as f64,
    })
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
}
