//! An inventory's entries as JSON text, byte for byte what `JSON.stringify()` gives of the
//! entries lib/probes/fds.js unpacks from the same table (without fdinfo): `kernelscope
//! inspect --json` writes it as it is. At 10,000 descriptors building the entries and
//! serializing them took ~45 ms of CPU of a ~250 ms command; this takes a few.
//!
//! It reads the packed table the way lib/probes/fds.js `unpack` does (the same channels, the
//! same bits) and writes the keys in the order `unpack` builds them; `__test__/cli-json.test.js`
//! compares the two texts for equality on tables with odd names, sockets and errors.

use std::io::Write as _;

use crate::layout::{fds_bit as bit, fds_col as col, fds_socket as sock, Strings, STR_NULL};
use crate::parse::fdinfo::TYPE_NAMES;

use super::pack::Packed;

/// Reads a string channel in order, as lib/layout.js `Strings` does (lengths in UTF-16 units).
struct Reader<'a> {
    text: &'a str,
    lens: &'a [i32],
    at: usize,
    i: usize,
}

impl<'a> Reader<'a> {
    fn new(s: &'a Strings) -> Reader<'a> {
        Reader {
            text: &s.text,
            lens: &s.lens,
            at: 0,
            i: 0,
        }
    }

    /// The next string (None: a null); Err when the channel ends early or a length does not
    /// fall on a character boundary (the addon and its reader disagree: a bug).
    fn next(&mut self) -> Result<Option<&'a str>, &'static str> {
        let n = *self
            .lens
            .get(self.i)
            .ok_or("a string channel ended early")?;
        self.i += 1;
        if n == STR_NULL {
            return Ok(None);
        }
        let units = usize::try_from(n).map_err(|_| "a negative string length")?;
        let rest = &self.text[self.at..];
        // ASCII: a unit a byte
        let end = if rest.len() >= units && rest.as_bytes()[..units].is_ascii() {
            units
        } else {
            let mut left = units;
            let mut end = 0;
            for c in rest.chars() {
                if left == 0 {
                    break;
                }
                left = left
                    .checked_sub(c.len_utf16())
                    .ok_or("a string length inside a character")?;
                end += c.len_utf8();
            }
            if left != 0 {
                return Err("a string channel ended early");
            }
            end
        };
        let s = &rest[..end];
        self.at += end;
        Ok(Some(s))
    }

    fn done(&self) -> bool {
        self.i == self.lens.len()
    }
}

/// `s` as JSON.stringify() writes a string: `"` and `\` escaped, \b \f \n \r \t, other
/// characters below U+0020 as \u00xx (lowercase hex); everything else as it is (valid UTF-8
/// here, so no lone surrogates).
fn string(out: &mut Vec<u8>, s: Option<&str>) {
    let Some(s) = s else {
        out.extend_from_slice(b"null");
        return;
    };
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[from..i]);
        from = i + 1;
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 15)]);
        } else {
            out.extend_from_slice(short);
        }
    }
    out.extend_from_slice(&bytes[from..]);
    out.push(b'"');
}

/// A packed number as JSON.stringify() writes the value `unpack` makes of it: NaN is null
/// (lib/layout.js orNull); the columns hold integers (below 2^64, so below 1e21, where JS
/// writes every digit as Rust's shortest-digits Display does).
fn number(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        out.extend_from_slice(b"null");
    } else if v.fract() == 0.0 && v.abs() < 9.0e15 {
        // writing to a Vec cannot fail
        let _ = write!(out, "{}", v as i64);
    } else {
        out.extend_from_slice(format!("{v}").as_bytes());
    }
}

