//! monitorLoop(): each libuv iteration's wait in epoll, libuv's timeout, the events it got, the
//! poll phase and the whole turn, from a prepare + check pair per environment (src/sys/uv.rs).
//! Everything here is safe code; MonitorState is plain data, unit-tested without a loop.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use napi::bindgen_prelude::{Float64Array, Float64ArraySlice, ObjectFinalize};
use napi::{Env, Result};
use napi_derive::napi;

use crate::error::arg_error;
use crate::histogram::{Histogram, Summary};
use crate::layout::{loop_history, LOOP_MAX_HISTORY};
use crate::sys::uv::{Observer, PrepareCheck, Tick};

/// One poll phase, as seen from prepare to check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Iteration {
    /// Prepare time, CLOCK_MONOTONIC ns.
    pub at_ns: u64,
    /// libuv's timeout for this poll, when meaningful.
    pub timeout_ms: Option<f64>,
    /// Blocked in epoll_wait (uv_metrics_idle_time delta).
    pub wait_ns: u64,
    pub events: Option<u64>,
    /// Prepare to check: wait + I/O callbacks + pending callbacks.
    pub poll_ns: u64,
}

impl Iteration {
    /// Pairs a prepare with its check. uv_backend_timeout() answers 0 both for "do not block" and
    /// for "fd changes pending"; only the first leaves the idle clock untouched (libuv records
    /// idle time only for a poll with a non-zero timeout), so 0 with a wait is unknown. -1 (no
    /// timer) is null too.
    pub fn from_ticks(prepare: Tick, timeout: i32, check: Tick) -> Iteration {
        let wait_ns = check.idle_ns.saturating_sub(prepare.idle_ns);
        let timeout_ms = match timeout {
            t if t < 0 => None,
            0 if wait_ns > 0 => None,
            t => Some(t as f64),
        };
        let events = match (prepare.events, check.events) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        Iteration {
            at_ns: prepare.now_ns,
            timeout_ms,
            wait_ns,
            events,
            poll_ns: check.now_ns.saturating_sub(prepare.now_ns),
        }
    }

