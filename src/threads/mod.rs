//! threads(): one entry per thread of this process (or another) from
//! /proc/<pid>/task/<tid>/{stat,status,schedstat,syscall,wchan}: its state, CPU and switches,
//! the syscall it is blocked in and what that call is about (target.rs), and its role in Node
//! with what the role rests on (roles.rs; the libuv pool's threads from pool.rs, which the wait
//! sampler reads too). registerThread() records the threads kernelscope is loaded on as a
//! worker_threads environment.

pub mod pool;
pub mod roles;
pub mod target;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;

use napi::{Env, Result};
use napi_derive::napi;
use once_cell::sync::Lazy;

use crate::error::{errno_name, sys_error};
use crate::layout::{role_source, thread_role as role, thread_state_name};
use crate::parse::proc_text::{field, parse_numbers, parse_stat};
use crate::parse::syscall::{arg_target, parse_syscall_line, syscall_name, Arch, SyscallLine};
use crate::sys;
pub use roles::RoleHints;
use roles::{infer_roles, role_from_name, PoolEvidence, Role, RoleInput};
pub use target::describe_target;
use target::describe_target_of;

/// Threads on which kernelscope was loaded into a worker_threads environment.
static REGISTERED: Lazy<Mutex<HashSet<i32>>> = Lazy::new(|| Mutex::new(HashSet::new()));

fn registered() -> std::sync::MutexGuard<'static, HashSet<i32>> {
    REGISTERED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Called by the JS entry when it loads; in a worker_threads environment this records the
/// worker's thread until the environment is torn down (so a reused tid is not misnamed).
#[napi(js_name = "registerThread", catch_unwind)]
pub fn register_thread(env: Env, is_main_thread: bool) -> Result<()> {
    if !is_main_thread {
        let tid = sys::gettid();
        registered().insert(tid);
        env.add_env_cleanup_hook(tid, |tid| {
            registered().remove(&tid);
        })?;
    }
    Ok(())
}

#[napi(object)]
pub struct ThreadsOptions {
    pub syscalls: bool,
    /// Another process to read (/proc/<pid>/task); None: this one.
    pub pid: Option<i32>,
    pub hints: RoleHints,
}

#[napi(object)]
pub struct ThreadCpu {
    pub user_ms: f64,
    pub system_ms: f64,
}

#[napi(object, use_nullable = true)]
pub struct ThreadSwitches {
    pub voluntary: Option<f64>,
    pub involuntary: Option<f64>,
}

#[napi(object, use_nullable = true)]
pub struct ThreadSyscall {
    pub nr: i64,
    pub name: Option<String>,
    /// The six raw arguments as the kernel prints them, hex strings ("0x3").
    pub args: Vec<String>,
    pub target: Option<String>,
}

#[napi(object, use_nullable = true)]
pub struct ThreadInfo {
    pub tid: i32,
    pub name: String,
    pub role: String,
    /// What the role rests on (layout::role_source).
    pub role_source: String,
    pub state: String,
    pub cpu: ThreadCpu,
    pub context_switches: ThreadSwitches,
    pub runqueue_wait_ms: Option<f64>,
    pub syscall: Option<ThreadSyscall>,
    /// Why `syscall` is unknown: the syscall file could not be read ("EACCES: ...").
    pub syscall_error: Option<String>,
    pub wchan: Option<String>,
}

/// How threads() may learn the pool's threads (pool.rs): it queues probe tasks on the pool of
/// the calling environment's loop and waits for them (never past the call).
pub struct Prober<'a> {
    pub env: &'a Env,
    /// Bursts of `threadpool_size` probes, the first waited for up to 250 ms (threads()); else a
    /// single probe waited for up to 50 ms, until one has run (the wait sampler's start).
    pub whole_pool: bool,
}

fn decode_syscall(pid: Option<i32>, line: &SyscallLine) -> Option<ThreadSyscall> {
    let SyscallLine::InSyscall { nr, args, .. } = line else {
        return None;
    };
    let name = Arch::native().and_then(|a| syscall_name(a, *nr));
    let target = name
        .and_then(arg_target)
        .and_then(|t| describe_target_of(pid, t, args));
    Some(ThreadSyscall {
        nr: *nr,
        name: name.map(str::to_string),
        args: args.iter().map(|a| format!("0x{a:x}")).collect(),
        target,
    })
}

struct RawThread {
    tid: i32,
    name: String,
    state: char,
    utime: u64,
    stime: u64,
    start_ticks: u64,
    voluntary: Option<u64>,
    involuntary: Option<u64>,
    runqueue_wait_ns: Option<u64>,
    /// The syscall file, parsed; None for the calling thread and when it could not be read.
    line: Option<SyscallLine>,
    syscall_error: Option<String>,
    wchan: Option<String>,
}

