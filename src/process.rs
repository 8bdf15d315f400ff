//! sample(): one cheap snapshot of the whole process; fdCount().
//!
//! The snapshot is written into a Float64Array the JS layer owns and reuses (lib/probes/process.js
//! builds the object): no allocation and no per-field napi call on the hot path. NaN in a slot
//! means "the kernel did not give this" and becomes `null` in JS.

use std::path::Path;
use std::sync::Mutex;

use napi::bindgen_prelude::Float64ArraySlice;
use napi::Result;
use napi_derive::napi;
use once_cell::sync::Lazy;

use crate::error::{arg_error, sys_error};
use crate::layout::process as slot;
use crate::parse::proc_text::{parse_io, parse_numbers};
use crate::sys::{self, DirFd, ProcFile};

/// One kept-open /proc/self file. A file that cannot be opened stays None and its fields are
/// null; when the refusal was transient (EMFILE, ENFILE, ENOMEM: the process is short of
/// descriptors — exactly when someone is chasing an fd leak) a later sample() tries again,
/// while a lasting one (EACCES, ENOENT: restricted /proc, no accounting) is not retried.
struct Kept<T> {
    file: Option<T>,
    retry: bool,
}

impl<T> Kept<T> {
    fn open(open: impl Fn() -> sys::SysResult<T>) -> Kept<T> {
        let mut k = Kept {
            file: None,
            retry: true,
        };
        k.reopen(open);
        k
    }

    fn reopen(&mut self, open: impl Fn() -> sys::SysResult<T>) {
        if self.file.is_some() || !self.retry {
            return;
        }
        match open() {
            Ok(f) => self.file = Some(f),
            Err(e) => {
                self.retry = matches!(e, libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::EINTR)
            }
        }
    }
}

/// The /proc/self files sample() reads, opened on the first call and kept.
struct SampleFiles {
    io: Kept<ProcFile>,
    statm: Kept<ProcFile>,
    schedstat: Kept<ProcFile>,
    /// /proc/self/task: its link count is 2 + the number of threads, a cheap fstat where
    /// /proc/self/stat would sum every thread's times just to print num_threads.
    task_dir: Kept<DirFd>,
}

fn open_io() -> sys::SysResult<ProcFile> {
    ProcFile::open("/proc/self/io")
}
fn open_statm() -> sys::SysResult<ProcFile> {
    ProcFile::open("/proc/self/statm")
}
fn open_schedstat() -> sys::SysResult<ProcFile> {
    ProcFile::open("/proc/self/schedstat")
}
fn open_task_dir() -> sys::SysResult<DirFd> {
    DirFd::open(Path::new("/proc/self/task"))
}

static FILES: Lazy<Mutex<SampleFiles>> = Lazy::new(|| {
    Mutex::new(SampleFiles {
        io: Kept::open(open_io),
        statm: Kept::open(open_statm),
        schedstat: Kept::open(open_schedstat),
        task_dir: Kept::open(open_task_dir),
    })
});

static PAGE_SIZE: Lazy<f64> = Lazy::new(sys::page_size);
/// getpid() is a real syscall (glibc stopped caching it); the pid of a Node process does not
/// change, and the kept-open /proc/self files would be the parent's after a fork anyway.
static PID: Lazy<f64> = Lazy::new(|| sys::getpid() as f64);

fn opt(v: Option<u64>) -> f64 {
    v.map_or(f64::NAN, |x| x as f64)
}

fn read_into<'a>(file: &Option<ProcFile>, buf: &'a mut [u8]) -> Option<&'a [u8]> {
    let n = file.as_ref()?.read(buf).ok()?;
    Some(&buf[..n])
}