    /// What ended the poll: I/O events, the timeout running out, or no block at all (an
    /// immediate, pending callbacks or closing handles made libuv poll with timeout 0).
    pub fn wakeup(&self) -> Wakeup {
        match self.events {
            Some(e) if e > 0 => Wakeup::Io,
            Some(_) if self.wait_ns == 0 => Wakeup::Immediate,
            Some(_) => Wakeup::Timeout,
            None if self.wait_ns == 0 => Wakeup::Immediate,
            None => match self.timeout_ms {
                // without an event count: a wait that lasted the whole timeout timed out
                Some(t) if self.wait_ns as f64 / 1e6 >= t - 1.0 => Wakeup::Timeout,
                _ => Wakeup::Io,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wakeup {
    Io,
    Timeout,
    Immediate,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    it: Iteration,
    iteration_ns: Option<u64>,
}

/// One monitor's numbers: histograms, counters and the ring of recent iterations.
pub struct MonitorState {
    wait: Histogram,
    poll: Histogram,
    iteration: Histogram,
    ring: Vec<Entry>,
    capacity: usize,
    /// Next slot to write.
    head: usize,
    iterations: u64,
    events: u64,
    events_known: bool,
    wakeups: [u64; 3],
    /// A prepare was seen and its check is due: a check without it is ignored.
    armed: bool,
    /// Ring slot and prepare time of the last checked iteration, whose turn ends at the next prepare.
    open: Option<(usize, u64)>,
    start_ns: u64,
    closed_ns: Option<u64>,
}

/// stats() in plain numbers, before it becomes a JS object.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsData {
    pub iterations: u64,
    pub events: Option<u64>,
    pub idle_ms: f64,
    pub busy_ms: f64,
    pub utilization: Option<f64>,
    pub wait: Summary,
    pub poll: Summary,
    pub iteration: Summary,
    pub wakeups: [u64; 3],
}

impl MonitorState {
    pub fn new(capacity: usize, now_ns: u64) -> MonitorState {
        let capacity = capacity.max(1);
        MonitorState {
            wait: Histogram::new(),
            poll: Histogram::new(),
            iteration: Histogram::new(),
            ring: Vec::with_capacity(capacity),
            capacity,
            head: 0,
            iterations: 0,
            events: 0,
            events_known: true,
            wakeups: [0; 3],
            armed: false,
            open: None,
            start_ns: now_ns,
            closed_ns: None,
        }
    }

    pub fn on_prepare(&mut self, now_ns: u64) {
        if self.closed_ns.is_some() {
            return;
        }
        if let Some((slot, at_ns)) = self.open.take() {
            let turn = now_ns.saturating_sub(at_ns);
            self.iteration.record(turn);
            if let Some(e) = self.ring.get_mut(slot) {
                e.iteration_ns = Some(turn);
            }
        }
        self.armed = true;
    }

    pub fn on_check(&mut self, it: &Iteration) {
        if !self.armed || self.closed_ns.is_some() {
            return;
        }
        self.armed = false;
        self.iterations += 1;
        self.wait.record(it.wait_ns);
        self.poll.record(it.poll_ns);
        match it.events {
            Some(e) => self.events += e,
            None => self.events_known = false,
        }
        let w = match it.wakeup() {
            Wakeup::Io => 0,
            Wakeup::Timeout => 1,
            Wakeup::Immediate => 2,
        };
        self.wakeups[w] += 1;
        let entry = Entry {
            it: *it,
            iteration_ns: None,
        };
        let slot = self.head;
        if self.ring.len() < self.capacity {
            self.ring.push(entry);
        } else {
            self.ring[slot] = entry;
        }
        self.head = (slot + 1) % self.capacity;
        self.open = Some((slot, it.at_ns));
    }

    /// Starts over from the next iteration (the one in progress is dropped).
    pub fn reset(&mut self, now_ns: u64) {
        self.wait.reset();
        self.poll.reset();
        self.iteration.reset();
        self.ring.clear();
        self.head = 0;
        self.iterations = 0;
        self.events = 0;
        self.events_known = true;
        self.wakeups = [0; 3];
        self.armed = false;
        self.open = None;
        self.start_ns = now_ns;
        if self.closed_ns.is_some() {
            self.closed_ns = Some(now_ns);
        }
    }

    /// Freezes the numbers, and lets go of the memory they no longer need: a histogram keeps
    /// only the buckets holding values, the ring only the iterations it holds (stats(),
    /// buckets() and history() still answer as before).
    pub fn close(&mut self, now_ns: u64) {
        if self.closed_ns.is_none() {
            self.closed_ns = Some(now_ns);
            self.armed = false;
            self.open = None;
            for h in [&mut self.wait, &mut self.poll, &mut self.iteration] {
                h.shrink();
            }
            self.ring.shrink_to_fit();
        }
    }

    /// Bytes this monitor holds on the heap (histogram buckets and the history ring).
    pub fn heap_bytes(&self) -> usize {
        self.wait.heap_bytes()
            + self.poll.heap_bytes()
            + self.iteration.heap_bytes()
            + self.ring.capacity() * std::mem::size_of::<Entry>()
    }

    pub fn is_closed(&self) -> bool {
        self.closed_ns.is_some()
    }

    pub fn stats(&self, now_ns: u64) -> StatsData {
        let end = self.closed_ns.unwrap_or(now_ns);
        let elapsed_ms = end.saturating_sub(self.start_ns) as f64 / 1e6;
        let idle_ms = self.wait.sum_ns() as f64 / 1e6;
        let busy_ms = (elapsed_ms - idle_ms).max(0.0);
        StatsData {
            iterations: self.iterations,
            events: self.events_known.then_some(self.events),
            idle_ms,
            busy_ms,
            utilization: (idle_ms + busy_ms > 0.0).then(|| busy_ms / (idle_ms + busy_ms)),
            wait: self.wait.summary(),
            poll: self.poll.summary(),
            iteration: self.iteration.summary(),
            wakeups: self.wakeups,
        }
    }

    /// Oldest first, one crate::layout::loop_history row each (NaN = null).
    pub fn history(&self) -> Vec<f64> {
        let n = self.ring.len();
        let first = if n < self.capacity { 0 } else { self.head };
        let mut out = Vec::with_capacity(n * loop_history::LEN);
        for k in 0..n {
            let e = &self.ring[(first + k) % n];
            let ms = |ns: u64| ns as f64 / 1e6;
            let mut row = [f64::NAN; loop_history::LEN];
            row[loop_history::AT_MS] = ms(e.it.at_ns);
            row[loop_history::TIMEOUT_MS] = e.it.timeout_ms.unwrap_or(f64::NAN);
            row[loop_history::WAIT_MS] = ms(e.it.wait_ns);
            row[loop_history::EVENTS] = e.it.events.map_or(f64::NAN, |v| v as f64);
            row[loop_history::POLL_MS] = ms(e.it.poll_ns);
            row[loop_history::ITERATION_MS] = e.iteration_ns.map_or(f64::NAN, ms);
            out.extend_from_slice(&row);
        }
        out
    }
}

/// The per-environment fan-out: one prepare/check pair feeds every open monitor of the thread.
pub struct Dispatcher {
    uv_loop: usize,
    monitors: RefCell<Vec<Rc<RefCell<MonitorState>>>>,
    prepared: Cell<Option<(Tick, i32)>>,
}

impl Observer for Dispatcher {
    fn on_prepare(&self, tick: Tick, timeout_ms: i32) {
        self.prepared.set(Some((tick, timeout_ms)));
        if let Ok(list) = self.monitors.try_borrow() {
            for m in list.iter() {
                if let Ok(mut m) = m.try_borrow_mut() {
                    m.on_prepare(tick.now_ns);
                }
            }
        }
    }

    fn on_check(&self, tick: Tick) {
        let Some((prepare, timeout)) = self.prepared.take() else {
            return; // started mid-iteration: no prepare to pair with
        };
        let it = Iteration::from_ticks(prepare, timeout, tick);
        if let Ok(list) = self.monitors.try_borrow() {
            for m in list.iter() {
                if let Ok(mut m) = m.try_borrow_mut() {
                    m.on_check(&it);
                }
            }
        }
    }

    fn on_teardown(&self) {
        let now = now_ns();
        if let Ok(mut list) = self.monitors.try_borrow_mut() {
            for m in list.drain(..) {
                if let Ok(mut m) = m.try_borrow_mut() {
                    m.close(now);
                }
            }
        }
        let key = self.uv_loop;
        let _ = LOOPS.try_with(|l| {
            if let Ok(mut l) = l.try_borrow_mut() {
                l.retain(|(k, _)| *k != key);
            }
        });
    }
}

thread_local! {
    /// The hooks of each environment on this thread, by uv loop address (a worker thread hosts
    /// one environment, the main thread the main one).
    static LOOPS: RefCell<Vec<(usize, PrepareCheck<Dispatcher>)>> = const { RefCell::new(Vec::new()) };
}

fn now_ns() -> u64 {
    crate::sys::monotonic_ns()
}

fn hooks_for(env: &Env) -> Result<PrepareCheck<Dispatcher>> {
    let uv_loop = env.get_uv_event_loop()? as usize;
    let found = LOOPS.with(|l| {
        l.borrow()
            .iter()
            .find(|(k, pc)| *k == uv_loop && pc.is_open())
            .map(|(_, pc)| pc.clone())
    });
    if let Some(pc) = found {
        return Ok(pc);
    }
    let dispatcher = Dispatcher {
        uv_loop,
        monitors: RefCell::new(Vec::new()),
        prepared: Cell::new(None),
    };
    let (_, pc) = PrepareCheck::on_env(env, dispatcher)
        .map_err(|e| arg_error("ERR_KERNELSCOPE_UNSUPPORTED_PLATFORM", &e))?;
    LOOPS.with(|l| {
        let mut l = l.borrow_mut();
        l.retain(|(k, _)| *k != uv_loop);
        l.push((uv_loop, pc.clone()));
    });
    Ok(pc)
}

#[napi(object, use_nullable = true)]
pub struct LoopHistogram {
    /// Values recorded.
    pub count: f64,
    pub min_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub mean_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
}

impl From<Summary> for LoopHistogram {
    fn from(s: Summary) -> Self {
        LoopHistogram {
            count: s.count,
            min_ms: s.min_ms,
            max_ms: s.max_ms,
            mean_ms: s.mean_ms,
            p50_ms: s.p50_ms,
            p90_ms: s.p90_ms,
            p99_ms: s.p99_ms,
            p999_ms: s.p999_ms,
        }
    }
}

#[napi(object)]
pub struct LoopWakeups {
    pub io: f64,
    pub timeout: f64,
    pub immediate: f64,
}

#[napi(object, use_nullable = true)]
pub struct LoopStats {
    pub iterations: f64,
    pub events: Option<f64>,
    pub idle_ms: f64,
    pub busy_ms: f64,
    pub utilization: Option<f64>,
    pub wait_ms: LoopHistogram,
    pub poll_ms: LoopHistogram,
    pub iteration_ms: LoopHistogram,
    pub wakeups: LoopWakeups,
}

/// The native half of LoopMonitor (lib/probes/loop.js wraps it). Its heap memory is reported
/// to V8 as external memory (napi_adjust_external_memory), so that the garbage collector
/// weighs a monitor by what it holds; close() lets most of it go at once.
#[napi(js_name = "NativeLoopMonitor", custom_finalize)]
pub struct NativeLoopMonitor {
    hooks: Option<PrepareCheck<Dispatcher>>,
    state: Rc<RefCell<MonitorState>>,
    /// Bytes reported to V8 so far.
    reported: i64,
}

#[napi]
impl NativeLoopMonitor {
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, history_size: u32) -> Result<Self> {
        if history_size == 0 || history_size > LOOP_MAX_HISTORY {
            return Err(arg_error(
                "ERR_OUT_OF_RANGE",
                &format!("historySize must be >= 1 && <= {LOOP_MAX_HISTORY}"),
            ));
        }
        let hooks = hooks_for(&env)?;
        let state = Rc::new(RefCell::new(MonitorState::new(
            history_size as usize,
            now_ns(),
        )));
        if let Ok(mut list) = hooks.observer().monitors.try_borrow_mut() {
            list.push(state.clone());
        }
        hooks.start();
        let mut monitor = NativeLoopMonitor {
            hooks: Some(hooks),
            state,
            reported: 0,
        };
        monitor.report(&env);
        Ok(monitor)
    }

    /// `out[0]` iterations and `out[1]` idle ms (time in epoll_wait) since the monitor
    /// started: the two totals an explained operation reports, without the histograms' summary.
    #[napi(catch_unwind)]
    pub fn counters_into(&self, mut out: Float64ArraySlice) -> Result<()> {
        let out = crate::sys::napi::f64_slice_mut(&mut out);
        if out.len() < 2 {
            return Err(arg_error(
                "ERR_OUT_OF_RANGE",
                "counter buffer is shorter than 2",
            ));
        }
        match self.state.try_borrow() {
            Ok(s) => {
                out[0] = s.iterations as f64;
                out[1] = s.wait.sum_ns() as f64 / 1e6;
            }
            Err(_) => out[..2].fill(f64::NAN),
        }
        Ok(())
    }

    #[napi(catch_unwind)]
    pub fn stats(&self) -> LoopStats {
        let s = self.state.borrow().stats(now_ns());
        LoopStats {
            iterations: s.iterations as f64,
            events: s.events.map(|e| e as f64),
            idle_ms: s.idle_ms,
            busy_ms: s.busy_ms,
            utilization: s.utilization,
            wait_ms: s.wait.into(),
            poll_ms: s.poll.into(),
            iteration_ms: s.iteration.into(),
            wakeups: LoopWakeups {
                io: s.wakeups[0] as f64,
                timeout: s.wakeups[1] as f64,
                immediate: s.wakeups[2] as f64,
            },
        }
    }

    /// For wait, poll and iteration in turn: the cumulative count at each bound (ns,
    /// ascending), then the count and the sum in seconds — one Prometheus histogram each.
    #[napi(catch_unwind)]
    pub fn buckets(&self, bounds_ns: Float64Array) -> Float64Array {
        let s = self.state.borrow();
        let mut out = Vec::with_capacity(3 * (bounds_ns.len() + 2));
        for h in [&s.wait, &s.poll, &s.iteration] {
            h.cumulative_le(&bounds_ns, &mut out);
            out.push(h.count() as f64);
            out.push(h.sum_ns() as f64 / 1e9);
        }
        Float64Array::new(out)
    }

    #[napi(catch_unwind)]
    pub fn history(&self) -> Float64Array {
        Float64Array::new(self.state.borrow().history())
    }

    #[napi(catch_unwind)]
    pub fn reset(&self) {
        self.state.borrow_mut().reset(now_ns());
    }

    #[napi(catch_unwind)]
    pub fn close(&mut self, env: Env) {
        self.close_inner();
        self.report(&env);
    }

    #[napi(getter, catch_unwind)]
    pub fn closed(&self) -> bool {
        self.state.borrow().is_closed()
    }
}

impl NativeLoopMonitor {
    /// Tells V8 how many bytes the monitor holds now.
    fn report(&mut self, env: &Env) {
        let now = self
            .state
            .try_borrow()
            .map_or(self.reported, |s| s.heap_bytes() as i64);
        if now != self.reported && env.adjust_external_memory(now - self.reported).is_ok() {
            self.reported = now;
        }
    }

    fn close_inner(&mut self) {
        if let Ok(mut s) = self.state.try_borrow_mut() {
            s.close(now_ns());
        }
        let Some(hooks) = self.hooks.take() else {
            return;
        };
        let empty = match hooks.observer().monitors.try_borrow_mut() {
            Ok(mut list) => {
                list.retain(|m| !Rc::ptr_eq(m, &self.state));
                list.is_empty()
            }
            Err(_) => false,
        };
        if empty {
            hooks.stop();
            hooks.observer().prepared.set(None);
        }
    }
}

impl ObjectFinalize for NativeLoopMonitor {
    /// Collected: V8 forgets the bytes it was told about (the memory goes with the drop).
    fn finalize(self, env: Env) -> Result<()> {
        if self.reported != 0 {
            let _ = env.adjust_external_memory(-self.reported);
        }
        Ok(())
    }
}

impl Drop for NativeLoopMonitor {
    /// A monitor collected without close() stops: nobody can read it any more.
    fn drop(&mut self) {
        self.close_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn tick(now_ms: u64, idle_ms: u64, events: Option<u64>) -> Tick {
        Tick {
            now_ns: now_ms * MS,
            idle_ns: idle_ms * MS,
            events,
        }
    }

    #[test]
    fn a_timer_wait_is_one_timed_out_iteration() {
        let it = Iteration::from_ticks(tick(1000, 50, Some(7)), 150, tick(1151, 200, Some(7)));
        assert_eq!(it.wait_ns, 150 * MS);
        assert_eq!(it.poll_ns, 151 * MS);
        assert_eq!(it.timeout_ms, Some(150.0));
        assert_eq!(it.events, Some(0));
        assert_eq!(it.wakeup(), Wakeup::Timeout);
    }

    #[test]
    fn zero_timeout_with_a_wait_means_fd_changes_were_pending() {
        let it = Iteration::from_ticks(tick(0, 0, Some(0)), 0, tick(30, 29, Some(1)));
        assert_eq!(it.timeout_ms, None);
        assert_eq!(it.wakeup(), Wakeup::Io);
        let it = Iteration::from_ticks(tick(0, 0, Some(0)), 0, tick(1, 0, Some(0)));
        assert_eq!(it.timeout_ms, Some(0.0));
        assert_eq!(it.wakeup(), Wakeup::Immediate);
        let it = Iteration::from_ticks(tick(0, 0, None), -1, tick(9, 8, None));
        assert_eq!(it.timeout_ms, None);
        assert_eq!(it.events, None);
        assert_eq!(it.wakeup(), Wakeup::Io);
        let it = Iteration::from_ticks(tick(0, 0, None), 20, tick(21, 20, None));
        assert_eq!(it.wakeup(), Wakeup::Timeout);
    }

    fn turn(s: &mut MonitorState, at: u64, wait: u64, poll: u64, events: Option<u64>) {
        s.on_prepare(at * MS);
        s.on_check(&Iteration {
            at_ns: at * MS,
            timeout_ms: Some(wait as f64),
            wait_ns: wait * MS,
            events,
            poll_ns: poll * MS,
        });
    }

    #[test]
    fn check_before_first_prepare_is_ignored() {
        let mut s = MonitorState::new(4, 0);
        s.on_check(&Iteration::from_ticks(
            tick(0, 0, None),
            5,
            tick(5, 5, None),
        ));
        assert_eq!(s.stats(MS).iterations, 0);
        assert!(s.history().is_empty());
    }

    #[test]
    fn turns_close_at_the_next_prepare_and_ring_keeps_the_last_n() {
        let mut s = MonitorState::new(3, 0);
        for k in 0..5u64 {
            turn(&mut s, k * 100, 10 + k, 12 + k, Some(k));
        }
        let h = s.history();
        assert_eq!(h.len(), 3 * loop_history::LEN);
        // oldest kept is k = 2, at 200 ms
        assert_eq!(h[0], 200.0);
        assert_eq!(h[2], 12.0); // waitMs
        assert_eq!(h[3], 2.0); // events
        assert_eq!(h[5], 100.0); // iterationMs: prepare 200 -> prepare 300
        let last = &h[2 * loop_history::LEN..];
        assert_eq!(last[0], 400.0);
        assert!(last[5].is_nan()); // still in progress
        let st = s.stats(450 * MS);
        assert_eq!(st.iterations, 5);
        assert_eq!(st.events, Some(10));
        assert_eq!(st.iteration.count, 4.0);
        assert_eq!(st.idle_ms, 10.0 + 11.0 + 12.0 + 13.0 + 14.0);
        assert_eq!(st.busy_ms, 450.0 - 60.0);
        assert!((st.utilization.unwrap() - 390.0 / 450.0).abs() < 1e-12);
        assert_eq!(st.wakeups, [4, 1, 0]);
    }

    #[test]
    fn unknown_events_make_the_total_null() {
        let mut s = MonitorState::new(8, 0);
        turn(&mut s, 0, 1, 1, Some(3));
        turn(&mut s, 10, 1, 1, None);
        assert_eq!(s.stats(20 * MS).events, None);
        assert!(s.history()[loop_history::LEN + 3].is_nan());
    }

    #[test]
    fn reset_drops_the_iteration_in_progress_and_close_freezes() {
        let mut s = MonitorState::new(8, 0);
        turn(&mut s, 0, 5, 6, Some(1));
        s.on_prepare(10 * MS); // armed, between prepare and check
        s.reset(12 * MS);
        s.on_check(&Iteration::from_ticks(
            tick(10, 0, None),
            5,
            tick(15, 5, None),
        ));
        assert_eq!(s.stats(20 * MS).iterations, 0);
        turn(&mut s, 20, 3, 4, Some(0));
        s.close(30 * MS);
        s.close(40 * MS);
        turn(&mut s, 40, 3, 4, Some(0));
        let st = s.stats(100 * MS);
        assert_eq!(st.iterations, 1);
        assert_eq!(st.busy_ms, 18.0 - 3.0);
        assert!(s.is_closed());
    }

    #[test]
    fn close_lets_the_memory_go_and_answers_the_same() {
        let mut s = MonitorState::new(1024, 0);
        let open = s.heap_bytes();
        for k in 0..10u64 {
            turn(&mut s, k * 10, 3 + k, 4 + k, Some(1));
        }
        s.close(200 * MS);
        let bits = |h: Vec<f64>| h.into_iter().map(f64::to_bits).collect::<Vec<_>>();
        let (stats, history) = (s.stats(300 * MS), bits(s.history()));
        assert!(s.heap_bytes() * 10 < open, "{} of {open}", s.heap_bytes());
        s.close(400 * MS);
        assert_eq!(s.stats(500 * MS), stats);
        assert_eq!(bits(s.history()), history);
        let mut out = Vec::new();
        s.iteration.cumulative_le(&[1e12], &mut out);
        assert_eq!(out, vec![9.0]);
    }
}
