//! The syntax check of a response head, for the client side (RFC 7230 §3.1.2, §3.2).
//!
//! The client's [`HeadScanner`](super::scan::HeadScanner) has already found the end of the head
//! and refused every byte that no head may contain (controls other than HTAB, DEL, a CR without
//! its LF). What is left to check is the shape: a status line `HTTP/1.x NNN reason` and header
//! lines `name: value` whose names are tokens. The fields themselves are then read lazily by
//! [`Headers`](super::Headers), which needs no array of parsed headers on the stack.
//!
//! This replaces a general HTTP parser on the client side only: a 101 response is a dozen short
//! lines, and on a microcontroller the general parser's lookup tables and code cost more flash
//! than the rest of the handshake's checks.

use super::headers::{is_token, split_line};
use super::SyntaxError;

/// The parts of a status line that the client acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StatusLine {
    /// `x` of `HTTP/1.x`: 0 or 1.
    pub(crate) minor: u8,
    /// The three-digit status code.
    pub(crate) code: u16,
}

/// Why a response head was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// The head is not HTTP/1.x syntax.
    Syntax(SyntaxError),
    /// More header fields than the caller allows.
    TooManyHeaders,
}

/// Checks a complete response head (up to and including its blank line, as the scanner found
/// it) and returns its status line. Empty lines before the status line are skipped, as RFC 7230
/// §3.5 allows. Obsolete line folding (a line starting with whitespace) is refused as a bad
/// header name, as it is in a request.
pub(crate) fn check_response(head: &[u8], max_headers: usize) -> Result<StatusLine, HeadError> {
    let syntax = |e| Err(HeadError::Syntax(e));
    let mut rest = head;
    let mut start = &[][..];
    while let Some((line, after)) = split_line(rest) {
        rest = after;
        if !line.is_empty() {
            start = line;
            break;
        }
    }
    // status-line = HTTP-version SP status-code SP reason-phrase; the reason may be empty, and
    // some servers leave out the space before it too.
    let minor = match start {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor @ (b'0' | b'1'), ..] => minor - b'0',
        _ => return syntax(SyntaxError::Version),
    };
    let code = match start.get(8..) {
        Some(
            [b' ', a @ b'1'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9']
            | [b' ', a @ b'1'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9', b' ', ..],
        ) => [a, b, c]
            .iter()
            .fold(0u16, |n, &&d| n * 10 + u16::from(d - b'0')),
        _ => return syntax(SyntaxError::StartLine),
    };
    let mut fields = 0usize;
    while let Some((line, after)) = split_line(rest) {
        rest = after;
        if line.is_empty() {
            break; // the blank line that ends the head
        }
        let colon = line.iter().position(|&b| b == b':').unwrap_or(0);
        if !is_token(line.get(..colon).unwrap_or(&[])) {
            return syntax(SyntaxError::HeaderName);
        }
        fields += 1;
        if fields > max_headers {
            return Err(HeadError::TooManyHeaders);
        }
    }
    Ok(StatusLine { minor, code })
}

#[cfg(test)]
mod tests {
    use super::{check_response, HeadError, StatusLine};
    use crate::handshake::SyntaxError;

    fn check(head: &str) -> Result<StatusLine, HeadError> {
        check_response(head.as_bytes(), 4)
    }

    #[test]
    fn status_line_and_fields() {
        let ok = |minor, code| Ok(StatusLine { minor, code });
        assert_eq!(
            check("HTTP/1.1 101 Switching Protocols\r\nA: b\r\n\r\n"),
            ok(1, 101)
        );
        assert_eq!(check("HTTP/1.0 404 Not Found\r\n\r\n"), ok(0, 404));
        assert_eq!(check("\r\n\nHTTP/1.1 101\r\n\r\n"), ok(1, 101));
        assert_eq!(check("HTTP/1.1 101 \n\n"), ok(1, 101));
        assert_eq!(
            check("HTTP/1.1 599 x\r\nA:\r\nB:  c d \r\n\r\n"),
            ok(1, 599)
        );
    }

    #[test]
    fn malformed_heads_say_where() {
        let err = |e| Err(HeadError::Syntax(e));
        assert_eq!(
            check("SSH-2.0-OpenSSH_9.6\r\n\r\n"),
            err(SyntaxError::Version)
        );
        assert_eq!(check("HTTP/2 101\r\n\r\n"), err(SyntaxError::Version));
        assert_eq!(check("HTTP/1.2 101\r\n\r\n"), err(SyntaxError::Version));
        assert_eq!(check("\r\n\r\n"), err(SyntaxError::Version));
        for bad in [
            "HTTP/1.1 1o1 x\r\n\r\n",
            "HTTP/1.1 10\r\n\r\n",
            "HTTP/1.1 1010\r\n\r\n",
            "HTTP/1.1 099 x\r\n\r\n",
            "HTTP/1.1  101 x\r\n\r\n",
            "HTTP/1.1101\r\n\r\n",
        ] {
            assert_eq!(check(bad), err(SyntaxError::StartLine), "{bad:?}");
        }
        for bad in [
            "HTTP/1.1 101 x\r\nBad Header: x\r\n\r\n",
            "HTTP/1.1 101 x\r\nName : x\r\n\r\n",
            "HTTP/1.1 101 x\r\n: x\r\n\r\n",
            "HTTP/1.1 101 x\r\nno colon\r\n\r\n",
            "HTTP/1.1 101 x\r\nA: b\r\n folded\r\n\r\n",
        ] {
            assert_eq!(check(bad), err(SyntaxError::HeaderName), "{bad:?}");
        }
    }

    #[test]
    fn the_field_limit_counts_fields() {
        let four = "HTTP/1.1 101 x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
        assert!(check(four).is_ok());
        let five = "HTTP/1.1 101 x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n";
        assert_eq!(check(five), Err(HeadError::TooManyHeaders));
    }

    #[test]
    fn never_panics_on_any_short_input() {
        // Every head of up to 3 bytes from an alphabet of the interesting bytes.
        let alphabet = b"H1. :\r\na0";
        let mut buf = [0u8; 3];
        for len in 0..=3 {
            for n in 0..alphabet.len().pow(len as u32) {
                let mut k = n;
                for b in buf.iter_mut().take(len) {
                    *b = alphabet[k % alphabet.len()];
                    k /= alphabet.len();
                }
                let _ = check_response(&buf[..len], 2);
            }
        }
    }
}
