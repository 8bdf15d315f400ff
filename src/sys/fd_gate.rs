//! kernelscope's own descriptors against the walks of this process's descriptor table (fds()):
//! a descriptor a scan opens for a moment (an fdinfo file, a /proc/net table, a socket made to
//! learn sockfs's device) is opened and closed only while no walk is under way, so no inventory
//! can list it; the ones a scan keeps for its length (its directories, its netlink socket) are
//! registered while no walk is under way and left out of every walk.
//!
//! Two kinds of section exclude each other, each shared by any number of threads: a walk (the
//! listing or probing of our own table, a chunk at a time) and a hold (opening, using and
//! closing our own short-lived descriptors). A waiting hold goes before new walks: walks are
//! many and short (a chunk of 256 numbers), holds are what a scan's own progress waits for.
//! Nothing waits inside a walk, and a hold taken by a thread that is walking does not wait
//! (that would wait for itself): a walk must not open descriptors.

use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::sync::{Condvar, Mutex, MutexGuard};

#[derive(Default)]
struct State {
    walkers: usize,
    holders: usize,
    /// Holds waiting for the walks to end.
    waiting: usize,
    /// Descriptors kept by scans under way, left out of every walk.
    kept: Vec<i32>,
}

static STATE: Mutex<State> = Mutex::new(State {
    walkers: 0,
    holders: 0,
    waiting: 0,
    kept: Vec::new(),
});
static CHANGED: Condvar = Condvar::new();

thread_local! {
    /// Walk sections this thread is in.
    static WALKING: Cell<usize> = const { Cell::new(0) };
}

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

fn wait(g: MutexGuard<'static, State>) -> MutexGuard<'static, State> {
    CHANGED.wait(g).unwrap_or_else(|p| p.into_inner())
}

/// A section in which this thread may open and close descriptors of its own that no walk
/// must see. Ends when dropped.
pub struct Hold(());

/// Starts a hold: waits for the walks under way to end.
pub fn hold() -> Hold {
    let walking = WALKING.with(Cell::get) > 0;
    let mut g = state();
    if !walking {
        g.waiting += 1;
        while g.walkers > 0 {
            g = wait(g);
        }
        g.waiting -= 1;
    }
    g.holders += 1;
    Hold(())
}

impl Hold {
    /// Registers `fd` as kept by a scan: left out of every walk until `forget`.
    fn keep(&self, fd: i32) {
        state().kept.push(fd);
    }

    fn forget(&self, fd: i32) {
        let mut g = state();
        if let Some(i) = g.kept.iter().position(|&k| k == fd) {
            g.kept.swap_remove(i);
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut g = state();
        g.holders -= 1;
        if g.holders == 0 {
            CHANGED.notify_all();
        }
    }
}

/// A walk of this process's descriptor table: while it lasts, no kernelscope descriptor is
/// opened or closed, and `kept` lists the ones scans keep open.
pub struct Walk {
    kept: Vec<i32>,
    /// Ended on the thread that started it (WALKING is per thread): not Send.
    _here: std::marker::PhantomData<*const ()>,
}

/// Starts a walk: waits for the holds under way, and for the ones waiting, to end.
pub fn walk() -> Walk {
    let mut g = state();
    while g.holders > 0 || g.waiting > 0 {
        g = wait(g);
    }
    g.walkers += 1;
    let kept = g.kept.clone();
    drop(g);
    WALKING.with(|w| w.set(w.get() + 1));
    Walk {
        kept,
        _here: std::marker::PhantomData,
    }
}

impl Walk {
    /// Whether `fd` is a descriptor a scan keeps (not one of the process's own).
    pub fn is_kept(&self, fd: i32) -> bool {
        self.kept.contains(&fd)
    }
}

impl Drop for Walk {
    fn drop(&mut self) {
        WALKING.with(|w| w.set(w.get().saturating_sub(1)));
        let mut g = state();
        g.walkers -= 1;
        if g.walkers == 0 {
            CHANGED.notify_all();
        }
    }
}

/// Something holding a descriptor for the length of a scan (a directory, a netlink socket),
/// registered as kept while it lives; dropping it closes the descriptor and forgets it under a
/// hold.
pub struct Kept<T> {
    inner: ManuallyDrop<T>,
    fd: Option<i32>,
}

impl<T> Kept<T> {
    /// Registers `inner`, whose descriptor is `fd` (None: it holds none), opened under `hold`.
    pub fn new(hold: &Hold, inner: T, fd: Option<i32>) -> Kept<T> {
        if let Some(fd) = fd {
            hold.keep(fd);
        }
        Kept {
            inner: ManuallyDrop::new(inner),
            fd,
        }
    }
}

impl<T> std::ops::Deref for Kept<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> Drop for Kept<T> {
    fn drop(&mut self) {
        let hold = hold();
        // SAFETY: inner is dropped here once, in Kept's own drop, and never used after.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
        if let Some(fd) = self.fd.take() {
            hold.forget(fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn holds_and_walks_never_overlap_and_kept_fds_are_listed() {
        let in_walk = Arc::new(AtomicUsize::new(0));
        let in_hold = Arc::new(AtomicUsize::new(0));
        let overlap = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for t in 0..4 {
            let (w, h, o) = (in_walk.clone(), in_hold.clone(), overlap.clone());
            threads.push(std::thread::spawn(move || {
                for _ in 0..2000 {
                    if t % 2 == 0 {
                        let _g = walk();
                        w.fetch_add(1, Ordering::SeqCst);
                        if h.load(Ordering::SeqCst) > 0 {
                            o.store(true, Ordering::SeqCst);
                        }
                        w.fetch_sub(1, Ordering::SeqCst);
                    } else {
                        let _g = hold();
                        h.fetch_add(1, Ordering::SeqCst);
                        if w.load(Ordering::SeqCst) > 0 {
                            o.store(true, Ordering::SeqCst);
                        }
                        h.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            }));
        }
        for t in threads {
            t.join().unwrap();
        }
        assert!(!overlap.load(Ordering::SeqCst));
        let kept = Kept::new(&hold(), 7u8, Some(-77));
        assert!(walk().is_kept(-77));
        drop(kept);
        assert!(!walk().is_kept(-77));
    }

    #[test]
    fn a_hold_inside_a_walk_does_not_wait_for_itself() {
        let w = walk();
        let h = hold();
        drop(h);
        drop(w);
        let _h = hold();
    }
}
