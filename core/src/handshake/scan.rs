//! Incremental search for the end of an HTTP head.
//!
//! A handshake arrives in pieces, and the caller re-offers its growing buffer after every read.
//! Running `httparse` on each attempt would re-read the whole head every time: quadratic in the
//! number of reads, and a peer dribbling one byte per packet controls how many there are. The
//! scanner instead remembers where it stopped and looks at each byte once; the head is parsed
//! once, when it is complete.
//!
//! The scanner also refuses, as soon as they arrive, bytes that can never appear in an HTTP/1.1
//! head (control characters other than HTAB, and CR not followed by LF). A TLS `ClientHello`
//! sent to a plain-text port, or a binary frame where a response was expected, therefore fails
//! at its first byte instead of filling the buffer up to the size limit.

/// What the scanner learned from the bytes offered so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// No end of head yet; more bytes are needed.
    Partial,
    /// The head ends here (just after its blank line).
    Complete(usize),
    /// `limit` bytes were scanned without finding the end of the head.
    TooLarge,
    /// A byte that no HTTP/1.1 head may contain.
    InvalidByte,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Scanning,
    Complete(usize),
    Invalid(usize),
}

/// Remembers how far the search for the blank line that ends a head has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HeadScanner {
    /// Bytes already examined; the next call resumes here.
    scanned: usize,
    /// Nothing but an optional CR has been seen since the last LF (or the start).
    line_empty: bool,
    /// The previous byte was a CR, so this one must be LF.
    pending_cr: bool,
    /// A non-empty line has been seen. RFC 7230 §3.5 lets a peer send empty lines before the
    /// start line; they do not end the head, just as httparse skips them.
    seen_line: bool,
    state: State,
}

impl HeadScanner {
    pub(crate) const fn new() -> Self {
        HeadScanner {
            scanned: 0,
            line_empty: true,
            pending_cr: false,
            seen_line: false,
            state: State::Scanning,
        }
    }

    /// Looks for the end of the head in `buf`, examining only bytes not seen before, and never
    /// more than `limit` bytes in total.
    ///
    /// `buf` must start with the same bytes as on the previous call. If it is shorter than what
    /// was already examined, the caller has started over with a different buffer, and so does
    /// the scanner.
    pub(crate) fn scan(&mut self, buf: &[u8], limit: usize) -> Scan {
        match self.state {
            State::Complete(end) if end <= buf.len() => return Scan::Complete(end),
            State::Invalid(at) if at < buf.len() => return Scan::InvalidByte,
            State::Scanning if self.scanned <= buf.len() => {}
            _ => *self = Self::new(),
        }
        let stop = buf.len().min(limit);
        let start = self.scanned;
        let fresh = buf.get(start..stop).unwrap_or(&[]);
        for (offset, &b) in fresh.iter().enumerate() {
            let at = start + offset;
            if self.pending_cr && b != b'\n' {
                self.state = State::Invalid(at);
                return Scan::InvalidByte;
            }
            match b {
                b'\r' => self.pending_cr = true,
                b'\n' => {
                    self.pending_cr = false;
                    if self.line_empty && self.seen_line {
                        let end = at + 1;
                        self.scanned = end;
                        self.state = State::Complete(end);
                        return Scan::Complete(end);
                    }
                    self.line_empty = true;
                }
                b'\t' | 0x20..=0x7e | 0x80..=0xff => {
                    self.line_empty = false;
                    self.seen_line = true;
                }
                _ => {
                    self.state = State::Invalid(at);
                    return Scan::InvalidByte;
                }
            }
        }
        self.scanned = self.scanned.max(stop);
        if stop >= limit {
            Scan::TooLarge
        } else {
            Scan::Partial
        }
    }

