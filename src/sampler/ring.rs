//! The sampler's fixed ring of episodes. An episode is one thread seen in one unchanged wait
//! (state, syscall, target, wchan) over consecutive samples: a worker blocked 300 ms in
//! `openat` on a FIFO is one entry whose `last_ms` moves on, not 150 entries. Readers drain by
//! sequence number, so several JS environments (main thread, workers) can each keep a cursor.

use std::collections::{HashMap, VecDeque};

/// Most episodes kept; older ones are dropped (and counted) when a reader is slower.
pub const CAPACITY: usize = 8192;
/// Most distinct strings (targets, wchans) per sampler run; past it a string becomes unknown.
pub const MAX_STRINGS: usize = 65536;

/// What one thread is doing at one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// Index into layout::THREAD_STATES.
    pub state: u8,
    /// Syscall number, -1 when running or blocked outside a syscall.
    pub nr: i64,
    /// String id of the syscall's name, -1 for none.
    pub name: i64,
    /// String id of what the call is about (a path, a peer), -1 for none.
    pub target: i64,
    /// String id of the kernel function it sleeps in, -1 for none.
    pub wchan: i64,
}

#[derive(Debug, Clone)]
pub struct Episode {
    pub seq: u64,
    pub tid: i32,
    /// 0 = a loop thread (main or a worker_threads thread), 1 = a libuv pool worker.
    pub role: u8,
    pub obs: Observation,
    pub first_ms: f64,
    pub last_ms: f64,
    pub samples: u32,
    pub open: bool,
}

#[derive(Default)]
pub struct Ring {
    episodes: VecDeque<Episode>,
    next_seq: u64,
    /// tid -> seq of its open episode.
    open: HashMap<i32, u64>,
    pub dropped: u64,
    strings: Vec<String>,
    ids: HashMap<String, i64>,
}

impl Ring {
    pub fn intern(&mut self, s: &str) -> i64 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        if self.strings.len() >= MAX_STRINGS {
            return -1;
        }
        let id = self.strings.len() as i64;
        self.strings.push(s.to_string());
        self.ids.insert(s.to_string(), id);
        id
    }

    pub fn strings_from(&self, from: usize) -> &[String] {
        self.strings.get(from..).unwrap_or(&[])
    }

    fn index_of(&self, seq: u64) -> Option<usize> {
        let front = self.episodes.front()?.seq;
        let i = usize::try_from(seq.checked_sub(front)?).ok()?;
        (i < self.episodes.len()).then_some(i)
    }

    /// Records one sample of `tid`: extends its open episode when nothing changed, else closes
    /// it and opens a new one.
    pub fn record(&mut self, tid: i32, role: u8, obs: Observation, at_ms: f64) {
        if let Some(i) = self.open.get(&tid).and_then(|&s| self.index_of(s)) {
            let e = &mut self.episodes[i];
            if e.obs == obs && e.role == role {
                e.last_ms = at_ms;
                e.samples += 1;
                return;
            }
            e.open = false;
        }
        if self.episodes.len() >= CAPACITY {
            if let Some(old) = self.episodes.pop_front() {
                if old.open {
                    self.open.remove(&old.tid);
                }
            }
            self.dropped += 1;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.episodes.push_back(Episode {
            seq,
            tid,
            role,
            obs,
            first_ms: at_ms,
            last_ms: at_ms,
            samples: 1,
            open: true,
        });
        self.open.insert(tid, seq);
    }

    /// Closes the open episode of a thread no longer watched (it exited, or left the pool).
    pub fn close(&mut self, tid: i32) {
        if let Some(i) = self.open.remove(&tid).and_then(|s| self.index_of(s)) {
            self.episodes[i].open = false;
        }
    }

    pub fn close_all(&mut self) {
        let tids: Vec<i32> = self.open.keys().copied().collect();
        for t in tids {
            self.close(t);
        }
    }

    /// Episodes with seq >= `from` still in the ring (open ones included, as they are now).
    pub fn since(&self, from: u64) -> impl Iterator<Item = &Episode> {
        let start = match self.episodes.front() {
            Some(f) if from > f.seq => usize::try_from(from - f.seq).unwrap_or(usize::MAX),
            _ => 0,
        };
        self.episodes.iter().skip(start)
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(nr: i64) -> Observation {
        Observation {
            state: 1,
            nr,
            name: -1,
            target: -1,
            wchan: -1,
        }
    }

    #[test]
    fn unchanged_samples_extend_one_episode() {
        let mut r = Ring::default();
        r.record(7, 1, obs(257), 1.0);
        r.record(7, 1, obs(257), 3.0);
        r.record(7, 1, obs(0), 5.0);
        let v: Vec<_> = r.since(0).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0].first_ms, v[0].last_ms, v[0].samples, v[0].open),
            (1.0, 3.0, 2, false)
        );
        assert!(v[1].open);
        assert_eq!(r.since(1).count(), 1);
    }

    #[test]
    fn a_full_ring_drops_the_oldest() {
        let mut r = Ring::default();
        for i in 0..CAPACITY + 10 {
            r.record(i as i32, 1, obs(0), i as f64);
        }
        assert_eq!(r.dropped, 10);
        assert_eq!(r.since(0).next().map(|e| e.seq), Some(10));
        assert_eq!(r.since(CAPACITY as u64 + 9).count(), 1);
    }

    #[test]
    fn strings_are_interned_once() {
        let mut r = Ring::default();
        assert_eq!(r.intern("/tmp/a fifo\n"), 0);
        assert_eq!(r.intern("x"), 1);
        assert_eq!(r.intern("/tmp/a fifo\n"), 0);
        assert_eq!(r.strings_from(1), ["x".to_string()]);
    }
}
