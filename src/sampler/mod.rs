//! The wait sampler: one kernelscope thread that, only while at least one explained operation is
//! in flight, reads every `interval` the state, syscall (with what it is about: a path, a peer)
//! and wchan of the libuv pool workers and of the loop threads that asked for it, into a fixed
//! ring of episodes (ring.rs) that JS drains in one call. It stops sampling when the last one
//! leaves, and exits if none has come IDLE_LINGER_MS later.
//! Cost (watch.rs): one `pread` of an already-open /proc file per watched thread per sample in
//! the common case; the shared state is locked only to record a pass, never across the reads,
//! so JS's start/stop/drain calls do not wait for them.

pub mod ring;
pub mod watch;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use napi::bindgen_prelude::Float64Array;
use napi::{Env, Result};
use napi_derive::napi;
use once_cell::sync::Lazy;
use std::sync::{Condvar, Mutex};

use crate::layout::sampler_episode as slot;
use crate::sys;
use crate::sys::fd_gate;
use crate::threads::{collect_threads, pool, Prober, RoleHints, ThreadsOptions};
use ring::{Observation, Ring};
use watch::{observe, open_watched, wanted, Roster, Watched};

/// How often the set of watched threads is looked at again (the pool starts lazily).
const REFRESH_MS: f64 = 100.0;
/// ...and how often in the second after the thread count changed (a new pool is being named).
const SETTLE_REFRESH_MS: f64 = 10.0;
/// A parked pool worker (watch.rs) is read every this many passes...
const PARKED_EVERY: u64 = 4;
/// ...except for this many passes after a poke (JS queued pool work: a worker is about to wake).
const EAGER_PASSES: u32 = 3;

/// How long the thread waits, not sampling, for the next explain after the last one ended
/// before it exits.
const IDLE_LINGER_MS: f64 = 1000.0;

/// Signalled when a start adds wants (wakes a thread waiting for the next explain).
static WAKE: Condvar = Condvar::new();

/// Bumped by samplerPoke() (lib/attribution/hooks.js, at each pool request it sees).
static POKES: AtomicU64 = AtomicU64::new(0);

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
    /// Bumped at each fresh ring (a new run): the thread's string caches are of the old one.
    ring_epoch: u64,
    /// pid the running thread was started in (a forked child has none).
    pid: i32,
    running: bool,
    samples: u64,
    /// CPU of sampler threads that have exited, ms; the running one's is read from its clock.
    cpu_base_ms: f64,
    cpu_clock: Option<libc::clockid_t>,
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

    /// CPU all sampler threads of this process have used, ms.
    fn cpu_ms(&self) -> f64 {
        let running = if self.running && self.pid == sys::getpid() {
            self.cpu_clock.and_then(sys::clock_ms).unwrap_or(0.0)
        } else {
            0.0
        };
        self.cpu_base_ms + running
    }

    /// The exiting thread's CPU joins the base; its clock is forgotten.
    fn retire(&mut self) {
        self.cpu_base_ms += sys::thread_cpu_ms();
        self.cpu_clock = None;
        self.running = false;
    }
}

/// The observation of a thread as the ring keeps it (its strings interned).
fn interned(ring: &mut Ring, w: &Watched) -> Option<Observation> {
    let s = w.seen.as_ref()?;
    let mut id = |v: Option<&str>| v.map_or(-1, |v| ring.intern(v));
    Some(Observation {
        state: s.state,
        nr: s.call.map_or(-1, |(nr, _)| nr),
        name: id(s.name),
        target: id(s.target.as_deref()),
        wchan: id(s.wchan.as_deref()),
    })
}

/// The sampler thread's descriptors (the watched threads' /proc files, the task directory):
/// opened and closed only under the fd gate's hold, so that no walk of our own table (fds())
/// lists one of them as the program's or finds its number reused by one mid-walk.
#[derive(Default)]
struct Files {
    watched: HashMap<i32, Watched>,
    roster: Roster,
}

impl Drop for Files {
    fn drop(&mut self) {
        let _hold = fd_gate::hold();
        self.watched.clear();
        self.roster = Roster::default();
    }
}