    /// How many bytes have been examined so far (for tests of the no-rescan guarantee).
    #[cfg(test)]
    pub(crate) fn scanned(&self) -> usize {
        self.scanned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(buf: &[u8], limit: usize) -> Scan {
        HeadScanner::new().scan(buf, limit)
    }

    fn bytewise(buf: &[u8], limit: usize) -> Scan {
        let mut s = HeadScanner::new();
        let mut last = s.scan(&[], limit);
        for n in 1..=buf.len() {
            last = s.scan(&buf[..n], limit);
            if last != Scan::Partial {
                break;
            }
        }
        last
    }

    #[test]
    fn finds_crlf_crlf() {
        assert_eq!(
            whole(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest", 100),
            Scan::Complete(24)
        );
    }

    #[test]
    fn finds_bare_lf_lf() {
        assert_eq!(
            whole(b"GET / HTTP/1.1\nA: b\n\nrest", 100),
            Scan::Complete(21)
        );
        assert_eq!(
            whole(b"GET / HTTP/1.1\r\nA: b\n\r\n", 100),
            Scan::Complete(23)
        );
    }

    #[test]
    fn leading_empty_lines_do_not_end_the_head() {
        assert_eq!(
            whole(b"\r\n\n\r\nGET / HTTP/1.1\r\n\r\n", 100),
            Scan::Complete(23)
        );
        assert_eq!(whole(b"\r\n\r\n", 100), Scan::Partial);
    }

    #[test]
    fn refuses_control_bytes_and_bare_cr_at_once() {
        assert_eq!(whole(b"\x16\x03\x01\x02\x00", 100), Scan::InvalidByte);
        assert_eq!(whole(b"GET / HTTP/1.1\rX", 100), Scan::InvalidByte);
        assert_eq!(whole(b"GET /\0", 100), Scan::InvalidByte);
        assert_eq!(whole(b"GET /\x7f", 100), Scan::InvalidByte);
        // Tabs and obs-text are legal in field values.
        assert_eq!(whole(b"A\tb\xff\r\n\r\n", 100), Scan::Complete(8));
    }

    #[test]
    fn gives_up_at_the_limit() {
        let buf = [b'a'; 64];
        assert_eq!(whole(&buf, 10), Scan::TooLarge);
        assert_eq!(whole(&buf[..9], 10), Scan::Partial);
        assert_eq!(whole(&buf[..10], 10), Scan::TooLarge);
        assert_eq!(whole(b"", 0), Scan::TooLarge);
        // A head that ends exactly at the limit fits.
        assert_eq!(whole(b"a\r\n\r\n", 5), Scan::Complete(5));
        assert_eq!(whole(b"a\r\n\r\n", 4), Scan::TooLarge);
    }

    #[test]
    fn bytewise_delivery_reaches_the_same_verdict() {
        for (buf, limit) in [
            (&b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest"[..], 100),
            (b"\n\nX\n\n", 100),
            (b"GET\r\x00", 100),
            (b"aaaaaaaaaaaaaaaaaaaa", 8),
            (b"abc", 100),
        ] {
            assert_eq!(bytewise(buf, limit), whole(buf, limit), "{buf:?}");
        }
    }

    #[test]
    fn resumes_where_it_stopped() {
        let buf = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut s = HeadScanner::new();
        assert_eq!(s.scan(&buf[..10], 100), Scan::Partial);
        assert_eq!(s.scanned(), 10);
        assert_eq!(s.scan(&buf[..20], 100), Scan::Partial);
        assert_eq!(s.scanned(), 20);
        assert_eq!(s.scan(buf, 100), Scan::Complete(buf.len()));
        // Asking again is idempotent, even with more bytes behind the head.
        assert_eq!(
            s.scan(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x81", 100),
            Scan::Complete(buf.len())
        );
    }

    #[test]
    fn a_verdict_is_stable_across_calls() {
        let mut s = HeadScanner::new();
        assert_eq!(s.scan(b"ab\0cd", 100), Scan::InvalidByte);
        assert_eq!(s.scan(b"ab\0cdef", 100), Scan::InvalidByte);
    }

    #[test]
    fn a_shrunk_buffer_restarts_the_scan() {
        let mut s = HeadScanner::new();
        assert_eq!(s.scan(b"garbage without end", 100), Scan::Partial);
        assert_eq!(s.scan(b"A\r\n\r\n", 100), Scan::Complete(5));
        assert_eq!(s.scan(b"A\r", 100), Scan::Partial);
    }
}
