//! The helper thread: kernelscope's second scanner, which takes a share of big scans.

use std::sync::{mpsc, Arc, Condvar, Mutex};

use crate::spawn::Service;

use super::schedule::Work;

/// kernelscope's second scanner thread ("kernelscope-fdh"), started on first use and kept:
/// its /proc/<tid>/fd entries stay in the dentry cache between scans, where a fresh thread's
/// would be made anew each time.
pub(super) static HELPER: Service<HelperJob> = Service::new("kernelscope-fdh", help);

/// Set by the helper once it has let go of a scan's Work (and so of the descriptors in it).
#[derive(Default)]
pub(super) struct Released {
    pub(super) done: Mutex<bool>,
    pub(super) cv: Condvar,
}

impl Released {
    pub(super) fn set(&self) {
        *self.done.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    /// Waits until set, at most `limit`; whether it was set.
    pub(super) fn wait(&self, limit: std::time::Duration) -> bool {
        let guard = self.done.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = self
            .cv
            .wait_timeout_while(guard, limit, |done| !*done)
            .unwrap_or_else(|p| p.into_inner());
        *guard
    }
}

pub(super) type HelperJob = (Arc<Work>, Arc<Released>);

/// The helper's part of one scan.
pub(super) fn help((work, released): HelperJob) {
    let dirs = work.helper_dirs.as_ref().unwrap_or(&work.dirs);
    // run() catches a panic per item
    work.run(dirs);
    drop(work);
    released.set();
}

/// How many CPUs this process may run on, learnt once. `available_parallelism` reads the
/// cgroup's cpu.max and the affinity mask through descriptors of its own, so the first call is
/// made under the fd gate's hold (scan(), beside pipefs_dev/sockfs_dev), never in the middle of a
/// walk: a number the walk listed and the program then closed could otherwise be reused by that
/// read and described as the program's.
pub(super) fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |c| c.get()))
}

/// The helper's sender and thread id, starting it if needed; None without a second CPU or
/// when no thread can be started.
pub(super) fn helper() -> Option<(mpsc::Sender<HelperJob>, i32)> {
    if cpus() < 2 {
        return None;
    }
    HELPER.handle().map(|h| (h.tx, h.tid))
}
