//! threads(): one entry per thread of this process from /proc/self/task/<tid>/{stat,status,
//! schedstat,syscall,wchan}, with the thread's role in Node and, for a thread blocked in a
//! syscall, what that call is about (an fd resolved to its path or peer, a path read from our
//! own memory with process_vm_readv).

use std::collections::HashSet;
use std::sync::Mutex;

use napi::{Env, Result};
use napi_derive::napi;
use once_cell::sync::Lazy;

use crate::error::sys_error;
use crate::layout::{thread_role as role, thread_state_name};
use crate::parse::proc_text::{field, parse_numbers, parse_stat};
use crate::parse::syscall::{
    arg_target, parse_syscall_line, syscall_name, Arch, ArgTarget, SyscallLine,
};
use crate::sys;

/// Threads kernelscope has seen run libuv threadpool work (its own async tasks): certain
/// libuv workers, whatever their name.
static KNOWN_LIBUV: Lazy<Mutex<HashSet<i32>>> = Lazy::new(|| Mutex::new(HashSet::new()));
/// Threads on which kernelscope was loaded into a worker_threads environment.
static KNOWN_WORKERS: Lazy<Mutex<HashSet<i32>>> = Lazy::new(|| Mutex::new(HashSet::new()));

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Called from the `compute` of kernelscope's async tasks, which run on the libuv threadpool.
pub fn note_libuv_thread() {
    lock(&KNOWN_LIBUV).insert(sys::gettid());
}

/// Called by the JS entry when it loads; in a worker_threads environment this records the
/// worker's thread until the environment is torn down (so a reused tid is not misnamed).
#[napi(js_name = "registerThread", catch_unwind)]
pub fn register_thread(env: Env, is_main_thread: bool) -> Result<()> {
    if !is_main_thread {
        let tid = sys::gettid();
        lock(&KNOWN_WORKERS).insert(tid);
        env.add_env_cleanup_hook(tid, |tid| {
            lock(&KNOWN_WORKERS).remove(&tid);
        })?;
    }
    Ok(())
}

/// What Node tells about its own threads; the JS layer fills this in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[napi(object)]
pub struct RoleHints {
    /// process.versions.node major.
    pub node_major: u32,
    /// --v8-pool-size (default 4): platform worker threads started at boot.
    pub v8_pool_size: u32,
    /// process.features.inspector: a SignalInspector thread is started at boot.
    pub inspector: bool,
    /// UV_THREADPOOL_SIZE as libuv read it (default 4).
    pub threadpool_size: u32,
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
    pub state: String,
    pub cpu: ThreadCpu,
    pub context_switches: ThreadSwitches,
    pub runqueue_wait_ms: Option<f64>,
    pub syscall: Option<ThreadSyscall>,
    pub wchan: Option<String>,
}

/// One thread as role inference sees it.
pub struct RoleInput<'a> {
    pub tid: i32,
    pub name: &'a str,
    /// Blocked in epoll_wait/epoll_pwait: the thread runs an event loop of its own.
    pub in_epoll: bool,
}

fn role_from_name(name: &str) -> Option<&'static str> {
    // comm is cut to 15 bytes: "DelayedTaskSchedulerWorker" shows as "DelayedTaskSche"
    if name.starts_with("DelayedTaskSche") {
        Some(role::DELAYED_TASK_SCHEDULER)
    } else if name.starts_with("V8Worker") {
        Some(role::V8_WORKER)
    } else if name == "SignalInspector" {
        Some(role::SIGNAL_INSPECTOR)
    } else if name == "libuv-worker" {
        Some(role::LIBUV_WORKER)
    } else if name == "WorkerThread" {
        Some(role::WORKER_THREAD)
    } else if name.starts_with("kernelscope") {
        // kernelscope's own helper threads (fds() runs on "kernelscope-fds"): not Node's, and
        // not to be mistaken for a libuv worker by the Node 20 inference below
        Some(role::OTHER)
    } else {
        None
    }
}

