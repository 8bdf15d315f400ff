//! The tracer loop: one thread owns every ptrace call (the kernel ties a tracee to the thread
//! that attached it), waits on the whole tree with waitpid(-1, __WALL) and turns seccomp stops,
//! exec events and (under --strict) open exits into events. It follows a syscall to its exit
//! only where the result matters; a successful exec is PTRACE_EVENT_EXEC, so failed PATH lookups
//! never become executions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::decode;
use super::events::{Config, Event, EventKind, Outcome, Proc, Shared};
use super::filter::{is_compat, Kind};
use super::tracee::{proc_path, read_bytes, read_cstr, status_ids, word};
use crate::sys::trace::{self as t, Forked};

struct Thread {
    tgid: i32,
    pending_exec: Option<Vec<u8>>,
    pending_open: Option<usize>,
    pending_open_path: Option<(Vec<u8>, Vec<u8>, u32, &'static str)>,
}

struct Tracer {
    cfg: Config,
    root: i32,
    t0: Instant,
    threads: HashMap<i32, Thread>,
    procs: Vec<Proc>,
    by_pid: HashMap<i32, usize>,
    events: Vec<Event>,
    dropped: f64,
    stops: f64,
    shared: Arc<Mutex<Shared>>,
    out: Outcome,
}

const SI_KERNEL: i32 = 0x80;

impl Tracer {
    fn now(&self) -> f64 {
        self.t0.elapsed().as_secs_f64() * 1000.0
    }

    fn push(&mut self, e: Event) -> Option<usize> {
        if self.events.len() >= self.cfg.max_events {
            self.dropped += 1.0;
            return None;
        }
        self.events.push(e);
        Some(self.events.len() - 1)
    }

    fn new_proc(&mut self, pid: i32, ppid: Option<i32>) -> usize {
        let inherited = ppid.and_then(|p| self.by_pid.get(&p)).map(|&i| {
            (
                self.procs[i].package.clone(),
                self.procs[i].lifecycle.clone(),
                self.procs[i].argv.clone(),
            )
        });
        let (package, lifecycle, argv) = inherited.unwrap_or_default();
        let argv = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| decode::split_nul(&b))
            .unwrap_or(argv);
        let start_ms = self.now();
        self.procs.push(Proc {
            pid,
            ppid,
            argv,
            package,
            lifecycle,
            start_ms,
            ..Default::default()
        });
        let i = self.procs.len() - 1;
        self.by_pid.insert(pid, i);
        i
    }

    /// The state of a task, created (from /proc/<tid>/status) the first time it is seen: a new
    /// child's first stop can arrive before its parent's fork event.
    fn thread(&mut self, tid: i32) -> &mut Thread {
        if !self.threads.contains_key(&tid) {
            let (tgid, ppid) = status_ids(tid);
            let tgid = tgid.unwrap_or(tid);
            let live = self
                .by_pid
                .get(&tgid)
                .map(|&i| self.procs[i].end_ms.is_none())
                .unwrap_or(false);
            if !live {
                self.new_proc(tgid, ppid);
            }
            self.threads.insert(
                tid,
                Thread {
                    tgid,
                    pending_exec: None,
                    pending_open: None,
                    pending_open_path: None,
                },
            );
        }
        // the entry was inserted just above when missing
        self.threads.entry(tid).or_insert(Thread {
            tgid: tid,
            pending_exec: None,
            pending_open: None,
            pending_open_path: None,
        })
    }

    fn base_dir(&self, tid: i32, dirfd: u64) -> Vec<u8> {
        let fd = dirfd as u32 as i32;
        let link = if fd == libc::AT_FDCWD {
            proc_path(tid, "cwd")
        } else {
            proc_path(tid, &format!("fd/{fd}"))
        };
        t::readlink_bytes(&link).unwrap_or_default()
    }

