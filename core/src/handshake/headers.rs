//! Header-field vocabulary shared by both sides of the handshake.
//!
//! Everything here works on a header block that has already been checked (by `httparse` on the
//! server, by `status::check_response` on the client), so the
//! iterators can be simple and lazy: a parsed [`Request`](super::Request) or
//! [`ClientResponse`](super::ClientResponse) keeps only the borrowed head and walks it again on
//! demand instead of carrying an array of headers around. Every slice operation is checked, so
//! even a head that was never validated cannot make these helpers panic; it can only make them
//! yield less.

/// RFC 7230 §3.2.6: `tchar`, the characters a `token` is made of.
pub(crate) const fn is_tchar(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'#'
            | b'$'
            | b'%'
            | b'&'
            | b'\''
            | b'*'
            | b'+'
            | b'-'
            | b'.'
            | b'^'
            | b'_'
            | b'`'
            | b'|'
            | b'~'
            | b'0'..=b'9'
            | b'a'..=b'z'
            | b'A'..=b'Z'
    )
}

/// RFC 7230 §3.2.6: `token = 1*tchar`.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// RFC 7230 §3.2: `field-value` characters (HTAB, SP, VCHAR, obs-text).
///
/// This is the check that makes header injection impossible: CR, LF and every other control
/// character are refused, so a value can never end its own line.
pub(crate) fn is_field_value(s: &[u8]) -> bool {
    s.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Strips RFC 7230 §3.2.3 optional whitespace (`OWS = *( SP / HTAB )`) from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The name of an extension offer or answer: the token before the first `;`
/// (RFC 6455 §9.1, `extension = extension-token *( ";" extension-param )`).
pub(crate) fn extension_name(item: &[u8]) -> &[u8] {
    let end = item.iter().position(|&b| b == b';').unwrap_or(item.len());
    trim_ows(item.get(..end).unwrap_or(item))
}

/// Splits off one line (without its `\n` or `\r\n`) from the front of `s`.
pub(crate) fn split_line(s: &[u8]) -> Option<(&[u8], &[u8])> {
    if s.is_empty() {
        return None;
    }
    let (line, rest) = match s.iter().position(|&b| b == b'\n') {
        Some(i) => (s.get(..i).unwrap_or(s), s.get(i + 1..).unwrap_or(&[])),
        None => (s, &[][..]),
    };
    let line = match line {
        [body @ .., b'\r'] => body,
        _ => line,
    };
    Some((line, rest))
}

/// One header field of a parsed request or response, borrowing the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'b> {
    /// The field name exactly as received. Compare it with
    /// [`str::eq_ignore_ascii_case`]: RFC 7230 §3.2 makes field names case-insensitive.
    pub name: &'b str,
    /// The field value with surrounding whitespace removed. It is bytes, not `str`, because
    /// RFC 7230 §3.2.6 still admits `obs-text` (bytes 0x80–0xFF) in values.
    pub value: &'b [u8],
}

impl<'b> Header<'b> {
    /// The value as `str`, or `None` if it is not UTF-8.
    pub fn value_str(&self) -> Option<&'b str> {
        core::str::from_utf8(self.value).ok()
    }
}

/// Iterator over the header fields of a parsed head, in the order they were received.
///
/// Returned by [`Request::headers`](super::Request::headers) and
/// [`ClientResponse::headers`](super::ClientResponse::headers). It re-reads the borrowed head
/// lazily, so it costs no storage beyond two slices.
#[derive(Clone, Debug)]
pub struct Headers<'b> {
    rest: &'b [u8],
}

impl<'b> Headers<'b> {
    /// Positions the iterator after the start line of `head`, skipping the empty lines that
    /// RFC 7230 §3.5 lets a peer send before it (httparse skips them too).
    pub(crate) fn new(head: &'b [u8]) -> Self {
        let mut rest = head;
        while let Some((line, after)) = split_line(rest) {
            rest = after;
            if !line.is_empty() {
                break;
            }
        }
        Headers { rest }
    }

    /// Advances to the next field called `name` and returns its value.
    fn find_next(&mut self, name: &str) -> Option<&'b [u8]> {
        self.by_ref()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The first value of the field called `name` (ASCII case-insensitive).
    pub(crate) fn first_value(mut self, name: &str) -> Option<&'b [u8]> {
        self.find_next(name)
    }
}

impl<'b> Iterator for Headers<'b> {
    type Item = Header<'b>;

    fn next(&mut self) -> Option<Header<'b>> {
        loop {
            let (line, rest) = split_line(self.rest)?;
            if line.is_empty() {
                // The blank line ends the head.
                self.rest = &[];
                return None;
            }
            self.rest = rest;
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (Some(name), Some(value)) = (line.get(..colon), line.get(colon + 1..)) else {
                continue;
            };
            let Ok(name) = core::str::from_utf8(name) else {
                continue;
            };
            return Some(Header {
                name,
                value: trim_ows(value),
            });
        }
    }
}

/// Iterator over the elements of one RFC 7230 §7 comma-separated list (`#rule`).
///
/// Elements are trimmed of whitespace and empty elements are skipped, as §7 requires of
/// recipients. Commas inside a `quoted-string` (RFC 7230 §3.2.6) do not split, so an extension
/// parameter such as `foo="a,b"` stays in one piece.
#[derive(Clone, Debug)]
pub(crate) struct ListSplit<'b> {
    rest: &'b [u8],
}

impl<'b> ListSplit<'b> {
    pub(crate) fn new(value: &'b [u8]) -> Self {
        ListSplit { rest: value }
    }
}

impl<'b> Iterator for ListSplit<'b> {
    type Item = &'b [u8];