/// Assigns a role to every thread, `threads` in creation order (the order /proc/self/task
/// lists them). Names first (Node >= 22 names some threads, 24 all of them); for unnamed
/// threads Node's boot order: the delayed-task scheduler, `v8_pool_size` platform workers, the
/// signal-inspector thread; later threads are libuv workers (created together, as one run of
/// `threadpool_size`, none of them in epoll_wait) or worker_threads (each runs an event loop).
pub fn infer_roles(
    pid: i32,
    threads: &[RoleInput],
    hints: &RoleHints,
    known_libuv: &HashSet<i32>,
    known_workers: &HashSet<i32>,
) -> Vec<&'static str> {
    let mut roles: Vec<Option<&'static str>> = vec![None; threads.len()];
    let libuv_named = hints.node_major >= 22;
    let mut k = 0usize; // index among non-main threads
    let boot_len = 1 + hints.v8_pool_size as usize + usize::from(hints.inspector);
    let mut later: Vec<usize> = Vec::new();
    for (i, t) in threads.iter().enumerate() {
        if t.tid == pid {
            roles[i] = Some(role::MAIN);
            continue;
        }
        let position = k;
        k += 1;
        if known_workers.contains(&t.tid) {
            roles[i] = Some(role::WORKER_THREAD);
        } else if known_libuv.contains(&t.tid) {
            roles[i] = Some(role::LIBUV_WORKER);
        } else if let Some(r) = role_from_name(t.name) {
            roles[i] = Some(r);
        } else if position < boot_len {
            roles[i] = Some(if position == 0 {
                role::DELAYED_TASK_SCHEDULER
            } else if position <= hints.v8_pool_size as usize {
                role::V8_WORKER
            } else {
                role::SIGNAL_INSPECTOR
            });
        } else {
            later.push(i);
        }
    }
    // Unnamed threads after boot. Where libuv names its workers (Node >= 22) none of them is
    // one; on Node 20 the pool is the first run of `threadpool_size` consecutive unnamed
    // threads not in epoll_wait (one containing a known libuv thread wins).
    if !libuv_named && !later.is_empty() {
        let want = hints.threadpool_size.max(1) as usize;
        let already = roles
            .iter()
            .filter(|r| **r == Some(role::LIBUV_WORKER))
            .count();
        let want = want.saturating_sub(already);
        if want > 0 {
            let mut chosen: Option<usize> = None;
            if later.len() >= want {
                for start in 0..=later.len() - want {
                    let window = &later[start..start + want];
                    let contiguous = window.windows(2).all(|w| w[1] == w[0] + 1);
                    if contiguous && window.iter().all(|&i| !threads[i].in_epoll) {
                        chosen = Some(start);
                        break;
                    }
                }
            }
            match chosen {
                Some(start) => {
                    for &i in &later[start..start + want] {
                        roles[i] = Some(role::LIBUV_WORKER);
                    }
                }
                None => {
                    // the pool may be partly gone or smaller: take what is not in epoll
                    for &i in later.iter().filter(|&&i| !threads[i].in_epoll).take(want) {
                        roles[i] = Some(role::LIBUV_WORKER);
                    }
                }
            }
        }
    }
    for &i in &later {
        if roles[i].is_none() {
            roles[i] = Some(if threads[i].in_epoll {
                role::WORKER_THREAD
            } else {
                role::OTHER
            });
        }
    }
    roles
        .into_iter()
        .map(|r| r.unwrap_or(role::OTHER))
        .collect()
}

/// Reads a NUL-terminated string from our own memory, page by page (process_vm_readv stops at
/// the first unmapped page), at most 4096 bytes.
pub fn read_own_cstring(addr: u64) -> Option<String> {
    read_cstring(sys::getpid(), addr)
}

/// The same from process `pid`'s memory.
pub fn read_cstring(pid: i32, addr: u64) -> Option<String> {
    let mut out = Vec::new();
    let mut at = addr;
    let mut page = [0u8; 4096];
    while out.len() < 4096 {
        let room = 4096 - (at as usize & 4095);
        let n = sys::read_process_memory(pid, at, &mut page[..room]).ok()?;
        if n == 0 {
            return None;
        }
        if let Some(end) = page[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&page[..end]);
            return Some(String::from_utf8_lossy(&out).into_owned());
        }
        out.extend_from_slice(&page[..n]);
        at += n as u64;
    }
    None
}

