//! `struct tcp_info` (getsockopt TCP_INFO, include/uapi/linux/tcp.h), decoded by the length the
//! kernel returned: a field that ends past that length was added by a later kernel and is `None`.
//!
//! Table-driven so the JS layer gets the same field list (`FIELDS`, in slot order) as the
//! decoder uses, and a new kernel field is one line here.

/// How a raw field becomes a JS number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    /// A count, bytes, or an enum value: taken as is.
    Raw,
    /// Microseconds in the kernel, milliseconds in the API.
    UsToMs,
    /// Already milliseconds in the kernel.
    Ms,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Public name (camelCase, unit suffix as the API convention wants).
    pub name: &'static str,
    /// Byte offset in struct tcp_info.
    pub offset: usize,
    /// 1, 2, 4 or 8 bytes, native endian.
    pub size: usize,
    pub unit: Unit,
}

const fn f(name: &'static str, offset: usize, size: usize, unit: Unit) -> Field {
    Field {
        name,
        offset,
        size,
        unit,
    }
}

use Unit::{Ms, Raw, UsToMs};

/// Every decoded field, in slot order. Offsets follow include/uapi/linux/tcp.h; the comments say
/// which kernel added the tail fields (the length the kernel returns grows with them).
pub const FIELDS: &[Field] = &FIELD_TABLE;

const FIELD_TABLE: [Field; 56] = [
    f("state", 0, 1, Raw),                      // tcpi_state: TCP_ESTABLISHED=1 …
    f("caState", 1, 1, Raw), // tcpi_ca_state: 0 open, 1 disorder, 2 cwr, 3 recovery, 4 loss
    f("retransmits", 2, 1, Raw), // tcpi_retransmits: unrecovered RTO timeouts now
    f("probes", 3, 1, Raw),  // tcpi_probes: unanswered zero-window / keepalive probes
    f("backoff", 4, 1, Raw), // tcpi_backoff: RTO backoff exponent
    f("options", 5, 1, Raw), // tcpi_options: TCPI_OPT_* bits
    f("wscale", 6, 1, Raw),  // snd_wscale:4 | rcv_wscale:4 (split in decode)
    f("rtoMs", 8, 4, UsToMs), // tcpi_rto
    f("atoMs", 12, 4, UsToMs), // tcpi_ato
    f("sndMss", 16, 4, Raw), // tcpi_snd_mss (bytes)
    f("rcvMss", 20, 4, Raw), // tcpi_rcv_mss (bytes)
    f("unacked", 24, 4, Raw), // tcpi_unacked (segments in flight)
    f("sacked", 28, 4, Raw), // tcpi_sacked
    f("lost", 32, 4, Raw),   // tcpi_lost
    f("retrans", 36, 4, Raw), // tcpi_retrans (segments retransmitted, not yet acked)
    f("lastDataSentMs", 44, 4, Ms), // tcpi_last_data_sent: ms since
    f("lastDataRecvMs", 52, 4, Ms), // tcpi_last_data_recv: ms since
    f("lastAckRecvMs", 56, 4, Ms), // tcpi_last_ack_recv: ms since
    f("pmtu", 60, 4, Raw),   // tcpi_pmtu (bytes)
    f("rcvSsthresh", 64, 4, Raw), // tcpi_rcv_ssthresh (bytes)
    f("rttMs", 68, 4, UsToMs), // tcpi_rtt (smoothed)
    f("rttVarMs", 72, 4, UsToMs), // tcpi_rttvar
    f("ssthresh", 76, 4, Raw), // tcpi_snd_ssthresh (segments; 2147483647 = infinite)
    f("cwnd", 80, 4, Raw),   // tcpi_snd_cwnd (segments)
    f("advmss", 84, 4, Raw), // tcpi_advmss (bytes)
    f("reordering", 88, 4, Raw), // tcpi_reordering
    f("rcvRttMs", 92, 4, UsToMs), // tcpi_rcv_rtt
    f("rcvSpace", 96, 4, Raw), // tcpi_rcv_space (bytes)
    f("totalRetransmits", 100, 4, Raw), // tcpi_total_retrans (104 bytes: Linux 2.6)
    f("pacingRateBytesPerSec", 104, 8, Raw), // tcpi_pacing_rate (3.15)
    f("maxPacingRateBytesPerSec", 112, 8, Raw), // tcpi_max_pacing_rate
    f("bytesAcked", 120, 8, Raw), // tcpi_bytes_acked (4.1)
    f("bytesReceived", 128, 8, Raw), // tcpi_bytes_received (4.1)
    f("segsOut", 136, 4, Raw), // tcpi_segs_out (4.2)
    f("segsIn", 140, 4, Raw), // tcpi_segs_in
    f("notSentBytes", 144, 4, Raw), // tcpi_notsent_bytes (4.6)
    f("minRttMs", 148, 4, UsToMs), // tcpi_min_rtt
    f("dataSegsIn", 152, 4, Raw), // tcpi_data_segs_in
    f("dataSegsOut", 156, 4, Raw), // tcpi_data_segs_out
    f("deliveryRateBytesPerSec", 160, 8, Raw), // tcpi_delivery_rate (4.9)
    f("busyMs", 168, 8, UsToMs), // tcpi_busy_time (4.10)
    f("rwndLimitedMs", 176, 8, UsToMs), // tcpi_rwnd_limited
    f("sndbufLimitedMs", 184, 8, UsToMs), // tcpi_sndbuf_limited
    f("delivered", 192, 4, Raw), // tcpi_delivered (4.18)
    f("deliveredCe", 196, 4, Raw), // tcpi_delivered_ce
    f("bytesSent", 200, 8, Raw), // tcpi_bytes_sent (4.19)
    f("bytesRetransmitted", 208, 8, Raw), // tcpi_bytes_retrans
    f("dsackDups", 216, 4, Raw), // tcpi_dsack_dups
    f("reorderSeen", 220, 4, Raw), // tcpi_reord_seen
    f("rcvOutOfOrderPackets", 224, 4, Raw), // tcpi_rcv_ooopack (5.4)
    f("sndWindowBytes", 228, 4, Raw), // tcpi_snd_wnd: peer's advertised window (5.4)
    f("rcvWindowBytes", 232, 4, Raw), // tcpi_rcv_wnd: our advertised window (6.2)
    f("rehash", 236, 4, Raw), // tcpi_rehash (6.2)
    f("totalRto", 240, 2, Raw), // tcpi_total_rto (6.7)
    f("totalRtoRecoveries", 242, 2, Raw), // tcpi_total_rto_recoveries (6.7)
    f("totalRtoTimeMs", 244, 4, Ms), // tcpi_total_rto_time (6.7; 248 bytes)
];