    fn on_seccomp(&mut self, tid: i32) -> std::os::raw::c_long {
        let info = match t::syscall_info(tid) {
            Ok(i) if i.op == t::SYSCALL_INFO_SECCOMP => i,
            _ => return t::PTRACE_CONT,
        };
        let kind = match Kind::from_data(info.ret_data()) {
            Some(k) => k,
            None => return t::PTRACE_CONT,
        };
        let compat = is_compat(info.arch, info.nr());
        let tgid = self.thread(tid).tgid;
        match kind {
            Kind::Execve | Kind::Execveat => {
                let (dirfd, p) = if kind == Kind::Execve {
                    (libc::AT_FDCWD as u32 as u64, info.arg(0))
                } else {
                    (info.arg(0), info.arg(1))
                };
                let raw = read_cstr(tid, p).unwrap_or_default();
                let abs = if raw.first() == Some(&b'/') || raw.is_empty() {
                    raw
                } else {
                    decode::resolve(&self.base_dir(tid, dirfd), &raw)
                };
                self.thread(tid).pending_exec = Some(abs);
                t::PTRACE_CONT
            }
            Kind::Connect => {
                self.connect(tid, tgid, "connect", info.arg(1), info.arg(2));
                t::PTRACE_CONT
            }
            Kind::Sendto => {
                self.connect(tid, tgid, "sendto", info.arg(4), info.arg(5));
                t::PTRACE_CONT
            }
            Kind::Sendmsg => {
                self.sendmsg(tid, tgid, info.arg(1), compat);
                t::PTRACE_CONT
            }
            Kind::Socketcall => {
                // i386 socketcall(call, u32 args[]): connect 3, sendto 11, sendmsg 16
                let call = info.arg(0);
                if let Some(a) = read_bytes(tid, info.arg(1), 24) {
                    let w = |i: usize| word(&a, i * 4, true).unwrap_or(0);
                    match call {
                        3 => self.connect(tid, tgid, "connect", w(1), w(2)),
                        11 => self.connect(tid, tgid, "sendto", w(4), w(5)),
                        16 => self.sendmsg(tid, tgid, w(1), true),
                        _ => {}
                    }
                }
                t::PTRACE_CONT
            }
            Kind::Open | Kind::Openat | Kind::Openat2 | Kind::Creat => {
                let at_cwd = libc::AT_FDCWD as u32 as u64;
                let (dirfd, p, flags) = match kind {
                    Kind::Open => (at_cwd, info.arg(0), info.arg(1) as u32),
                    Kind::Creat => (
                        at_cwd,
                        info.arg(0),
                        (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u32,
                    ),
                    Kind::Openat => (info.arg(0), info.arg(1), info.arg(2) as u32),
                    _ => {
                        let how = read_bytes(tid, info.arg(2), 8)
                            .and_then(|b| word(&b, 0, false))
                            .unwrap_or(0);
                        (info.arg(0), info.arg(1), how as u32)
                    }
                };
                self.open(tid, tgid, kind.name(), dirfd, p, flags)
            }
        }
    }

    fn connect(&mut self, tid: i32, tgid: i32, syscall: &'static str, addr: u64, len: u64) {
        let len = (len as usize).min(128);
        let dest = match read_bytes(tid, addr, len).and_then(|b| decode::sockaddr(&b)) {
            Some(d) => d,
            None => return,
        };
        let mut e = Event::new(
            EventKind::Connect,
            syscall,
            tgid,
            tid,
            self.now(),
            "seccomp",
        );
        e.dest = Some(dest);
        self.push(e);
    }

    fn sendmsg(&mut self, tid: i32, tgid: i32, msghdr: u64, compat: bool) {
        let hdr = match read_bytes(tid, msghdr, if compat { 8 } else { 16 }) {
            Some(h) => h,
            None => return,
        };
        let (name, len) = if compat {
            (word(&hdr, 0, true), word(&hdr, 4, true))
        } else {
            (word(&hdr, 0, false), word(&hdr, 8, true))
        };
        if let (Some(name), Some(len)) = (name, len) {
            if name != 0 {
                self.connect(tid, tgid, "sendmsg", name, len);
            }
        }
    }

    fn open(
        &mut self,
        tid: i32,
        tgid: i32,
        syscall: &'static str,
        dirfd: u64,
        p: u64,
        flags: u32,
    ) -> std::os::raw::c_long {
        let raw = match read_cstr(tid, p) {
            Some(r) => r,
            None => return t::PTRACE_CONT,
        };
        let abs = if raw.first() == Some(&b'/') {
            decode::resolve(b"/", &raw)
        } else {
            decode::resolve(&self.base_dir(tid, dirfd), &raw)
        };
        let is_dir = flags & libc::O_DIRECTORY as u32 != 0;
        let mut idx = None;
        if !is_dir && self.cfg.sensitive.matches(&abs) {
            let mut e = Event::new(EventKind::Open, syscall, tgid, tid, self.now(), "seccomp");
            e.raw_path = Some(raw.clone());
            e.path = Some(abs.clone());
            e.flags = Some(flags);
            idx = self.push(e);
        }
        if self.cfg.strict {
            let th = self.thread(tid);
            th.pending_open = idx;
            th.pending_open_path = Some((raw, abs, flags, syscall));
            t::PTRACE_SYSCALL
        } else {
            t::PTRACE_CONT
        }
    }

    /// --strict: the open returned; what does the new descriptor really point at?
    fn on_syscall_exit(&mut self, tid: i32) {
        let (idx, pending) = {
            let th = self.thread(tid);
            (th.pending_open.take(), th.pending_open_path.take())
        };
        let (raw, abs, flags, syscall) = match pending {
            Some(p) => p,
            None => return,
        };
        let info = match t::syscall_info(tid) {
            Ok(i) if i.op == t::SYSCALL_INFO_EXIT => i,
            _ => return,
        };
        let rval = info.rval();
        if let Some(i) = idx {
            self.events[i].result = Some(rval);
        }
        if rval < 0 {
            return;
        }
        let target = match t::readlink_bytes(&proc_path(tid, &format!("fd/{rval}"))) {
            Ok(t) => t,
            Err(_) => return,
        };
        if let Some(i) = idx {
            self.events[i].target = Some(target);
            return;
        }
        if target != abs && self.cfg.sensitive.matches(&target) {
            let tgid = self.thread(tid).tgid;
            let mut e = Event::new(EventKind::Open, syscall, tgid, tid, self.now(), "fd-link");
            e.raw_path = Some(raw);
            e.path = Some(abs);
            e.target = Some(target);
            e.flags = Some(flags);
            e.result = Some(rval);
            self.push(e);
        }
    }

    fn on_fork(&mut self, tid: i32, event: i32) {
        let new = match t::event_msg(tid) {
            Ok(n) => n as i32,
            Err(_) => return,
        };
        let parent_tgid = self.thread(tid).tgid;
        let known = self.threads.contains_key(&new);
        self.thread(new);
        if event != t::PTRACE_EVENT_CLONE {
            // fork/vfork: a new process whose parent is the caller's process
            let tgid = self.threads.get(&new).map(|t| t.tgid).unwrap_or(new);
            if let Some(&i) = self.by_pid.get(&tgid) {
                let (pkg, lc) = self
                    .by_pid
                    .get(&parent_tgid)
                    .map(|&p| {
                        (
                            self.procs[p].package.clone(),
                            self.procs[p].lifecycle.clone(),
                        )
                    })
                    .unwrap_or_default();
                let pr = &mut self.procs[i];
                pr.ppid = Some(parent_tgid);
                if known && pr.package.is_none() {
                    pr.package = pkg;
                    pr.lifecycle = lc;
                }
            }
        }
    }

    fn on_exec(&mut self, pid: i32) {
        let former = t::event_msg(pid).map(|f| f as i32).unwrap_or(pid);
        let pending = self.threads.remove(&former).and_then(|t| t.pending_exec);
        if former != pid {
            // exec from a non-main thread: it took over the leader's tid
            self.threads.remove(&pid);
        }
        self.threads.insert(
            pid,
            Thread {
                tgid: pid,
                pending_exec: None,
                pending_open: None,
                pending_open_path: None,
            },
        );
        let i = match self.by_pid.get(&pid) {
            Some(&i) => i,
            None => self.new_proc(pid, None),
        };
        let argv = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| decode::split_nul(&b))
            .unwrap_or_default();
        let exe = t::readlink_bytes(&proc_path(pid, "exe")).ok();
        let cwd = t::readlink_bytes(&proc_path(pid, "cwd")).ok();
        if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) {
            // npm names the package and lifecycle event in a script's environment; an exec that
            // cleared its environment keeps what it inherited
            if let Some(lc) = decode::env_value(&env, b"npm_lifecycle_event") {
                let pr = &mut self.procs[i];
                pr.lifecycle = Some(lc.to_vec());
                pr.package = decode::env_value(&env, b"npm_package_name").map(|v| v.to_vec());
            }
        }
        {
            let pr = &mut self.procs[i];
            pr.argv = argv.clone();
            pr.exe = exe.clone();
            pr.execs += 1;
        }
        let mut e = Event::new(
            EventKind::Exec,
            "execve",
            pid,
            pid,
            self.now(),
            "ptrace-exec",
        );
        e.path = pending;
        e.argv = Some(argv);
        e.exe = exe;
        e.cwd = cwd;
        if former != pid {
            e.former_tid = Some(former);
        }
        self.push(e);
    }

    fn on_exit(&mut self, tid: i32, status: i32) {
        let th = self.threads.remove(&tid);
        let tgid = th.map(|t| t.tgid).unwrap_or(tid);
        if tgid == tid {
            let now = self.now();
            if let Some(&i) = self.by_pid.get(&tid) {
                let pr = &mut self.procs[i];
                pr.end_ms = Some(now);
                if libc::WIFEXITED(status) {
                    pr.status = Some(libc::WEXITSTATUS(status));
                } else if libc::WIFSIGNALED(status) {
                    pr.signal = Some(libc::WTERMSIG(status));
                }
            }
        }
        if tid == self.root {
            if libc::WIFEXITED(status) {
                self.out.status = Some(libc::WEXITSTATUS(status));
            } else if libc::WIFSIGNALED(status) {
                self.out.signal = Some(libc::WTERMSIG(status));
                self.out.core_dumped = libc::WCOREDUMP(status);
            }
        }
    }

    fn on_signal(&mut self, tid: i32, sig: i32) {
        if tid == self.root
            && matches!(sig, libc::SIGINT | libc::SIGQUIT | libc::SIGHUP)
            && t::siginfo_code(tid) == Ok(SI_KERNEL)
        {
            if let Ok(mut s) = self.shared.lock() {
                s.kernel_signal_at.insert(sig, Instant::now());
            }
        }
    }

    fn run(&mut self) {
        loop {
            let (tid, status) = match t::wait_any() {
                Ok(r) => r,
                Err(libc::ECHILD) => break,
                Err(e) => {
                    self.out.error = Some(format!("waitpid failed: errno {e}"));
                    break;
                }
            };
            self.stops += 1.0;
            if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                self.on_exit(tid, status);
                continue;
            }
            if !libc::WIFSTOPPED(status) {
                continue;
            }
            let sig = libc::WSTOPSIG(status);
            let event = (status >> 16) & 0xffff;
            // ESRCH on resume: the tracee was killed meanwhile; its exit comes through waitpid
            let _ = if event == t::PTRACE_EVENT_SECCOMP {
                let how = self.on_seccomp(tid);
                t::resume(how, tid, 0)
            } else if event == t::PTRACE_EVENT_EXEC {
                self.on_exec(tid);
                t::resume(t::PTRACE_CONT, tid, 0)
            } else if event == t::PTRACE_EVENT_FORK
                || event == t::PTRACE_EVENT_VFORK
                || event == t::PTRACE_EVENT_CLONE
            {
                self.on_fork(tid, event);
                t::resume(t::PTRACE_CONT, tid, 0)
            } else if event == t::PTRACE_EVENT_STOP {
                self.thread(tid);
                if matches!(
                    sig,
                    libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
                ) {
                    // group-stop: stay stopped (job control works) but keep reporting
                    t::resume(t::PTRACE_LISTEN, tid, 0)
                } else {
                    t::resume(t::PTRACE_CONT, tid, 0)
                }
            } else if event != 0 {
                t::resume(t::PTRACE_CONT, tid, 0)
            } else if sig == (libc::SIGTRAP | 0x80) {
                self.on_syscall_exit(tid);
                t::resume(t::PTRACE_CONT, tid, 0)
            } else {
                // signal-delivery-stop: deliver it
                self.on_signal(tid, sig);
                t::resume(t::PTRACE_CONT, tid, sig)
            };
        }
    }
}