/// Fills `out` (at least slot::LEN long) with one snapshot.
pub fn sample_into(out: &mut [f64]) {
    out[..slot::LEN].fill(f64::NAN);
    let mut buf = [0u8; 1024];
    let mut guard = match FILES.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    // files a descriptor shortage kept closed: tried again (one open each, only then)
    guard.io.reopen(open_io);
    guard.statm.reopen(open_statm);
    guard.schedstat.reopen(open_schedstat);
    guard.task_dir.reopen(open_task_dir);
    let files = &*guard;
    out[slot::PID] = *PID;
    out[slot::AT_MS] = sys::monotonic_ms();

    // /proc/self/io first: syscr is counted after a read returns, so reading it before our own
    // other reads keeps sample()'s own calls out of this snapshot as far as possible.
    if let Some(text) = read_into(&files.io.file, &mut buf) {
        let io = parse_io(text);
        out[slot::READ_CHARS] = opt(io.rchar);
        out[slot::WRITE_CHARS] = opt(io.wchar);
        out[slot::READ_CALLS] = opt(io.syscr);
        out[slot::WRITE_CALLS] = opt(io.syscw);
        out[slot::READ_BYTES] = opt(io.read_bytes);
        out[slot::WRITE_BYTES] = opt(io.write_bytes);
        out[slot::CANCELLED_WRITE_BYTES] = opt(io.cancelled_write_bytes);
    }
    if let Ok(ru) = sys::rusage_self() {
        out[slot::USER_MS] = ru.user_us / 1e3;
        out[slot::SYSTEM_MS] = ru.system_us / 1e3;
        out[slot::MINOR] = ru.minflt;
        out[slot::MAJOR] = ru.majflt;
        out[slot::VOLUNTARY] = ru.nvcsw;
        out[slot::INVOLUNTARY] = ru.nivcsw;
        out[slot::PEAK_RSS] = ru.maxrss_kb * 1024.0;
    }
    if let Some(text) = read_into(&files.statm.file, &mut buf) {
        if let Some([size, resident, shared]) = parse_numbers::<3>(text) {
            let page = *PAGE_SIZE;
            out[slot::VIRTUAL] = size as f64 * page;
            out[slot::RSS] = resident as f64 * page;
            out[slot::RSS_FILE] = shared as f64 * page;
            out[slot::RSS_ANON] = resident.saturating_sub(shared) as f64 * page;
        }
    }
    // getrusage's maxrss trails the live RSS until the kernel folds it in (VmHWM does the same
    // max at read time)
    if out[slot::RSS] > out[slot::PEAK_RSS] {
        out[slot::PEAK_RSS] = out[slot::RSS];
    }
    if let Some(text) = read_into(&files.schedstat.file, &mut buf) {
        if let Some([run_ns, wait_ns, slices]) = parse_numbers::<3>(text) {
            out[slot::RUN_MS] = run_ns as f64 / 1e6;
            out[slot::RUNQUEUE_WAIT_MS] = wait_ns as f64 / 1e6;
            out[slot::TIMESLICES] = slices as f64;
        }
    }
    if let Some(Ok(nlink)) = files.task_dir.file.as_ref().map(DirFd::nlink) {
        out[slot::THREADS] = nlink.saturating_sub(2) as f64;
    }
    if let Ok((soft, hard)) = sys::nofile_limits() {
        out[slot::FD_SOFT] = soft;
        out[slot::FD_HARD] = hard;
    }
}

#[napi(js_name = "sampleInto", catch_unwind)]
pub fn js_sample_into(mut out: Float64ArraySlice) -> Result<()> {
    let slice = sys::napi::f64_slice_mut(&mut out);
    if slice.len() < slot::LEN {
        return Err(arg_error(
            "ERR_OUT_OF_RANGE",
            "sample buffer is shorter than the sample layout",
        ));
    }
    sample_into(slice);
    Ok(())
}

/// The counters an explained operation reports over its window (lib/attribution/explain.js,
/// at its start and end): `out[0]` read calls and `out[1]` write calls (/proc/self/io syscr,
/// syscw), `out[2]` context switches, voluntary + involuntary (getrusage), NaN for what the
/// kernel did not give. One pread and one getrusage: sample()'s other reads are not needed.
#[napi(js_name = "kernelCountersInto", catch_unwind)]
pub fn js_kernel_counters_into(mut out: Float64ArraySlice) -> Result<()> {
    let out = sys::napi::f64_slice_mut(&mut out);
    if out.len() < 3 {
        return Err(arg_error(
            "ERR_OUT_OF_RANGE",
            "counter buffer is shorter than 3",
        ));
    }
    out[..3].fill(f64::NAN);
    let mut buf = [0u8; 1024];
    {
        let mut guard = match FILES.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        guard.io.reopen(open_io);
        if let Some(text) = read_into(&guard.io.file, &mut buf) {
            let io = parse_io(text);
            out[0] = opt(io.syscr);
            out[1] = opt(io.syscw);
        }
    }
    if let Ok(ru) = sys::rusage_self() {
        out[2] = ru.nvcsw + ru.nivcsw;
    }
    Ok(())
}

