//! processInfo(pid): another process as `kernelscope inspect` shows it — command line, state,
//! memory, CPU, limits — read with the procfs crate (cold path: once per inspect or per `top`
//! refresh; the hot paths of this process keep their own pread parsers, src/process.rs).

use napi::Result;
use napi_derive::napi;
use procfs::process::{LimitValue, Process};
use procfs::ProcError;

use crate::error::sys_error;
use crate::sys;

#[napi(object, use_nullable = true)]
pub struct LimitPair {
    /// Soft limit; Infinity when unlimited.
    pub soft: f64,
    /// Hard limit; Infinity when unlimited.
    pub hard: f64,
}

#[napi(object, use_nullable = true)]
pub struct ProcessLimits {
    pub open_files: Option<LimitPair>,
    pub processes: Option<LimitPair>,
    pub address_space_bytes: Option<LimitPair>,
    pub stack_bytes: Option<LimitPair>,
    pub core_file_bytes: Option<LimitPair>,
}

#[napi(object, use_nullable = true)]
pub struct ProcessInfo {
    pub pid: i32,
    /// stat comm (15 bytes at most).
    pub comm: String,
    /// /proc/<pid>/cmdline split at NULs (invalid UTF-8 replaced); empty for kernel threads and zombies.
    pub cmdline: Vec<String>,
    /// readlink /proc/<pid>/exe; null when refused (another user's process) or gone.
    pub exe: Option<String>,
    /// stat state letter.
    pub state: String,
    pub ppid: i32,
    /// status Uid (real, effective).
    pub uid: Option<u32>,
    pub euid: Option<u32>,
    pub threads: f64,
    /// stat utime / stime, ms.
    pub user_ms: f64,
    pub system_ms: f64,
    /// Seconds since the process started (stat starttime against /proc/uptime).
    pub elapsed_seconds: Option<f64>,
    /// stat rss × page size.
    pub rss_bytes: f64,
    /// stat vsize.
    pub virtual_bytes: f64,
    /// status VmHWM.
    pub peak_rss_bytes: Option<f64>,
    pub voluntary_switches: Option<f64>,
    pub involuntary_switches: Option<f64>,
    /// /proc/<pid>/io syscr / syscw / rchar / wchar (null when refused: another user's process).
    pub read_calls: Option<f64>,
    pub write_calls: Option<f64>,
    pub read_chars: Option<f64>,
    pub write_chars: Option<f64>,
    /// /proc/<pid>/limits; null when refused.
    pub limits: Option<ProcessLimits>,
    /// UV_THREADPOOL_SIZE and NODE_OPTIONS from /proc/<pid>/environ (only these two are kept),
    /// null when absent or refused.
    pub uv_threadpool_size: Option<String>,
    pub node_options: Option<String>,
}

fn errno_of(e: &ProcError) -> i32 {
    match e {
        // the crate folds EPERM (hidepid=1, ptrace access checks) and EACCES into one kind: the
        // path it names is opened again to learn which of the two the kernel said
        ProcError::PermissionDenied(path) => path
            .as_ref()
            .and_then(|p| p.to_str())
            .and_then(|p| sys::ProcFile::open(p).err())
            .filter(|&errno| errno == libc::EPERM || errno == libc::EACCES)
            .unwrap_or(libc::EACCES),
        ProcError::NotFound(_) => libc::ENOENT,
        ProcError::Io(io, _) => io.raw_os_error().unwrap_or(libc::EIO),
        _ => libc::EIO,
    }
}

fn value(v: &LimitValue) -> f64 {
    match v {
        LimitValue::Unlimited => f64::INFINITY,
        LimitValue::Value(n) => *n as f64,
    }
}

fn pair(l: &procfs::process::Limit) -> Option<LimitPair> {
    Some(LimitPair {
        soft: value(&l.soft_limit),
        hard: value(&l.hard_limit),
    })
}

fn uptime_seconds() -> Option<f64> {
    let mut buf = [0u8; 128];
    let n = sys::read_file_into(b"/proc/uptime", &mut buf).ok()?;
    std::str::from_utf8(&buf[..n])
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

pub fn process_info(pid: i32) -> std::result::Result<ProcessInfo, (i32, &'static str)> {
    let p = Process::new(pid).map_err(|e| (errno_of(&e), "stat"))?;
    let stat = p.stat().map_err(|e| (errno_of(&e), "stat"))?;
    let status = p.status().ok();
    let ticks = sys::clock_ticks_per_sec();
    let tick_ms = 1000.0 / ticks;
    let limits = p.limits().ok().map(|l| ProcessLimits {
        open_files: pair(&l.max_open_files),
        processes: pair(&l.max_processes),
        address_space_bytes: pair(&l.max_address_space),
        stack_bytes: pair(&l.max_stack_size),
        core_file_bytes: pair(&l.max_core_file_size),
    });
    let env = p.environ().ok();
    let io = p.io().ok();
    let env_var = |k: &str| {
        env.as_ref()
            .and_then(|m| m.get(std::ffi::OsStr::new(k)))
            .map(|v| v.to_string_lossy().into_owned())
    };
    Ok(ProcessInfo {
        pid,
        comm: stat.comm.clone(),
        cmdline: p.cmdline().unwrap_or_default(),
        exe: p.exe().ok().map(|e| e.to_string_lossy().into_owned()),
        state: stat.state.to_string(),
        ppid: stat.ppid,
        uid: status.as_ref().map(|s| s.ruid),
        euid: status.as_ref().map(|s| s.euid),
        threads: stat.num_threads as f64,
        user_ms: stat.utime as f64 * tick_ms,
        system_ms: stat.stime as f64 * tick_ms,
        elapsed_seconds: uptime_seconds().map(|up| (up - stat.starttime as f64 / ticks).max(0.0)),
        rss_bytes: stat.rss as f64 * sys::page_size(),
        virtual_bytes: stat.vsize as f64,
        peak_rss_bytes: status
            .as_ref()
            .and_then(|s| s.vmhwm)
            .map(|kb| kb as f64 * 1024.0),
        voluntary_switches: status
            .as_ref()
            .and_then(|s| s.voluntary_ctxt_switches)
            .map(|v| v as f64),
        involuntary_switches: status
            .as_ref()
            .and_then(|s| s.nonvoluntary_ctxt_switches)
            .map(|v| v as f64),
        read_calls: io.as_ref().map(|i| i.syscr as f64),
        write_calls: io.as_ref().map(|i| i.syscw as f64),
        read_chars: io.as_ref().map(|i| i.rchar as f64),
        write_chars: io.as_ref().map(|i| i.wchar as f64),
        limits,
        uv_threadpool_size: env_var("UV_THREADPOOL_SIZE"),
        node_options: env_var("NODE_OPTIONS"),
    })
}

#[napi(js_name = "processInfo", catch_unwind)]
pub fn js_process_info(pid: i32) -> Result<ProcessInfo> {
    process_info(pid).map_err(|(errno, syscall)| sys_error(syscall, errno, &format!("/proc/{pid}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_reads_back() {
        let me = sys::getpid();
        let info = process_info(me).expect("own /proc");
        assert_eq!(info.pid, me);
        assert!(info.threads >= 1.0);
        assert!(info.rss_bytes > 0.0);
        assert!(!info.cmdline.is_empty());
        assert!(info.limits.and_then(|l| l.open_files).is_some());
    }

    #[test]
    fn a_pid_that_does_not_exist_is_enoent() {
        // pid_max is at most 2^22: this one cannot exist
        assert_eq!(process_info(i32::MAX).err(), Some((libc::ENOENT, "stat")));
    }
}