const OPTIONS: std::os::raw::c_long = t::PTRACE_O_TRACESECCOMP
    | t::PTRACE_O_TRACEEXEC
    | t::PTRACE_O_TRACEFORK
    | t::PTRACE_O_TRACEVFORK
    | t::PTRACE_O_TRACECLONE
    | t::PTRACE_O_TRACESYSGOOD
    | t::PTRACE_O_EXITKILL;

/// Forks, seizes and releases the child; `started` learns the pid (or the failing syscall and
/// errno); then traces until nothing is left and stores the outcome in `shared`.
/// Runs on the calling thread, which must stay the same for the whole trace.
pub fn trace(
    plan: t::ExecPlan,
    cfg: Config,
    shared: Arc<Mutex<Shared>>,
    started: std::sync::mpsc::Sender<Result<i32, (&'static str, i32)>>,
) {
    let t0 = Instant::now();
    let mut forked: Forked = match t::fork_waiting(&plan) {
        Ok(f) => f,
        Err(e) => {
            let _ = started.send(Err(("fork", e)));
            return;
        }
    };
    let pid = forked.pid;
    if let Err(e) = t::seize(pid, OPTIONS) {
        forked.release(false);
        // reap the child, which exits on seeing the go pipe closed
        let _ = t::wait_any();
        let _ = started.send(Err(("ptrace", e)));
        return;
    }
    forked.release(true);
    let _ = started.send(Ok(pid));
    let mut tr = Tracer {
        cfg,
        root: pid,
        t0,
        threads: HashMap::new(),
        procs: Vec::new(),
        by_pid: HashMap::new(),
        events: Vec::new(),
        dropped: 0.0,
        stops: 0.0,
        shared: shared.clone(),
        out: Outcome::default(),
    };
    tr.run();
    let mut out = std::mem::take(&mut tr.out);
    let root_execd = tr
        .by_pid
        .get(&pid)
        .map(|&i| tr.procs[i].execs > 0)
        .unwrap_or(false);
    if !root_execd {
        out.exec_failure = forked.failure();
    }
    out.events = std::mem::take(&mut tr.events);
    out.procs = std::mem::take(&mut tr.procs);
    out.stops = tr.stops;
    out.dropped = tr.dropped;
    out.elapsed_ms = tr.t0.elapsed().as_secs_f64() * 1000.0;
    drop(plan);
    if let Ok(mut s) = shared.lock() {
        s.outcome = Some(out);
        s.finished = true;
    }
}