/// What an fd of ours is: the peer of a connected socket ("127.0.0.1:8080"), a socket's local
/// address when it has no peer, otherwise the /proc/self/fd link ("/tmp/f", "pipe:[123]").
pub fn describe_fd(fd: i32) -> Option<String> {
    if fd < 0 {
        return None;
    }
    let link = sys::readlink(format!("/proc/self/fd/{fd}").as_bytes()).ok()?;
    if link.starts_with("socket:") {
        if let Ok(Some(peer)) = sys::peer_name(fd) {
            return Some(peer);
        }
        if let Ok(Some(local)) = sys::sock_name(fd) {
            return Some(format!("{link} local {local}"));
        }
    }
    Some(link)
}

/// Another process's fd: its /proc/<pid>/fd link (a socket's peer is not ours to ask for;
/// callers match 'socket:[inode]' against the socket tables).
fn describe_other_fd(pid: i32, fd: i32) -> Option<String> {
    if fd < 0 {
        return None;
    }
    sys::readlink(format!("/proc/{pid}/fd/{fd}").as_bytes()).ok()
}

/// What a syscall of this process is about (see ThreadSyscall.target).
pub fn describe_target(target: ArgTarget, args: &[u64; 6]) -> Option<String> {
    describe_target_of(None, target, args)
}

/// The same for process `pid` (None: this one).
fn describe_target_of(pid: Option<i32>, target: ArgTarget, args: &[u64; 6]) -> Option<String> {
    let describe = |fd: i32| match pid {
        Some(p) => describe_other_fd(p, fd),
        None => describe_fd(fd),
    };
    let me = pid.unwrap_or_else(sys::getpid);
    match target {
        ArgTarget::Fd(i) => describe(args[i] as i32),
        ArgTarget::Path(i) => read_cstring(me, args[i]),
        ArgTarget::PollFds(i) => {
            let nfds = args[i + 1];
            if nfds == 0 {
                return None;
            }
            let mut pfd = [0u8; 8];
            let n = sys::read_process_memory(me, args[i], &mut pfd).ok()?;
            if n < 4 {
                return None;
            }
            let fd = i32::from_ne_bytes([pfd[0], pfd[1], pfd[2], pfd[3]]);
            let first = describe(fd)?;
            Some(if nfds > 1 {
                format!("{first} (+{} more fds)", nfds - 1)
            } else {
                first
            })
        }
    }
}

fn decode_syscall(pid: Option<i32>, text: &[u8]) -> Option<ThreadSyscall> {
    match parse_syscall_line(text)? {
        SyscallLine::Running | SyscallLine::NotInSyscall => None,
        SyscallLine::InSyscall { nr, args } => {
            let name = Arch::native().and_then(|a| syscall_name(a, nr));
            let target = name
                .and_then(arg_target)
                .and_then(|t| describe_target_of(pid, t, &args));
            Some(ThreadSyscall {
                nr,
                name: name.map(str::to_string),
                args: args.iter().map(|a| format!("0x{a:x}")).collect(),
                target,
            })
        }
    }
}

struct RawThread {
    tid: i32,
    name: String,
    state: char,
    utime: u64,
    stime: u64,
    voluntary: Option<u64>,
    involuntary: Option<u64>,
    runqueue_wait_ns: Option<u64>,
    syscall: Option<ThreadSyscall>,
    in_epoll: bool,
    wchan: Option<String>,
}

