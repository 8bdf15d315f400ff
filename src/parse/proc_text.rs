//! /proc/<pid>[/task/<tid>]/{stat,statm,io,schedstat,status}.

/// The fields of `stat` kernelscope uses (proc(5) numbering in comments).
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    /// (2) comm, the thread name, without the parentheses.
    pub comm: String,
    /// (3) one-letter state: R S D T t X Z P I.
    pub state: char,
    /// (14) utime in clock ticks.
    pub utime: u64,
    /// (15) stime in clock ticks.
    pub stime: u64,
    /// (20) num_threads.
    pub num_threads: u64,
    /// (22) starttime in clock ticks after boot.
    pub starttime: u64,
}

/// Parses `stat`. comm may hold spaces and ')' so the fields start after the *last* ')'.
pub fn parse_stat(text: &[u8]) -> Option<Stat> {
    let open = text.iter().position(|&b| b == b'(')?;
    let close = text.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let comm = String::from_utf8_lossy(&text[open + 1..close]).into_owned();
    let rest = std::str::from_utf8(text.get(close + 1..)?).ok()?;
    // rest starts with " S ppid ..." : index 0 here is field (3).
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let mut nth = |skip: usize| -> Option<u64> { fields.nth(skip)?.parse().ok() };
    // after (3): (4)..(13) are 10 fields, then (14)
    let utime = nth(10)?;
    let stime = nth(0)?;
    // (16)..(19) then (20)
    let num_threads = nth(4)?;
    // (21) then (22)
    let starttime = nth(1)?;
    Some(Stat {
        comm,
        state,
        utime,
        stime,
        num_threads,
        starttime,
    })
}

/// Parses the first `N` whitespace-separated unsigned numbers (statm, schedstat).
pub fn parse_numbers<const N: usize>(text: &[u8]) -> Option<[u64; N]> {
    let s = std::str::from_utf8(text).ok()?;
    let mut out = [0u64; N];
    let mut it = s.split_ascii_whitespace();
    for slot in out.iter_mut() {
        *slot = it.next()?.parse().ok()?;
    }
    Some(out)
}

/// Finds `key` at the start of a line in "key: value" text (status, io) and parses the first
/// number after it. None when the key is absent (older kernel, restricted /proc).
pub fn field(text: &[u8], key: &str) -> Option<u64> {
    let key = key.as_bytes();
    let mut start = 0;
    while start < text.len() {
        let end = text[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |p| start + p);
        let line = &text[start..end];
        if line.len() > key.len() && line.starts_with(key) && line[key.len()] == b':' {
            let value = std::str::from_utf8(&line[key.len() + 1..]).ok()?;
            return value.split_ascii_whitespace().next()?.parse().ok();
        }
        start = end + 1;
    }
    None
}

/// /proc/self/io, every field optional (the file is absent without CONFIG_TASK_IO_ACCOUNTING).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Io {
    pub rchar: Option<u64>,
    pub wchar: Option<u64>,
    pub syscr: Option<u64>,
    pub syscw: Option<u64>,
    pub read_bytes: Option<u64>,
    pub write_bytes: Option<u64>,
    pub cancelled_write_bytes: Option<u64>,
}

pub fn parse_io(text: &[u8]) -> Io {
    Io {
        rchar: field(text, "rchar"),
        wchar: field(text, "wchar"),
        syscr: field(text, "syscr"),
        syscw: field(text, "syscw"),
        read_bytes: field(text, "read_bytes"),
        write_bytes: field(text, "write_bytes"),
        cancelled_write_bytes: field(text, "cancelled_write_bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parens_in_comm() {
        let text = b"4242 (we ird) (x)) S 1 4242 4242 0 -1 4194560 1200 0 3 0 150 37 0 0 20 0 11 0 98765 1100000000 12000 18446744073709551615 1 1 0 0 0 0 0 4096 134234626 0 0 0 17 1 0 0 0 0 0\n";
        let s = parse_stat(text).unwrap();
        assert_eq!(s.comm, "we ird) (x)");
        assert_eq!(s.state, 'S');
        assert_eq!(s.utime, 150);
        assert_eq!(s.stime, 37);
        assert_eq!(s.num_threads, 11);
        assert_eq!(s.starttime, 98765);
    }

    #[test]
    fn stat_real_capture() {
        // /proc/self/task/<tid>/stat of a Node 20 libuv worker, Linux 6.18
        let text = b"1669 (node) S 1500 1662 1500 34816 1662 1077936192 2 0 0 0 0 0 0 0 20 0 11 0 12611 1283862528 12386 18446744073709551615 1 1 0 0 0 0 0 16781312 134234626 0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let s = parse_stat(text).unwrap();
        assert_eq!(
            (s.comm.as_str(), s.state, s.num_threads, s.starttime),
            ("node", 'S', 11, 12611)
        );
    }

    #[test]
    fn truncated_stat_is_none() {
        assert_eq!(parse_stat(b"12 (node) S 1 2 3"), None);
        assert_eq!(parse_stat(b""), None);
        assert_eq!(parse_stat(b"12 )node( S"), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(
            parse_numbers::<3>(b"313371 12345 6789 3 0 0 0\n"),
            Some([313371, 12345, 6789])
        );
        assert_eq!(
            parse_numbers::<3>(b"1200467520 354123 1791\n"),
            Some([1200467520, 354123, 1791])
        );
        assert_eq!(parse_numbers::<3>(b"1 2\n"), None);
    }

    #[test]
    fn io_full_and_partial() {
        let text = b"rchar: 4398517\nwchar: 1402\nsyscr: 1093\nsyscw: 27\nread_bytes: 0\nwrite_bytes: 4096\ncancelled_write_bytes: 0\n";
        let io = parse_io(text);
        assert_eq!(io.syscr, Some(1093));
        assert_eq!(io.write_bytes, Some(4096));
        assert_eq!(io.cancelled_write_bytes, Some(0));
        // an older or trimmed file: missing keys are None, not 0
        let io = parse_io(b"rchar: 10\nwchar: 20\n");
        assert_eq!((io.rchar, io.syscr, io.read_bytes), (Some(10), None, None));
    }

    #[test]
    fn status_keys_match_whole_names() {
        let text = b"Name:\tnode\nVmHWM:\t  51200 kB\nvoluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t7\n";
        assert_eq!(field(text, "voluntary_ctxt_switches"), Some(120));
        assert_eq!(field(text, "nonvoluntary_ctxt_switches"), Some(7));
        assert_eq!(field(text, "VmHWM"), Some(51200));
        assert_eq!(field(text, "VmRSS"), None);
    }
}