/// A measurement hook, not part of the API (index.js does not export it; bench/process.js
/// calls it through lib/native.js): exactly the syscalls sample() makes, with no parsing and
/// no output, the floor sample()'s cost is compared with.
#[napi(js_name = "sampleSyscallFloor", catch_unwind)]
pub fn sample_syscall_floor() -> f64 {
    let mut buf = [0u8; 1024];
    let mut guard = match FILES.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    // files a descriptor shortage kept closed: tried again (one open each, only then)
    guard.io.reopen(open_io);
    guard.statm.reopen(open_statm);
    guard.schedstat.reopen(open_schedstat);
    guard.task_dir.reopen(open_task_dir);
    let files = &*guard;
    let mut total = 0usize;
    total += read_into(&files.io.file, &mut buf).map_or(0, |b| b.len());
    total += sys::rusage_self().map_or(0, |r| r.nvcsw as usize);
    total += read_into(&files.statm.file, &mut buf).map_or(0, |b| b.len());
    total += read_into(&files.schedstat.file, &mut buf).map_or(0, |b| b.len());
    total += files
        .task_dir
        .file
        .as_ref()
        .map_or(0, |d| d.nlink().unwrap_or(0) as usize);
    total += sys::nofile_limits().map_or(0, |l| l.0 as usize);
    total += sys::monotonic_ms() as usize;
    total as f64
}

/// Number of entries in a /proc fd directory, counted with getdents64 (no readlink, no stat).
/// Err names the syscall that failed: "open" (EMFILE when the process is out of descriptors)
/// or "getdents64".
pub fn count_dir_entries(path: &Path) -> std::result::Result<u32, (&'static str, i32)> {
    let dir = DirFd::open(path).map_err(|e| ("open", e))?;
    let mut buf = [0u8; 16384];
    let mut count = 0u32;
    dir.for_each_name(&mut buf, |_| count += 1)
        .map_err(|e| ("getdents64", e))?;
    Ok(count)
}

#[napi(js_name = "fdCount", catch_unwind)]
pub fn fd_count() -> Result<u32> {
    match count_dir_entries(Path::new("/proc/self/fd")) {
        // the directory's own fd was open during the scan: not one of the caller's
        Ok(n) => Ok(n.saturating_sub(1)),
        Err((syscall, e)) => Err(sys_error(syscall, e, "/proc/self/fd")),
    }
}

#[cfg(test)]
mod timing {
    use super::*;
    use std::time::Instant;

    #[test]
    #[ignore]
    fn cost_of_each_source() {
        let mut buf = [0u8; 1024];
        let files = FILES.lock().unwrap();
        let n = 20000;
        let time = |name: &str, f: &mut dyn FnMut()| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            println!("{name}: {:.0} ns", t.elapsed().as_nanos() as f64 / n as f64);
        };
        time("io", &mut || {
            read_into(&files.io.file, &mut buf);
        });
        time("task nlink", &mut || {
            let _ = files.task_dir.file.as_ref().map(DirFd::nlink);
        });
        time("statm", &mut || {
            read_into(&files.statm.file, &mut buf);
        });
        time("schedstat", &mut || {
            read_into(&files.schedstat.file, &mut buf);
        });
        time("rusage", &mut || {
            let _ = sys::rusage_self();
        });
        time("rlimit", &mut || {
            let _ = sys::nofile_limits();
        });
        time("clock", &mut || {
            sys::monotonic_ms();
        });
        let mut out = [0f64; slot::LEN];
        drop(files);
        time("sample_into", &mut || sample_into(&mut out));
    }
}
