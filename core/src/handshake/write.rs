//! Writing HTTP heads into caller-owned buffers.
//!
//! Every writer in this module works the same way: it keeps counting after the buffer is full,
//! so a failed write can say exactly how many bytes it needed
//! ([`WriteError::BufferTooSmall`]), and the caller can retry once with a large enough buffer.
//! Caller-supplied header fields are validated before they are written, which is what makes
//! header injection impossible.

use super::headers::{is_field_value, is_token};
use super::WriteError;

/// A cursor over a caller's output buffer that remembers the length it would have needed.
pub(crate) struct Writer<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl<'o> Writer<'o> {
    pub(crate) fn new(out: &'o mut [u8]) -> Self {
        Writer { out, len: 0 }
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        if let Some(dst) = self.out.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
        }
        self.len = end;
    }

    pub(crate) fn put_str(&mut self, s: &str) {
        self.put(s.as_bytes());
    }

    /// Writes `n` in decimal without going through `core::fmt`, which is heavy on small targets.
    pub(crate) fn put_decimal(&mut self, mut n: usize) {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            if let Some(d) = digits.get_mut(start) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || start == 0 {
                break;
            }
        }
        self.put(digits.get(start..).unwrap_or(&[]));
    }

    /// Writes `name: value\r\n` without validation; for fields this crate composes itself.
    pub(crate) fn put_header(&mut self, name: &str, value: &[u8]) {
        self.put(name.as_bytes());
        self.put(b": ");
        self.put(value);
        self.put(b"\r\n");
    }

    /// Ends the head and reports the number of bytes written, or how many were needed.
    pub(crate) fn finish(self) -> Result<usize, WriteError> {
        if self.len <= self.out.len() {
            Ok(self.len)
        } else {
            Err(WriteError::BufferTooSmall { needed: self.len })
        }
    }
}

/// Validates and writes caller-supplied header fields.
///
/// A name must be an RFC 7230 token and a value must be `field-value` characters, so neither can
/// contain CR or LF. Names in `reserved` (compared ASCII case-insensitively) are refused because
/// the handshake writes those fields itself and a second copy would contradict it.
pub(crate) fn put_extra_headers(
    w: &mut Writer<'_>,
    headers: &[(&str, &str)],
    reserved: &[&str],
) -> Result<(), WriteError> {
    for (index, &(name, value)) in headers.iter().enumerate() {
        if !is_token(name.as_bytes()) {
            return Err(WriteError::InvalidHeaderName { index });
        }
        if reserved.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            return Err(WriteError::ReservedHeader { index });
        }
        if !is_field_value(value.as_bytes()) {
            return Err(WriteError::InvalidHeaderValue { index });
        }
        w.put_header(name, value.as_bytes());
    }
    Ok(())
}

/// A reason phrase for the status line. RFC 7230 §3.1.2 says clients should ignore it, so an
/// unknown code gets a generic phrase for its class rather than an error.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    const KNOWN: &[(u16, &str)] = &[
        (101, "Switching Protocols"),
        (200, "OK"),
        (204, "No Content"),
        (301, "Moved Permanently"),
        (302, "Found"),
        (303, "See Other"),
        (307, "Temporary Redirect"),
        (308, "Permanent Redirect"),
        (400, "Bad Request"),
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (405, "Method Not Allowed"),
        (408, "Request Timeout"),
        (409, "Conflict"),
        (410, "Gone"),
        (426, "Upgrade Required"),
        (429, "Too Many Requests"),
        (431, "Request Header Fields Too Large"),
        (500, "Internal Server Error"),
        (501, "Not Implemented"),
        (502, "Bad Gateway"),
        (503, "Service Unavailable"),
        (504, "Gateway Timeout"),
    ];
    if let Some(&(_, phrase)) = KNOWN.iter().find(|&&(code, _)| code == status) {
        return phrase;
    }
    match status {
        200..=299 => "Success",
        300..=399 => "Redirection",
        400..=499 => "Client Error",
        _ => "Server Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_size_it_needed() {
        let mut buf = [0u8; 4];
        let mut w = Writer::new(&mut buf);
        w.put(b"abc");
        w.put(b"def");
        w.put(b"g");
        assert_eq!(w.finish(), Err(WriteError::BufferTooSmall { needed: 7 }));
        let mut w = Writer::new(&mut buf);
        w.put(b"abcd");
        assert_eq!(w.finish(), Ok(4));
        assert_eq!(&buf, b"abcd");
    }

    #[test]
    fn decimal_covers_the_whole_range() {
        for (n, text) in [
            (0usize, "0"),
            (7, "7"),
            (65535, "65535"),
            (
                usize::MAX,
                if usize::BITS == 64 {
                    "18446744073709551615"
                } else {
                    "4294967295"
                },
            ),
        ] {
            let mut buf = [0u8; 32];
            let mut w = Writer::new(&mut buf);
            w.put_decimal(n);
            let len = w.finish().unwrap();
            assert_eq!(&buf[..len], text.as_bytes());
        }
    }

    #[test]
    fn extra_headers_cannot_inject_lines() {
        let mut buf = [0u8; 128];
        for (headers, err) in [
            (
                &[("X-Ok", "1"), ("Bad Name", "v")][..],
                WriteError::InvalidHeaderName { index: 1 },
            ),
            (
                &[("X-A", "v\r\nEvil: 1")],
                WriteError::InvalidHeaderValue { index: 0 },
            ),
            (
                &[("X-A", "v\nEvil: 1")],
                WriteError::InvalidHeaderValue { index: 0 },
            ),
            (
                &[("X-A\r\nEvil", "1")],
                WriteError::InvalidHeaderName { index: 0 },
            ),
            (&[("", "1")], WriteError::InvalidHeaderName { index: 0 }),
            (
                &[("upgrade", "h2c")],
                WriteError::ReservedHeader { index: 0 },
            ),
        ] {
            let mut w = Writer::new(&mut buf);
            assert_eq!(put_extra_headers(&mut w, headers, &["Upgrade"]), Err(err));
        }
    }
}