    fn next(&mut self) -> Option<&'b [u8]> {
        while !self.rest.is_empty() {
            let mut in_quotes = false;
            let mut escaped = false;
            let mut end = self.rest.len();
            for (i, &b) in self.rest.iter().enumerate() {
                if escaped {
                    escaped = false;
                } else if in_quotes && b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_quotes = !in_quotes;
                } else if b == b',' && !in_quotes {
                    end = i;
                    break;
                }
            }
            let item = trim_ows(self.rest.get(..end).unwrap_or(&[]));
            self.rest = self.rest.get(end + 1..).unwrap_or(&[]);
            if !item.is_empty() {
                return Some(item);
            }
        }
        None
    }
}

/// Iterator over the list elements of every header field with one name, across repeated
/// fields, as `&str`.
///
/// RFC 7230 §3.2.2 lets a list-valued field be split over several lines, so
/// `Sec-WebSocket-Protocol: a, b` and two fields `a` and `b` yield the same items. Elements
/// that are not UTF-8 are skipped: they cannot be the tokens that subprotocol and extension
/// names are made of.
#[derive(Clone, Debug)]
pub struct ListItems<'b> {
    headers: Headers<'b>,
    name: &'static str,
    current: ListSplit<'b>,
}

impl<'b> ListItems<'b> {
    pub(crate) fn new(head: &'b [u8], name: &'static str) -> Self {
        ListItems {
            headers: Headers::new(head),
            name,
            current: ListSplit::new(&[]),
        }
    }
}

impl<'b> Iterator for ListItems<'b> {
    type Item = &'b str;

    fn next(&mut self) -> Option<&'b str> {
        loop {
            for item in self.current.by_ref() {
                if let Ok(s) = core::str::from_utf8(item) {
                    return Some(s);
                }
            }
            let name = self.name;
            let header = self.headers.find_next(name)?;
            self.current = ListSplit::new(header);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(value: &[u8]) -> ([&[u8]; 8], usize) {
        let mut out: [&[u8]; 8] = [&[]; 8];
        let mut n = 0;
        for (slot, item) in out.iter_mut().zip(ListSplit::new(value)) {
            *slot = item;
            n += 1;
        }
        (out, n)
    }

    #[test]
    fn tokens_follow_rfc7230_tchar() {
        assert!(is_token(b"websocket"));
        assert!(is_token(b"chat.v2+json"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a,b"));
        assert!(!is_token(b"a/b"));
        assert!(!is_token(b"caf\xc3\xa9"));
    }

    #[test]
    fn field_values_refuse_line_breaks_and_controls() {
        assert!(is_field_value(b"text/plain; charset=utf-8"));
        assert!(is_field_value(b"tab\there"));
        assert!(is_field_value("caf\u{e9}".as_bytes()));
        assert!(!is_field_value(b"a\r\nInjected: yes"));
        assert!(!is_field_value(b"a\nb"));
        assert!(!is_field_value(b"nul\0"));
        assert!(!is_field_value(b"del\x7f"));
    }

    #[test]
    fn list_rule_trims_and_skips_empty_elements() {
        let (out, n) = items(b" , chat ,,\tsuperchat , ");
        assert_eq!(&out[..n], &[&b"chat"[..], &b"superchat"[..]]);
        assert_eq!(items(b"").1, 0);
        assert_eq!(items(b" , ,").1, 0);
    }

    #[test]
    fn list_rule_keeps_quoted_commas_together() {
        let (out, n) = items(br#"ext; a="x,\"y", other"#);
        assert_eq!(&out[..n], &[&br#"ext; a="x,\"y""#[..], &b"other"[..]]);
        // An unterminated quote swallows the rest instead of failing.
        let (out, n) = items(br#"a, b="c, d"#);
        assert_eq!(&out[..n], &[&b"a"[..], &br#"b="c, d"#[..]]);
    }

    #[test]
    fn extension_name_is_the_token_before_parameters() {
        assert_eq!(
            extension_name(b"permessage-deflate; client_max_window_bits"),
            b"permessage-deflate"
        );
        assert_eq!(extension_name(b" x-foo "), b"x-foo");
    }

    #[test]
    fn headers_skip_start_line_and_stop_at_blank_line() {
        let head =
            b"\r\nGET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nUpgrade:  websocket \t\r\n\r\nBody: no";
        let mut it = Headers::new(head);
        assert_eq!(
            it.next(),
            Some(Header {
                name: "Host",
                value: b"a"
            })
        );
        assert_eq!(it.next().map(|h| h.value), Some(&b""[..]));
        assert_eq!(it.next().map(|h| h.value), Some(&b"websocket"[..]));
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
        assert_eq!(
            Headers::new(head).first_value("UPGRADE"),
            Some(&b"websocket"[..])
        );
        assert_eq!(Headers::new(head).first_value("body"), None);
    }

    #[test]
    fn headers_accept_bare_lf_lines() {
        let head = b"HTTP/1.1 101 x\nA: 1\nB: 2\n\n";
        assert_eq!(Headers::new(head).count(), 2);
    }

    #[test]
    fn list_items_span_repeated_fields() {
        let head = b"GET / HTTP/1.1\r\nSec-WebSocket-Protocol: a, b\r\nX: y\r\n\
            sec-websocket-protocol: c\r\n\r\n";
        let mut it = ListItems::new(head, "sec-websocket-protocol");
        assert_eq!(it.next(), Some("a"));
        assert_eq!(it.next(), Some("b"));
        assert_eq!(it.next(), Some("c"));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn helpers_never_panic_on_unvalidated_bytes() {
        for head in [
            &b""[..],
            b"\n",
            b"\r",
            b":",
            b"x\n:\n\xff\xfe: v\n",
            b"a\nno colon\n",
        ] {
            let _ = Headers::new(head).count();
            let _ = ListItems::new(head, "x").count();
        }
    }
}