/// Slot of tcpi_notsent_bytes (checked against FIELDS in the tests).
pub const NOTSENT: usize = 35;

/// Index of a field in FIELDS (and in the decoded slots).
pub fn index_of(name: &str) -> Option<usize> {
    FIELDS.iter().position(|f| f.name == name)
}

#[inline(always)]
fn raw(bytes: &[u8], offset: usize, size: usize) -> Option<u64> {
    let b = bytes.get(offset..offset + size)?;
    Some(match size {
        1 => b[0] as u64,
        2 => u16::from_ne_bytes([b[0], b[1]]) as u64,
        4 => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as u64,
        8 => u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        _ => return None,
    })
}

/// One field by name, converted to its API unit; None when the kernel's struct is too short.
pub fn get(bytes: &[u8], name: &str) -> Option<f64> {
    let field = FIELDS.get(index_of(name)?)?;
    value(bytes, field)
}

#[inline(always)]
fn value(bytes: &[u8], field: &Field) -> Option<f64> {
    let v = raw(bytes, field.offset, field.size)? as f64;
    Some(match field.unit {
        Raw | Ms => v,
        UsToMs => v / 1e3,
    })
}

/// Writes every field into `out[i]` (FIELDS order); NaN where the kernel's struct ends earlier.
/// `out` shorter than FIELDS gets the fields that fit.
pub fn decode_into(bytes: &[u8], out: &mut [f64]) {
    // the whole struct present (the common case): a loop over a const table the compiler can
    // unroll into straight loads with no bounds checks
    if let (Some(b), Some(o)) = (bytes.get(..STRUCT_END), out.get_mut(..FIELD_TABLE.len())) {
        let b: &[u8; STRUCT_END] = match b.try_into() {
            Ok(b) => b,
            Err(_) => return,
        };
        // one straight line per field: with the index constant, offset, size and unit fold away
        macro_rules! each {
            ($($i:literal)*) => { $( o[$i] = value(b, &FIELD_TABLE[$i]).unwrap_or(f64::NAN); )* };
        }
        // the list below names every index of FIELD_TABLE: grow both together
        const _: () = assert!(FIELD_TABLE.len() == 56);
        each!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55);
        return;
    }
    for (slot, field) in out.iter_mut().zip(FIELDS) {
        *slot = value(bytes, field).unwrap_or(f64::NAN);
    }
}

/// Where the last decoded field ends.
const STRUCT_END: usize = 248;

