//! /proc/<pid>/maps: the address ranges of a process, and which of them hold code.

/// One mapping: `[start, end)` and whether it is executable (the `x` of its permissions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub exec: bool,
}

/// Every mapping of a maps text, in the kernel's order (ascending addresses). Lines that do
/// not parse are skipped.
pub fn parse_maps(text: &[u8]) -> Vec<Mapping> {
    text.split(|&b| b == b'\n')
        .filter_map(|line| {
            let line = std::str::from_utf8(line).ok()?;
            let mut f = line.split_ascii_whitespace();
            let (start, end) = f.next()?.split_once('-')?;
            let perms = f.next()?;
            Some(Mapping {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                exec: perms.as_bytes().get(2) == Some(&b'x'),
            })
        })
        .collect()
}

/// The mapping holding `addr`, from mappings in ascending order.
pub fn mapping_of(maps: &[Mapping], addr: u64) -> Option<&Mapping> {
    let i = maps.partition_point(|m| m.end <= addr);
    maps.get(i).filter(|m| m.start <= addr)
}

/// Whether `addr` points into code.
pub fn is_code(maps: &[Mapping], addr: u64) -> bool {
    mapping_of(maps, addr).is_some_and(|m| m.exec)
}

#[cfg(test)]
mod tests {
    use super::*;

    // lines of a Node 20 process's maps (Linux 6.18, x86-64): the binary's code, a thread stack
    // with its guard page, glibc, and a path with spaces
    const MAPS: &[u8] = b"00400000-00c00000 r--p 00000000 00:1e 123 /usr/local/bin/node
00c00000-01a00000 r-xp 00800000 00:1e 123 /usr/local/bin/node
7f666dbbd000-7f666dbbe000 ---p 00000000 00:00 0
7f666dbbe000-7f666e3be000 rw-p 00000000 00:00 0
7f6695400000-7f6695428000 r--p 00000000 00:1e 456 /usr/lib/x86_64-linux-gnu/libc.so.6
7f6695428000-7f669559d000 r-xp 00028000 00:1e 456 /usr/lib/x86_64-linux-gnu/libc.so.6
7fff07872000-7fff07893000 rw-p 00000000 00:00 0                          [stack]
7fff07ff0000-7fff07ff4000 r--p 00000000 00:00 0 /tmp/a b (deleted)
garbage
";

    #[test]
    fn ranges_and_code() {
        let m = parse_maps(MAPS);
        assert_eq!(m.len(), 8);
        assert_eq!(
            m[1],
            Mapping {
                start: 0xc00000,
                end: 0x1a00000,
                exec: true
            }
        );
        assert!(!m[3].exec);
        // a return address into node's code (libuv's worker loop) and one into libc
        assert!(is_code(&m, 0x18a7b40));
        assert!(is_code(&m, 0x7f66954471f5));
        // a stack pointer, the guard page, a hole, the ends of a range
        assert_eq!(
            mapping_of(&m, 0x7f666e3bdcb0).map(|x| x.end),
            Some(0x7f666e3be000)
        );
        assert!(!is_code(&m, 0x7f666e3bdcb0));
        assert!(!is_code(&m, 0x7f666dbbd800));
        assert!(mapping_of(&m, 0x500000000).is_none());
        assert!(is_code(&m, 0xc00000));
        assert!(!is_code(&m, 0x1a00000));
        assert!(parse_maps(b"").is_empty());
    }
}
