//! `kernelscope audit`: runs a command under a seccomp filter + ptrace and records its exec,
//! connect and sensitive-open syscalls across the whole process tree. Started only by
//! `auditStart` (the `kernelscope audit` CLI); loading the addon never starts a tracer.
//!
//! napi surface: `auditStart(options) -> AuditSession` with `pid`, `poll()` (null until the
//! tree is gone, then the outcome once) and `forward(signal)`.

pub mod decode;
pub mod events;
pub mod filter;
pub mod tracee;
pub mod tracer;

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::Buffer;
use napi::Result;
use napi_derive::napi;

use crate::error::{arg_error, sys_error};
use crate::sys::trace as t;
use decode::{Dest, Sensitive};
use events::{Config, EventKind, Outcome, Shared};

#[napi(object)]
pub struct AuditOptions {
    /// Absolute path of the program to execve (the JS layer does the PATH search).
    pub file: String,
    pub argv: Vec<String>,
    /// `NAME=value` strings: the command's whole environment.
    pub env: Vec<String>,
    /// Follow every open to its exit and check what the descriptor points at (symlinks).
    pub strict: bool,
    /// Absolute sensitive paths, directories (everything below) and file names.
    pub sensitive_files: Vec<String>,
    pub sensitive_dirs: Vec<String>,
    pub sensitive_names: Vec<String>,
    pub sensitive_name_prefixes: Vec<String>,
    pub max_events: Option<u32>,
}

#[napi(object)]
pub struct AuditEvent {
    /// 'exec' | 'connect' | 'open'
    pub kind: String,
    /// The syscall that showed it: execve (any successful exec), connect, sendto, sendmsg,
    /// open, openat, openat2, creat.
    pub syscall: String,
    pub pid: i32,
    pub tid: i32,
    /// Milliseconds since the tracer started.
    pub time_ms: f64,
    pub path: Option<Buffer>,
    pub raw_path: Option<Buffer>,
    pub target: Option<Buffer>,
    pub flags: Option<u32>,
    /// 'inet' | 'inet6' | 'unix'
    pub family: Option<String>,
    pub address: Option<Buffer>,
    pub port: Option<u32>,
    pub abstract_socket: Option<bool>,
    pub argv: Option<Vec<Buffer>>,
    pub cwd: Option<Buffer>,
    pub exe: Option<Buffer>,
    pub former_tid: Option<i32>,
    pub result: Option<i64>,
    /// 'seccomp' (seen at the syscall's entry), 'ptrace-exec' (PTRACE_EVENT_EXEC: the exec
    /// succeeded), 'fd-link' (--strict: /proc/<pid>/fd/<ret> after the open returned)
    pub evidence: String,
}

#[napi(object)]
pub struct AuditProcess {
    pub pid: i32,
    pub ppid: Option<i32>,
    pub argv: Vec<Buffer>,
    pub exe: Option<Buffer>,
    /// npm_package_name / npm_lifecycle_event from the process's environment at exec.
    pub package: Option<Buffer>,
    pub lifecycle: Option<Buffer>,
    pub start_ms: f64,
    pub end_ms: Option<f64>,
    pub status: Option<i32>,
    pub signal: Option<i32>,
    pub execs: u32,
}

#[napi(object)]
pub struct AuditOutcome {
    pub status: Option<i32>,
    pub signal: Option<i32>,
    pub core_dumped: bool,
    /// 'no-new-privs' | 'seccomp' | 'exec' when the child never reached the command.
    pub failed_stage: Option<String>,
    pub failed_errno: Option<i32>,
    pub error: Option<String>,
    pub events: Vec<AuditEvent>,
    pub processes: Vec<AuditProcess>,
    /// ptrace stops handled (each costs two context switches).
    pub stops: f64,
    /// Events not kept past maxEvents.
    pub dropped: f64,
    pub elapsed_ms: f64,
}

#[napi]
pub struct AuditSession {
    shared: Arc<Mutex<Shared>>,
    pid: i32,
}

fn buf(v: Vec<u8>) -> Buffer {
    Buffer::from(v)
}

fn bytes_list(v: Vec<String>) -> Vec<Vec<u8>> {
    v.into_iter().map(String::into_bytes).collect()
}