/// The entries of `p` as a JSON array; Err for a table with fdinfo details (not written here:
/// the caller unpacks those) or one whose channels do not match its bits (a bug).
pub(crate) fn entries_json(p: &Packed) -> Result<Vec<u8>, &'static str> {
    let mut text = Reader::new(&p.text);
    let mut extra = Reader::new(&p.extra);
    let n = p.len();
    let mut out = Vec::with_capacity(n * 224 + 2);
    out.push(b'[');
    let mut socket: [Option<&str>; sock::LEN] = [None; sock::LEN];
    for i in 0..n {
        let row = &p.nums[i * col::LEN..(i + 1) * col::LEN];
        let bits = row[col::BITS] as u32;
        if bits & bit::FDINFO != 0 {
            return Err("fdinfo details are not written as JSON here");
        }
        let target = text.next()?;
        let mut error = None;
        if bits & bit::ERROR != 0 {
            error = text.next()?;
        }
        if bits & bit::LATE_ERROR != 0 {
            error = extra.next()?;
        }
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"fd\":");
        number(&mut out, row[col::FD]);
        out.extend_from_slice(b",\"type\":");
        let t = row[col::TYPE];
        let name = (t >= 0.0)
            .then(|| TYPE_NAMES.get(t as usize))
            .flatten()
            .copied()
            .unwrap_or("unknown");
        string(&mut out, Some(name));
        out.extend_from_slice(b",\"target\":");
        string(&mut out, target);
        out.extend_from_slice(b",\"inode\":");
        number(&mut out, row[col::INODE]);
        out.extend_from_slice(b",\"socket\":");
        if bits & bit::SOCKET != 0 {
            for s in socket.iter_mut() {
                *s = extra.next()?;
            }
            out.extend_from_slice(b"{\"family\":");
            string(&mut out, socket[sock::FAMILY]);
            out.extend_from_slice(b",\"protocol\":");
            string(&mut out, socket[sock::PROTOCOL]);
            out.extend_from_slice(b",\"state\":");
            string(&mut out, socket[sock::STATE]);
            out.extend_from_slice(b",\"localAddress\":");
            string(&mut out, socket[sock::LOCAL_ADDRESS]);
            out.extend_from_slice(b",\"localPort\":");
            number(&mut out, row[col::LOCAL_PORT]);
            out.extend_from_slice(b",\"remoteAddress\":");
            string(&mut out, socket[sock::REMOTE_ADDRESS]);
            out.extend_from_slice(b",\"remotePort\":");
            number(&mut out, row[col::REMOTE_PORT]);
            out.extend_from_slice(b",\"path\":");
            string(&mut out, socket[sock::PATH]);
            out.extend_from_slice(b",\"sendQueueBytes\":");
            number(&mut out, row[col::SEND_Q]);
            out.extend_from_slice(b",\"recvQueueBytes\":");
            number(&mut out, row[col::RECV_Q]);
            out.push(b'}');
        } else {
            out.extend_from_slice(b"null");
        }
        out.extend_from_slice(b",\"socketError\":");
        let socket_error = if bits & bit::SOCKET_ERROR != 0 {
            extra.next()?
        } else {
            None
        };
        string(&mut out, socket_error);
        out.extend_from_slice(
            b",\"position\":null,\"flags\":null,\"epoll\":null,\"eventfd\":null,\"timerfd\":null,\"inotify\":null,\"error\":",
        );
        string(&mut out, error);
        out.push(b'}');
    }
    if !text.done() || !extra.done() {
        return Err("the inventory has strings left over");
    }
    out.push(b']');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        let mut out = Vec::new();
        string(&mut out, Some(x));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_as_json_stringify() {
        assert_eq!(s("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(s("\u{0}\u{1f}\u{7f}"), "\"\\u0000\\u001f\u{7f}\"");
        assert_eq!(s("é\u{2028}\u{fffd}😀"), "\"é\u{2028}\u{fffd}😀\"");
    }

    #[test]
    fn numbers_as_js() {
        let w = |v: f64| {
            let mut out = Vec::new();
            number(&mut out, v);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(w(f64::NAN), "null");
        assert_eq!(w(0.0), "0");
        assert_eq!(w(1234567.0), "1234567");
        // JS: String(2 ** 64) === '18446744073709552000'
        assert_eq!(w(18446744073709551616.0), "18446744073709552000");
        assert_eq!(w(9007199254740993.0), "9007199254740992");
    }

    #[test]
    fn reader_counts_utf16_units() {
        let mut ch = Strings::default();
        ch.push(Some("a😀b"));
        ch.push(None);
        ch.push(Some("é"));
        let mut r = Reader::new(&ch);
        assert_eq!(r.next(), Ok(Some("a😀b")));
        assert_eq!(r.next(), Ok(None));
        assert_eq!(r.next(), Ok(Some("é")));
        assert!(r.done());
        assert!(r.next().is_err());
    }
}