/// Reads one thread; None when it exited before its stat could be read (normal, not an error).
fn read_thread(pid: Option<i32>, tid: i32, syscalls: bool, buf: &mut [u8]) -> Option<RawThread> {
    let base = match pid {
        Some(p) => format!("/proc/{p}/task/{tid}/"),
        None => format!("/proc/self/task/{tid}/"),
    };
    let path = |leaf: &str| {
        let mut p = base.clone().into_bytes();
        p.extend_from_slice(leaf.as_bytes());
        p
    };
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
    let mut in_epoll = false;
    // the calling thread is running this very code: its own syscall file would show it in the
    // read() of that file (and its wchan nothing useful), so it is reported as running, no syscall
    let own = tid == sys::gettid();
    let syscall = if own {
        None
    } else if syscalls {
        sys::read_file_into(&path("syscall"), buf)
            .ok()
            .and_then(|n| decode_syscall(pid, &buf[..n]))
    } else {
        // role inference still needs to know who sits in epoll_wait
        sys::read_file_into(&path("syscall"), buf)
            .ok()
            .and_then(|n| match parse_syscall_line(&buf[..n])? {
                SyscallLine::InSyscall { nr, .. } => Some(ThreadSyscall {
                    nr,
                    name: Arch::native()
                        .and_then(|a| syscall_name(a, nr))
                        .map(str::to_string),
                    args: Vec::new(),
                    target: None,
                }),
                _ => None,
            })
    };
    if let Some(s) = &syscall {
        in_epoll = matches!(
            s.name.as_deref(),
            Some("epoll_wait" | "epoll_pwait" | "epoll_pwait2")
        );
    }
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
        voluntary,
        involuntary,
        runqueue_wait_ns,
        syscall: if syscalls { syscall } else { None },
        in_epoll,
        wchan,
    })
}

/// Thread ids in creation order (the order the kernel lists /proc/self/task).
fn list_tids(dir: &str) -> std::result::Result<Vec<i32>, i32> {
    let dir = std::fs::read_dir(dir).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    Ok(dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect())
}

/// /proc/<pid>/task of the process asked for.
fn task_dir(pid: Option<i32>) -> String {
    match pid {
        Some(p) => format!("/proc/{p}/task"),
        None => "/proc/self/task".to_string(),
    }
}

pub fn collect_threads(opts: &ThreadsOptions) -> std::result::Result<Vec<ThreadInfo>, i32> {
    let me = sys::getpid();
    let other = opts.pid.filter(|&p| p != me);
    let tids = list_tids(&task_dir(other))?;
    let mut buf = vec![0u8; 4096];
    let raw: Vec<RawThread> = tids
        .into_iter()
        .filter_map(|tid| read_thread(other, tid, opts.syscalls, &mut buf))
        .collect();
    let inputs: Vec<RoleInput> = raw
        .iter()
        .map(|t| RoleInput {
            tid: t.tid,
            name: &t.name,
            in_epoll: t.in_epoll,
        })
        .collect();
    let roles = match other {
        // another process: what its thread names and the caller's hints (its Node version and
        // pool sizes, or node_major 0 for a process that is not Node) tell
        Some(p) if opts.hints.node_major == 0 => inputs
            .iter()
            .map(|t| if t.tid == p { role::MAIN } else { role::OTHER })
            .collect(),
        Some(p) => infer_roles(p, &inputs, &opts.hints, &HashSet::new(), &HashSet::new()),
        None => {
            let libuv = lock(&KNOWN_LIBUV);
            let workers = lock(&KNOWN_WORKERS);
            infer_roles(me, &inputs, &opts.hints, &libuv, &workers)
        }
    };
    let tick_ms = 1000.0 / sys::clock_ticks_per_sec();
    Ok(raw
        .into_iter()
        .zip(roles)
        .map(|(t, role)| ThreadInfo {
            tid: t.tid,
            role: role.to_string(),
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
            syscall: t.syscall,
            wchan: t.wchan,
            name: t.name,
        })
        .collect())
}

