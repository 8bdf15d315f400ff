//! The wire format of an inventory: a Float64Array of crate::layout::fds_col columns per
//! descriptor and two string channels (crate::layout::Strings, which carry any text: `text`,
//! target and error, written by the scanning threads as they go; `extra`, socket details and
//! fdinfo, added by completion), which lib/probes/fds.js unpacks. Everything that writes
//! those strings lives here.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::layout::{fds_col as col, Strings};
use crate::parse::fdinfo::{
    clock_name, epoll_event_names, inotify_mask_names, open_flag_names, FdInfo, FdType,
};
use crate::parse::sockdiag::{Addr, SocketInfo};

#[derive(Debug, Default)]
pub struct Packed {
    /// col::LEN numbers per descriptor, in descriptor order.
    pub nums: Vec<f64>,
    /// Per descriptor: its target (null when unknown), then its error when bit::ERROR.
    pub text: Strings,
    /// Per descriptor, the strings its other bits announce (see `bit`).
    pub extra: Strings,
    /// Descriptors whose link was refused (EACCES/EPERM): all of them means no access at all.
    pub(super) refused: usize,
    /// Descriptors found gone (ENOENT, EBADF) while being described.
    pub(super) vanished: usize,
    /// Whether `extra` is written (a chunk is completed when its sockets can be told).
    pub(super) complete: bool,
}

impl Packed {
    pub fn len(&self) -> usize {
        self.nums.len() / col::LEN
    }

    pub fn is_empty(&self) -> bool {
        self.nums.is_empty()
    }

    /// Room for about `records` descriptors.
    pub(super) fn with_capacity(records: usize) -> Packed {
        Packed {
            nums: Vec::with_capacity(records * col::LEN),
            text: Strings::with_capacity(records, records * 32),
            ..Packed::default()
        }
    }

    pub(super) fn row(&mut self, fd: i32, kind: FdType, inode: Option<u64>, bits: u32) {
        let mut row = [f64::NAN; col::LEN];
        row[col::FD] = f64::from(fd);
        row[col::TYPE] = f64::from(kind as u8);
        row[col::INODE] = num(inode);
        row[col::BITS] = f64::from(bits);
        self.nums.extend_from_slice(&row);
    }

    pub(super) fn get(&self, i: usize, c: usize) -> f64 {
        self.nums.get(i * col::LEN + c).copied().unwrap_or(f64::NAN)
    }

    pub(super) fn set(&mut self, i: usize, c: usize, v: f64) {
        if let Some(x) = self.nums.get_mut(i * col::LEN + c) {
            *x = v;
        }
    }

    pub(super) fn fd(&self, i: usize) -> i32 {
        self.get(i, col::FD) as i32
    }

    pub(super) fn is_kind(&self, i: usize, kind: FdType) -> bool {
        self.get(i, col::TYPE) == f64::from(kind as u8)
    }

    pub(super) fn kind(&self, i: usize) -> FdType {
        FdType::from_index(self.get(i, col::TYPE) as usize)
    }

    pub(super) fn inode(&self, i: usize) -> Option<u64> {
        let v = self.get(i, col::INODE);
        (!v.is_nan()).then_some(v as u64)
    }

    pub(super) fn bits(&self, i: usize) -> u32 {
        self.get(i, col::BITS) as u32
    }

    pub(super) fn add_bits(&mut self, i: usize, b: u32) {
        let bits = self.bits(i) | b;
        self.set(i, col::BITS, f64::from(bits));
    }

    /// Appends another chunk's records.
    pub(super) fn append(&mut self, other: Packed) {
        self.nums.extend_from_slice(&other.nums);
        self.text.append(&other.text);
        self.extra.append(&other.extra);
        self.refused += other.refused;
        self.vanished += other.vanished;
    }
}

pub(super) fn num(v: Option<u64>) -> f64 {
    v.map_or(f64::NAN, |v| v as f64)
}