/// ss(8)'s name for tcpi_state: the same table fds() uses for its socket dumps, so one socket
/// has one state name whichever call reports it.
pub use super::sockdiag::socket_state_name;

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// getsockopt(TCP_INFO) on Linux 6.18 x86-64, loopback client after sending 100000 bytes that
    /// the peer acked (bytes_acked = 100001: the SYN counts one). 280 bytes.
    const LINUX_6_18: &str = "010000000007aa00e01c03000000000000ba000018020000000000000000000000000000000000000000000034000000000000003400000034000000ffff0000d7ff00007000000049000000ffffff7f0d000000cbff00000300000000000000d7ff0000000000000db4182b03000000ffffffffffffffffa18601000000000000000000000000000500000003000000000000000a00000000000000030000000040d01b010000000000000000000000000000000000000000000000000000000400000000000000a0860100000000000000000000000000000000000000000000000000006c0100000001000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn the_unrolled_full_decode_equals_field_by_field() {
        let b = hex(LINUX_6_18);
        let mut out = vec![f64::NAN; FIELDS.len()];
        decode_into(&b, &mut out);
        for (i, f) in FIELDS.iter().enumerate() {
            assert_eq!(Some(out[i]), get(&b, f.name), "{}", f.name);
        }
        // the last field has the highest offset (the JS layer checks it to know all are present)
        let last = FIELDS[FIELDS.len() - 1];
        assert_eq!(last.offset + last.size, STRUCT_END);
    }

    #[test]
    fn notsent_slot_constant_matches_the_table() {
        assert_eq!(index_of("notSentBytes"), Some(NOTSENT));
    }

    #[test]
    fn offsets_match_the_kernel_struct() {
        // the last field this decoder knows ends where Linux 6.7's struct ended
        let last = FIELDS.iter().map(|f| f.offset + f.size).max().unwrap();
        assert_eq!(last, 248);
        for f in FIELDS {
            assert_eq!(f.offset % f.size, 0, "{} is naturally aligned", f.name);
        }
    }

    #[test]
    fn decodes_a_linux_6_18_capture() {
        let b = hex(LINUX_6_18);
        assert_eq!(b.len(), 280);
        assert_eq!(get(&b, "state"), Some(1.0));
        assert_eq!(socket_state_name(b[0]), "established");
        assert_eq!(get(&b, "rtoMs"), Some(204.0));
        assert_eq!(get(&b, "unacked"), Some(0.0));
        assert_eq!(get(&b, "rttMs"), Some(0.112));
        assert_eq!(get(&b, "rttVarMs"), Some(0.073));
        assert_eq!(get(&b, "ssthresh"), Some(2147483647.0));
        assert_eq!(get(&b, "cwnd"), Some(13.0));
        assert_eq!(get(&b, "bytesAcked"), Some(100001.0));
        assert_eq!(get(&b, "bytesReceived"), Some(0.0));
        assert_eq!(get(&b, "bytesSent"), Some(100000.0));
        assert_eq!(get(&b, "notSentBytes"), Some(0.0));
        assert_eq!(get(&b, "totalRetransmits"), Some(0.0));
        assert_eq!(get(&b, "sndWindowBytes"), Some(0x16c00 as f64));
        assert!(get(&b, "deliveryRateBytesPerSec").unwrap() > 0.0);
        assert_eq!(get(&b, "totalRtoTimeMs"), Some(0.0));
    }

    #[test]
    fn a_short_struct_from_an_older_kernel_gives_none_past_its_end() {
        let b = hex(LINUX_6_18);
        // Linux 2.6.x returned 104 bytes (up to tcpi_total_retrans); 4.6-era kernels 160
        let old = &b[..104];
        assert_eq!(get(old, "cwnd"), Some(13.0));
        assert_eq!(get(old, "totalRetransmits"), Some(0.0));
        assert_eq!(get(old, "pacingRateBytesPerSec"), None);
        assert_eq!(get(old, "bytesAcked"), None);
        let mid = &b[..160];
        assert_eq!(get(mid, "notSentBytes"), Some(0.0));
        assert_eq!(get(mid, "deliveryRateBytesPerSec"), None);
        assert_eq!(get(mid, "busyMs"), None);

        let mut out = vec![0.0; FIELDS.len()];
        decode_into(old, &mut out);
        let cwnd = index_of("cwnd").unwrap();
        let busy = index_of("busyMs").unwrap();
        assert_eq!(out[cwnd], 13.0);
        assert!(out[busy].is_nan());
        // nothing at all (a zero-length answer) decodes to all-NaN, no panic
        decode_into(&[], &mut out);
        assert!(out.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn a_short_output_buffer_is_not_overrun() {
        let b = hex(LINUX_6_18);
        let mut out = [0.0; 3];
        decode_into(&b, &mut out);
        assert_eq!(out, [1.0, 0.0, 0.0]);
    }
}