impl RawThread {
    /// Sitting in epoll_wait: runs an event loop of its own. When the syscall file is refused,
    /// the kernel function it sleeps in says it (wchan do_epoll_wait; ep_poll on older kernels);
    /// None when neither is known.
    fn in_epoll(&self) -> Option<bool> {
        if self.syscall_error.is_some() {
            if self.state == 'R' {
                return Some(false);
            }
            return self
                .wchan
                .as_deref()
                .map(|w| w.contains("epoll") || w == "ep_poll");
        }
        Some(match &self.line {
            Some(SyscallLine::InSyscall { nr, .. }) => matches!(
                Arch::native().and_then(|a| syscall_name(a, *nr)),
                Some("epoll_wait" | "epoll_pwait" | "epoll_pwait2")
            ),
            _ => false,
        })
    }
}

/// Reads one thread; None when it exited before its stat could be read (normal, not an error).
fn read_thread(base: &str, tid: i32, buf: &mut [u8]) -> Option<RawThread> {
    let base = format!("{base}/{tid}/");
    let path = |leaf: &str| format!("{base}{leaf}").into_bytes();
    let n = sys::read_file_into(&path("stat"), buf).ok()?;
    let st = parse_stat(&buf[..n])?;
    let (voluntary, involuntary) = match sys::read_file_into(&path("status"), buf) {
        Ok(n) => (
            field(&buf[..n], "voluntary_ctxt_switches"),
            field(&buf[..n], "nonvoluntary_ctxt_switches"),
        ),
        Err(_) => (None, None),
    };
    let runqueue_wait_ns = sys::read_file_into(&path("schedstat"), buf)
        .ok()
        .and_then(|n| parse_numbers::<2>(&buf[..n]))
        .map(|[_, wait]| wait);
    // the calling thread is running this very code: its own syscall file would show it in the
    // read() of that file (and its wchan nothing useful), so it is reported as running, no syscall
    let own = tid == sys::gettid() && base.starts_with("/proc/self/");
    let (line, syscall_error) = if own {
        (None, None)
    } else {
        match sys::read_file_into(&path("syscall"), buf) {
            Ok(n) => (parse_syscall_line(&buf[..n]), None),
            // a non-dumpable process (after setuid) has its task files owned by root: the
            // syscall file (mode 0400) is refused while stat and status are not
            Err(e) => (None, Some(format!("{}: {base}syscall", errno_name(e)))),
        }
    };
    let wchan = (!own)
        .then(|| sys::read_file_into(&path("wchan"), buf).ok())
        .flatten()
        .map(|n| String::from_utf8_lossy(&buf[..n]).trim().to_string())
        .filter(|w| !w.is_empty() && w != "0");
    Some(RawThread {
        tid,
        name: st.comm,
        state: if own { 'R' } else { st.state },
        utime: st.utime,
        stime: st.stime,
        start_ticks: st.starttime,
        voluntary,
        involuntary,
        runqueue_wait_ns,
        line,
        syscall_error,
        wchan,
    })
}

/// /proc/<pid>/task of the process asked for.
fn task_dir(pid: Option<i32>) -> String {
    match pid {
        Some(p) => format!("/proc/{p}/task"),
        None => "/proc/self/task".to_string(),
    }
}

/// What is known of each of our threads' place in the pool: kept verdicts, a probe burst when
/// no probe has run yet or some thread is still unexplained, and the stacks of the threads no
/// verdict covers.
fn own_pool_evidence(
    raw: &[RawThread],
    hints: &RoleHints,
    registered: &HashSet<i32>,
    prober: Option<&Prober>,
) -> Vec<PoolEvidence> {
    let me = sys::getpid();
    let from_verdicts = || -> Vec<PoolEvidence> {
        raw.iter()
            .map(|t| match pool::verdict(t.tid, t.start_ticks) {
                Some(pool::Verdict::Probe) => PoolEvidence::Probe,
                Some(pool::Verdict::Stack) => PoolEvidence::Stack,
                Some(pool::Verdict::NotPool) => PoolEvidence::NotPool,
                None => PoolEvidence::Unknown,
            })
            .collect()
    };
    if hints.pool_named() {
        return vec![PoolEvidence::Unknown; raw.len()];
    }
    pool::forget_gone(&raw.iter().map(|t| t.tid).collect::<Vec<_>>());
    // the unnamed threads after Node's boot threads that no registration explains
    let boot = hints.boot_len();
    let candidate: Vec<bool> = raw
        .iter()
        .scan(0usize, |position, t| {
            if t.tid == me {
                return Some(false);
            }
            *position += 1;
            Some(
                *position > boot
                    && !registered.contains(&t.tid)
                    && role_from_name(&t.name).is_none(),
            )
        })
        .collect();
    let size = hints.threadpool_size.max(1) as usize;
    let unexplained = |ev: &[PoolEvidence]| {
        (0..raw.len())
            .filter(|&i| candidate[i] && ev[i] == PoolEvidence::Unknown)
            .count()
    };
    let mut ev = from_verdicts();
    let known = pool::known_count();
    // a pool can be there only if enough threads are left to be it: otherwise a probe would
    // start the pool rather than find it
    let could_be = known < size && known + unexplained(&ev) >= size;
    let entry_was_known = pool::entry().is_some();
    if let (Some(p), true, false) = (prober, could_be, entry_was_known) {
        if !p.whole_pool {
            pool::probe(p.env, 1, pool::SHORT_BURST);
        } else if known == 0 {
            pool::probe(p.env, size, pool::FIRST_BURST);
        } else {
            pool::probe(p.env, size, pool::SHORT_BURST);
        }
        ev = from_verdicts();
    }
    let mut maps = None;
    let entry = pool::entry().filter(|_| {
        // the entry must differ from those of Node's platform threads (never pool threads)
        pool::entry_distinct().or_else(|| {
            let maps = maps.get_or_insert_with(|| pool::own_maps().unwrap_or_default());
            let others: Vec<pool::StackEntry> = raw
                .iter()
                .enumerate()
                .filter(|&(i, t)| t.tid != me && !candidate[i] && role_from_name(&t.name).is_none())
                .filter_map(|(_, t)| t.line.as_ref().and_then(SyscallLine::sp))
                .filter_map(|sp| pool::stack_entry(sp, maps))
                .collect();
            pool::check_distinct(&others)
        }) == Some(true)
    });
    if let Some(entry) = entry {
        for (i, t) in raw.iter().enumerate() {
            let Some(sp) = t.line.as_ref().and_then(SyscallLine::sp) else {
                continue;
            };
            if !candidate[i] || ev[i] != PoolEvidence::Unknown {
                continue;
            }
            let maps = maps.get_or_insert_with(|| pool::own_maps().unwrap_or_default());
            if let Some(e) = pool::stack_entry(sp, maps) {
                let is_pool = e == entry;
                pool::record_stack(t.tid, t.start_ticks, is_pool);
                ev[i] = if is_pool {
                    PoolEvidence::Stack
                } else {
                    PoolEvidence::NotPool
                };
            }
        }
    }
    // threads still unexplained (running, or their stacks unreadable): a later burst, once the
    // first has run, may reach those that are idle pool threads by then
    if let Some(p) = prober.filter(|p| p.whole_pool && entry_was_known) {
        if pool::known_count() < size && unexplained(&ev) > 0 {
            pool::probe(p.env, size, pool::SHORT_BURST);
        }
    }
    ev
}

