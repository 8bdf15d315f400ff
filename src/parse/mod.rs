//! Pure parsers of /proc text: bytes in, plain structs out. No I/O, no napi types.

pub mod proc_text;
pub mod syscall;
pub mod tcp_info;
#[rustfmt::skip]
pub mod syscall_names;
pub mod fdinfo;
pub mod maps;
pub mod sockdiag;

/// "0x1f" (or "1f") as a number. The sampler parses a syscall line per watched thread per
/// sample and fds() an fdinfo per descriptor, so this is a byte loop (`trim_start_matches`'s
/// pattern search was a tenth of the sampler's CPU).
pub fn hex(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let digits = b.strip_prefix(b"0x").unwrap_or(b);
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        let d = (c as char).to_digit(16)?;
        v = v.checked_mul(16)?.checked_add(u64::from(d))?;
    }
    Some(v)
}