/// `v` in decimal, without the formatting machinery (it runs once per descriptor).
pub(super) fn push_decimal(out: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// family, protocol, state, localAddress, remoteAddress, path: the addresses are formatted
/// straight into `extra`.
pub(super) fn write_socket(extra: &mut Strings, s: &SocketInfo) {
    // in crate::layout::fds_socket order
    extra.push(Some(s.family.name()));
    extra.push(Some(s.protocol));
    extra.push(Some(s.state));
    for addr in [&s.local_address, &s.remote_address] {
        match addr {
            Some(Addr::Ip(IpAddr::V4(ip))) => extra.push_with(|t| {
                let [a, b, c, d] = ip.octets();
                for (k, octet) in [a, b, c, d].into_iter().enumerate() {
                    if k > 0 {
                        t.push('.');
                    }
                    push_decimal(t, u64::from(octet));
                }
            }),
            Some(Addr::Name(name)) => extra.push(Some(name)),
            Some(a) => extra.push_with(|t| {
                // writing to a String cannot fail
                let _ = write!(t, "{a}");
            }),
            None => extra.push(None),
        }
    }
    extra.push(s.path.as_deref());
}

pub(super) fn json_str(out: &mut String, s: &str) {
    out.push('"');
    crate::error::json_escape_into(out, s);
    out.push('"');
}

pub(super) fn json_names(out: &mut String, names: &[&str]) {
    out.push('[');
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, n);
    }
    out.push(']');
}

pub(super) fn json_opt_num(out: &mut String, v: Option<u64>) {
    match v {
        Some(v) => out.push_str(&v.to_string()),
        None => out.push_str("null"),
    }
}

/// fdinfo details as one JSON object: position, flags, epoll, eventfd, timerfd, inotify.
pub(super) fn fdinfo_json(info: &FdInfo, kind: FdType) -> String {
    let mut o = String::with_capacity(96);
    o.push_str("{\"position\":");
    json_opt_num(&mut o, info.pos);
    o.push_str(",\"flags\":");
    match info.flags {
        Some(f) => json_names(&mut o, &open_flag_names(f)),
        None => o.push_str("null"),
    }
    o.push_str(",\"epoll\":");
    if kind == FdType::Epoll {
        o.push_str("{\"watches\":[");
        for (i, w) in info.epoll.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push_str(&format!("{{\"fd\":{},\"events\":", w.tfd));
            json_names(&mut o, &epoll_event_names(w.events));
            o.push_str(",\"inode\":");
            json_opt_num(&mut o, w.inode);
            o.push('}');
        }
        o.push_str("]}");
    } else {
        o.push_str("null");
    }
    o.push_str(",\"eventfd\":");
    match info.eventfd_count {
        Some(c) if kind == FdType::EventFd => {
            o.push_str(&format!("{{\"count\":{c},\"semaphore\":"));
            match info.eventfd_semaphore {
                Some(b) => o.push_str(if b { "true" } else { "false" }),
                None => o.push_str("null"),
            }
            o.push('}');
        }
        _ => o.push_str("null"),
    }
    o.push_str(",\"timerfd\":");
    match &info.timerfd {
        Some(t) if kind == FdType::TimerFd => {
            o.push_str("{\"clock\":");
            json_str(&mut o, clock_name(t.clock_id));
            o.push_str(&format!(
                ",\"ticks\":{},\"valueMs\":{},\"intervalMs\":{},\"absolute\":{}}}",
                t.ticks,
                t.value_ms,
                t.interval_ms,
                t.settime_flags & 1 != 0
            ));
        }
        _ => o.push_str("null"),
    }
    o.push_str(",\"inotify\":");
    if kind == FdType::Inotify {
        o.push_str("{\"watches\":[");
        for (i, w) in info.inotify.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push_str(&format!("{{\"wd\":{},\"inode\":", w.wd));
            json_opt_num(&mut o, w.inode);
            o.push_str(",\"device\":");
            json_opt_num(&mut o, w.device);
            o.push_str(",\"events\":");
            json_names(&mut o, &inotify_mask_names(w.mask));
            o.push('}');
        }
        o.push_str("]}");
    } else {
        o.push_str("null");
    }
    o.push('}');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        for v in [0u64, 7, 10, 255, 1234567, u64::MAX] {
            let mut s = String::from("x");
            push_decimal(&mut s, v);
            assert_eq!(s, format!("x{v}"));
        }
    }
}