#[napi(catch_unwind)]
pub fn threads(options: ThreadsOptions) -> Result<Vec<ThreadInfo>> {
    let dir = task_dir(options.pid);
    collect_threads(&options).map_err(|e| sys_error("readdir", e, &dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernelscope_threads_are_other() {
        assert_eq!(role_from_name("kernelscope-fds"), Some("other"));
        // on Node 20 an unnamed thread after boot could be taken for a libuv worker; ours is not
        let t = [
            input(100, "node", false),
            input(101, "node", false),
            input(102, "node", false),
            input(103, "kernelscope-fds", false),
            input(104, "node", false),
        ];
        let h = RoleHints {
            v8_pool_size: 1,
            inspector: false,
            threadpool_size: 1,
            ..hints(20)
        };
        let r = infer_roles(100, &t, &h, &HashSet::new(), &HashSet::new());
        assert_eq!(r[3], "other");
        assert_eq!(r[4], "libuv-worker");
    }

    fn hints(node_major: u32) -> RoleHints {
        RoleHints {
            node_major,
            v8_pool_size: 4,
            inspector: true,
            threadpool_size: 4,
        }
    }

    fn input<'a>(tid: i32, name: &'a str, in_epoll: bool) -> RoleInput<'a> {
        RoleInput {
            tid,
            name,
            in_epoll,
        }
    }

    #[test]
    fn node20_all_named_node() {
        // captured on Node 20.20.2: main, scheduler (epoll), 4 v8, inspector, 4 libuv, 1 worker
        let t = [
            input(100, "node", false),
            input(101, "node", true),
            input(102, "node", false),
            input(103, "node", false),
            input(104, "node", false),
            input(105, "node", false),
            input(106, "node", false),
            input(107, "node", false),
            input(108, "node", false),
            input(109, "node", false),
            input(110, "node", false),
            input(111, "node", true),
        ];
        let r = infer_roles(100, &t, &hints(20), &HashSet::new(), &HashSet::new());
        assert_eq!(
            r,
            [
                "main",
                "delayed-task-scheduler",
                "v8-worker",
                "v8-worker",
                "v8-worker",
                "v8-worker",
                "signal-inspector",
                "libuv-worker",
                "libuv-worker",
                "libuv-worker",
                "libuv-worker",
                "worker-thread"
            ]
        );
    }

    #[test]
    fn node20_worker_before_pool() {
        // a worker_thread (in epoll) created before the first threadpool use
        let t = [
            input(100, "node", false),
            input(101, "node", true),
            input(102, "node", false),
            input(103, "node", false),
            input(104, "node", false),
            input(105, "node", false),
            input(106, "node", false),
            input(107, "node", true),
            input(108, "node", false),
            input(109, "node", false),
        ];
        let h = RoleHints {
            threadpool_size: 2,
            ..hints(20)
        };
        let r = infer_roles(100, &t, &h, &HashSet::new(), &HashSet::new());
        assert_eq!(&r[7..], ["worker-thread", "libuv-worker", "libuv-worker"]);
    }

    #[test]
    fn node22_partial_names_and_known_sets() {
        let t = [
            input(100, "node", false),
            input(101, "DelayedTaskSche", true),
            input(102, "node", false),
            input(103, "node", false),
            input(104, "node", false),
            input(105, "node", false),
            input(106, "node", false),
            input(107, "libuv-worker", false),
            input(108, "node", false),
            input(109, "node", false),
        ];
        let workers: HashSet<i32> = [109].into_iter().collect();
        let r = infer_roles(100, &t, &hints(22), &HashSet::new(), &workers);
        assert_eq!(r[1], "delayed-task-scheduler");
        assert_eq!(r[5], "v8-worker");
        assert_eq!(r[6], "signal-inspector");
        assert_eq!(r[7], "libuv-worker");
        assert_eq!(r[8], "other");
        assert_eq!(r[9], "worker-thread");
    }

    #[test]
    fn node24_names() {
        let t = [
            input(100, "MainThread", false),
            input(101, "DelayedTaskSche", true),
            input(102, "V8Worker", false),
            input(103, "SignalInspector", false),
            input(104, "libuv-worker", false),
            input(105, "WorkerThread", true),
        ];
        let h = RoleHints {
            v8_pool_size: 1,
            ..hints(24)
        };
        let r = infer_roles(100, &t, &h, &HashSet::new(), &HashSet::new());
        assert_eq!(
            r,
            [
                "main",
                "delayed-task-scheduler",
                "v8-worker",
                "signal-inspector",
                "libuv-worker",
                "worker-thread"
            ]
        );
    }

    #[test]
    fn own_memory_strings() {
        let s = std::ffi::CString::new("/tmp/some fifo").unwrap();
        assert_eq!(
            read_own_cstring(s.as_ptr() as u64).as_deref(),
            Some("/tmp/some fifo")
        );
        assert_eq!(read_own_cstring(0), None);
        assert_eq!(read_own_cstring(8), None);
    }
}