fn run(generation: u64) {
    let own = sys::gettid();
    // this thread lives in the process it was started in (a fork copies no threads): the pid
    // check below tells a Shared copied into a forked child, without a getpid per pass
    let pid = sys::getpid();
    let mut files = Files::default();
    let mut buf = vec![0u8; 1024];
    let mut next_refresh = 0.0;
    let mut last_at = sys::monotonic_ms();
    {
        let mut g = lock();
        if g.generation != generation {
            return;
        }
        g.cpu_clock = sys::own_thread_cpu_clock();
    }
    let mut epoch: Option<u64>;
    let mut pass: u64 = 0;
    let mut last_poke = POKES.load(Ordering::Relaxed);
    let mut eager: u32 = EAGER_PASSES;
    loop {
        let started = sys::monotonic_ms();
        // under the lock only what is shared: is this thread still wanted, at what interval,
        // and (at a refresh) the hints and the loop threads that asked
        let (interval, refresh) = {
            let mut g = lock();
            if g.generation != generation || g.pid != pid {
                return;
            }
            if g.interval_ms().is_none() {
                // nobody wants samples: the run's episodes are closed and the thread waits
                // (no passes, no CPU) up to IDLE_LINGER_MS for the next explain, keeping what it
                // knows of the pool; a server whose explains come and go would otherwise start
                // a new thread (and look the pool up anew, every 10 ms for half a second) each
                // time none was in flight
                g.ring.close_all();
                let until = sys::monotonic_ms() + IDLE_LINGER_MS;
                loop {
                    let left = until - sys::monotonic_ms();
                    if left <= 0.0 {
                        break;
                    }
                    g = WAKE
                        .wait_timeout(g, Duration::from_micros((left * 1000.0) as u64))
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                    if g.generation != generation || g.pid != pid || g.interval_ms().is_some() {
                        break;
                    }
                }
                if g.generation != generation || g.pid != pid {
                    return;
                }
                if g.interval_ms().is_none() {
                    g.retire();
                    return;
                }
                // wanted again: the idle wait is not active time; parked workers are read at
                // the next passes (they may have been given work meanwhile)
                last_at = sys::monotonic_ms();
                eager = EAGER_PASSES;
            }
            let Some(interval) = g.interval_ms() else {
                g.retire();
                return;
            };
            // a fresh ring (a new run): the pass goes to it from here on (the threads' last
            // observations are kept as strings, so nothing refers to the old string table)
            epoch = Some(g.ring_epoch);
            let refresh = (started >= next_refresh).then(|| {
                let loops: Vec<i32> = g
                    .wants
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(&t, _)| t)
                    .collect();
                (g.hints.clone(), loops)
            });
            (interval, refresh)
        };
        let mut gone: Vec<i32> = Vec::new();
        if let Some((hints, loops)) = refresh {
            let _hold = fd_gate::hold();
            let Files { watched, roster } = &mut files;
            let pool = match &hints {
                Some(h) => roster.pool_workers(h, own, started).to_vec(),
                None => Vec::new(),
            };
            // while new threads may still be naming themselves, look again soon
            next_refresh = started
                + if roster.settling() {
                    SETTLE_REFRESH_MS
                } else {
                    REFRESH_MS
                };
            let want = wanted(&pool, &loops);
            watched.retain(|t, w| {
                let keep = want.get(t) == Some(&w.role);
                if !keep {
                    gone.push(*t);
                }
                keep
            });
            for (t, role) in want {
                if let std::collections::hash_map::Entry::Vacant(e) = watched.entry(t) {
                    if let Some(w) = open_watched(t, role) {
                        e.insert(w);
                    }
                }
            }
        }
        let at = sys::monotonic_ms();
        pass += 1;
        let poke = POKES.load(Ordering::Relaxed);
        if poke != last_poke {
            last_poke = poke;
            eager = EAGER_PASSES;
        }
        let every = eager > 0 || pass.is_multiple_of(PARKED_EVERY);
        eager = eager.saturating_sub(1);
        for (&tid, w) in files.watched.iter_mut() {
            w.fresh = every || !w.parked();
            if w.fresh && !observe(w, &mut buf) {
                gone.push(tid);
            }
        }
        if !gone.is_empty() {
            let _hold = fd_gate::hold();
            for t in &gone {
                if files.watched.remove(t).is_some() {
                    files.roster.stale = true;
                }
            }
        }
        {
            let mut g = lock();
            if g.generation != generation || g.pid != pid {
                return;
            }
            if Some(g.ring_epoch) == epoch {
                let shared = &mut *g;
                for t in &gone {
                    shared.ring.close(*t);
                }
                for (&tid, w) in files.watched.iter().filter(|(_, w)| w.fresh) {
                    if let Some(obs) = interned(&mut shared.ring, w) {
                        shared.ring.record(tid, w.role, obs, at);
                    }
                }
                shared.samples += 1;
            }
            let now = sys::monotonic_ms();
            g.active_ms += now - last_at;
            last_at = now;
        }
        let spent = sys::monotonic_ms() - started;
        let rest = (interval - spent).max(0.05);
        std::thread::sleep(Duration::from_micros((rest * 1000.0) as u64));
    }
}