pub fn collect_threads(
    opts: &ThreadsOptions,
    prober: Option<&Prober>,
) -> std::result::Result<Vec<ThreadInfo>, i32> {
    let me = sys::getpid();
    let other = opts.pid.filter(|&p| p != me);
    let dir = task_dir(other);
    let tids = sys::numeric_entries(Path::new(&dir))?;
    let mut buf = vec![0u8; 4096];
    let raw: Vec<RawThread> = tids
        .into_iter()
        .filter_map(|tid| read_thread(&dir, tid, &mut buf))
        .collect();
    let registered = match other {
        Some(_) => HashSet::new(),
        None => registered().clone(),
    };
    let evidence = match other {
        Some(_) => vec![PoolEvidence::Unknown; raw.len()],
        None => own_pool_evidence(&raw, &opts.hints, &registered, prober),
    };
    let inputs: Vec<RoleInput> = raw
        .iter()
        .zip(&evidence)
        .map(|(t, &pool)| RoleInput {
            tid: t.tid,
            name: &t.name,
            in_epoll: t.in_epoll(),
            start_ticks: t.start_ticks,
            pool,
        })
        .collect();
    let roles: Vec<Role> = match other {
        // another process that is not Node (node_major 0): only the main thread is known
        Some(p) if opts.hints.node_major == 0 => inputs
            .iter()
            .map(|t| Role {
                role: if t.tid == p { role::MAIN } else { role::OTHER },
                source: if t.tid == p {
                    role_source::TID
                } else {
                    role_source::INFERRED
                },
            })
            .collect(),
        _ => infer_roles(other.unwrap_or(me), &inputs, &opts.hints, &|t| {
            registered.contains(&t)
        }),
    };
    let tick_ms = 1000.0 / sys::clock_ticks_per_sec();
    Ok(raw
        .into_iter()
        .zip(roles)
        .map(|(t, r)| ThreadInfo {
            tid: t.tid,
            role: r.role.to_string(),
            role_source: r.source.to_string(),
            state: thread_state_name(t.state).to_string(),
            cpu: ThreadCpu {
                user_ms: t.utime as f64 * tick_ms,
                system_ms: t.stime as f64 * tick_ms,
            },
            context_switches: ThreadSwitches {
                voluntary: t.voluntary.map(|v| v as f64),
                involuntary: t.involuntary.map(|v| v as f64),
            },
            runqueue_wait_ms: t.runqueue_wait_ns.map(|ns| ns as f64 / 1e6),
            syscall: match (&t.line, opts.syscalls) {
                (Some(line), true) => decode_syscall(other, line),
                _ => None,
            },
            syscall_error: t.syscall_error.filter(|_| opts.syscalls),
            wchan: t.wchan,
            name: t.name,
        })
        .collect())
}

#[napi(catch_unwind)]
pub fn threads(env: Env, options: ThreadsOptions) -> Result<Vec<ThreadInfo>> {
    let dir = task_dir(options.pid);
    let prober = Prober {
        env: &env,
        whole_pool: true,
    };
    collect_threads(&options, Some(&prober)).map_err(|e| sys_error("readdir", e, &dir))
}