fn convert(out: Outcome) -> AuditOutcome {
    let events = out
        .events
        .into_iter()
        .map(|e| {
            let (family, address, port, abstract_socket) = match e.dest {
                Some(Dest::Inet {
                    family,
                    address,
                    port,
                }) => (
                    Some(family.to_string()),
                    Some(buf(address.into_bytes())),
                    Some(port as u32),
                    None,
                ),
                Some(Dest::Unix { path, abstract_ns }) => (
                    Some("unix".to_string()),
                    Some(buf(path)),
                    None,
                    Some(abstract_ns),
                ),
                None => (None, None, None, None),
            };
            AuditEvent {
                kind: match e.kind {
                    EventKind::Exec => "exec",
                    EventKind::Connect => "connect",
                    EventKind::Open => "open",
                }
                .to_string(),
                syscall: e.syscall.to_string(),
                pid: e.pid,
                tid: e.tid,
                time_ms: e.time_ms,
                path: e.path.map(buf),
                raw_path: e.raw_path.map(buf),
                target: e.target.map(buf),
                flags: e.flags,
                family,
                address,
                port,
                abstract_socket,
                argv: e.argv.map(|a| a.into_iter().map(buf).collect()),
                cwd: e.cwd.map(buf),
                exe: e.exe.map(buf),
                former_tid: e.former_tid,
                result: e.result,
                evidence: e.evidence.to_string(),
            }
        })
        .collect();
    let processes = out
        .procs
        .into_iter()
        .map(|p| AuditProcess {
            pid: p.pid,
            ppid: p.ppid,
            argv: p.argv.into_iter().map(buf).collect(),
            exe: p.exe.map(buf),
            package: p.package.map(buf),
            lifecycle: p.lifecycle.map(buf),
            start_ms: p.start_ms,
            end_ms: p.end_ms,
            status: p.status,
            signal: p.signal,
            execs: p.execs,
        })
        .collect();
    let (failed_stage, failed_errno) = match out.exec_failure {
        Some((stage, errno)) => (
            Some(
                match stage {
                    t::STAGE_NO_NEW_PRIVS => "no-new-privs",
                    t::STAGE_SECCOMP => "seccomp",
                    _ => "exec",
                }
                .to_string(),
            ),
            Some(errno),
        ),
        None => (None, None),
    };
    AuditOutcome {
        status: out.status,
        signal: out.signal,
        core_dumped: out.core_dumped,
        failed_stage,
        failed_errno,
        error: out.error,
        events,
        processes,
        stops: out.stops,
        dropped: out.dropped,
        elapsed_ms: out.elapsed_ms,
    }
}

/// Starts tracing `options.file` in a new child. Resolves once the child is seized and
/// released; throws (errno, syscall) when fork or ptrace is refused.
#[napi(js_name = "auditStart", catch_unwind)]
pub fn audit_start(options: AuditOptions) -> Result<AuditSession> {
    if options.argv.is_empty() {
        return Err(arg_error(
            "ERR_INVALID_ARG_VALUE",
            "argv must hold at least the program name",
        ));
    }
    let plan = t::ExecPlan::new(&options.file, &options.argv, &options.env, filter::build())
        .ok_or_else(|| {
            arg_error(
                "ERR_INVALID_ARG_VALUE",
                "file, argv and env must not contain NUL bytes",
            )
        })?;
    let cfg = Config {
        strict: options.strict,
        sensitive: Sensitive {
            exact: bytes_list(options.sensitive_files),
            dirs: bytes_list(options.sensitive_dirs),
            names: bytes_list(options.sensitive_names),
            name_prefixes: bytes_list(options.sensitive_name_prefixes),
        },
        max_events: options.max_events.unwrap_or(100_000) as usize,
    };
    let shared = Arc::new(Mutex::new(Shared::default()));
    let (tx, rx) = mpsc::channel();
    let for_thread = shared.clone();
    // ptrace ties every tracee to the thread that attached it: this one runs the whole trace
    let spawned = crate::spawn::spawn_named("kernelscope-audit", move || {
        let guard = for_thread.clone();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            tracer::trace(plan, cfg, for_thread, tx)
        }));
        if r.is_err() {
            if let Ok(mut s) = guard.lock() {
                if s.outcome.is_none() {
                    s.outcome = Some(Outcome {
                        error: Some("the tracer thread panicked".into()),
                        ..Default::default()
                    });
                }
                s.finished = true;
            }
        }
    });
    if let Err(e) = spawned {
        return Err(sys_error(
            "pthread_create",
            e.raw_os_error().unwrap_or(libc::EAGAIN),
            "starting the audit thread",
        ));
    }
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(pid)) => Ok(AuditSession { shared, pid }),
        Ok(Err((syscall, errno))) => Err(sys_error(syscall, errno, "starting the traced command")),
        Err(_) => Err(sys_error(
            "fork",
            libc::EAGAIN,
            "the audit thread did not start the command",
        )),
    }
}

#[napi]
impl AuditSession {
    /// The traced command's pid.
    #[napi(getter)]
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// null while any traced process lives; then the outcome (once; null afterwards).
    #[napi(catch_unwind)]
    pub fn poll(&self) -> Option<AuditOutcome> {
        let mut s = self.shared.lock().ok()?;
        s.outcome.take().map(convert)
    }

    /// Sends `signal` to the command unless it already got it from the kernel (a terminal's ^C
    /// or hangup goes to the whole foreground group: forwarding it would deliver it twice).
    /// Returns whether it was sent.
    #[napi(catch_unwind)]
    pub fn forward(&self, signal: i32) -> bool {
        if let Ok(s) = self.shared.lock() {
            if s.finished {
                return false;
            }
            if let Some(at) = s.kernel_signal_at.get(&signal) {
                if at.elapsed() < Duration::from_secs(2) {
                    return false;
                }
            }
        }
        if matches!(signal, libc::SIGINT | libc::SIGQUIT | libc::SIGHUP)
            && pending(self.pid, signal)
        {
            return false;
        }
        t::kill(self.pid, signal).is_ok()
    }
}

/// Whether `signal` is pending for `pid` (/proc/<pid>/status SigPnd or ShdPnd).
fn pending(pid: i32, signal: i32) -> bool {
    let text = match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(t) => t,
        Err(_) => return false,
    };
    let bit = 1u64 << (signal - 1);
    text.lines()
        .filter_map(|l| {
            l.strip_prefix("SigPnd:")
                .or_else(|| l.strip_prefix("ShdPnd:"))
        })
        .filter_map(|v| u64::from_str_radix(v.trim(), 16).ok())
        .any(|mask| mask & bit != 0)
}