/// Starts the thread when none runs for this process; false when none could be started.
fn ensure_running(g: &mut Shared) -> bool {
    let pid = sys::getpid();
    if g.running && g.pid == pid {
        // it may be waiting for the next explain
        WAKE.notify_all();
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
        g.ring_epoch += 1;
    }
    g.hints = Some(hints.clone());
    g.wants.entry(tid).or_default().push(interval);
    let running = ensure_running(&mut g);
    drop(g);
    // until a probe has run on the pool, one is queued (waited for up to 50 ms, then withdrawn):
    // from its thread's stack the sampler tells the pool's threads apart on Node 20
    if !hints.pool_named() && pool::entry().is_none() {
        let opts = ThreadsOptions {
            syscalls: false,
            pid: None,
            hints,
        };
        let prober = Prober {
            env: &env,
            whole_pool: false,
        };
        let _ = collect_threads(&opts, Some(&prober));
    }
    Ok(running)
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

/// Tells the sampler that pool work was just queued: every pool worker is read at the next
/// passes, parked ones too (lib/attribution/hooks.js calls it for each pool request it sees).
#[napi(js_name = "samplerPoke", catch_unwind)]
pub fn sampler_poke() {
    POKES.fetch_add(1, Ordering::Relaxed);
}

/// A measurement hook, not part of the API (index.js does not export it; bench/explain.js calls
/// it through lib/native.js): a thread that only sleeps `interval_ms` a pass, as the sampler's
/// does, for `duration_ms` (blocking the caller); returns the CPU ms it used: the floor under
/// the sampler's own cost on this machine.
#[napi(js_name = "samplerSleepFloor", catch_unwind)]
pub fn sampler_sleep_floor(interval_ms: f64, duration_ms: f64) -> Result<f64> {
    let interval = if interval_ms.is_finite() {
        interval_ms.clamp(0.1, 1000.0)
    } else {
        2.0
    };
    let duration = if duration_ms.is_finite() {
        duration_ms.clamp(1.0, 60_000.0)
    } else {
        1000.0
    };
    let (tx, rx) = std::sync::mpsc::channel();
    crate::spawn::spawn_named("kernelscope-flr", move || {
        let c0 = sys::thread_cpu_ms();
        let t0 = sys::monotonic_ms();
        while sys::monotonic_ms() - t0 < duration {
            std::thread::sleep(Duration::from_micros((interval * 1000.0) as u64));
        }
        tx.send(sys::thread_cpu_ms() - c0).ok();
    })
    .map_err(|e| napi::Error::from_reason(format!("could not start the thread: {e}")))?;
    rx.recv_timeout(Duration::from_millis(duration as u64 + 10_000))
        .map_err(|_| napi::Error::from_reason("the floor thread did not report"))
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
    /// The current run (ring): the string table and sequence numbers restart with each run.
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
        cpu_ms: g.cpu_ms(),
        active_ms: g.active_ms,
        tid: sys::gettid(),
        generation: g.ring_epoch as f64,
    })
}
