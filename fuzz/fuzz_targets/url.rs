//! `url`: arbitrary strings as `ws://` / `wss://` URLs (`sockeye_core::url::Url::parse`).
//!
//! Invariants:
//! - no panic, whatever the input;
//! - an accepted URL has a non-empty host, a path starting with `/`, and no whitespace,
//!   control or non-ASCII byte in any part (nothing that could inject a header line);
//! - the URL rebuilt from its parts (`scheme://` + the `Host` field + the resource) parses to
//!   the same parts, and every reported error offset lies within the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockeye_core::url::{Url, UrlError};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let url = match Url::parse(input) {
        Ok(url) => url,
        Err(UrlError::InvalidCharacter { index }) => {
            assert!(index < input.len(), "{input:?}: offset {index}");
            return;
        }
        Err(_) => return,
    };
    assert!(!url.host().is_empty(), "{input:?}");
    assert!(url.path().starts_with('/'), "{input:?}");
    let host = url.host_header().to_string();
    let resource = url.resource().to_string();
    for part in [host.as_str(), resource.as_str()] {
        assert!(
            part.bytes().all(|b| b > b' ' && b < 0x7f),
            "{input:?}: {part:?} would break the request head"
        );
    }
    let rebuilt = format!("{}://{host}{resource}", url.scheme());
    let again = Url::parse(&rebuilt).unwrap_or_else(|e| panic!("{input:?} -> {rebuilt:?}: {e}"));
    assert_eq!(
        (again.is_secure(), again.host(), again.port(), again.path(), again.query()),
        (url.is_secure(), url.host(), url.port(), url.path(), url.query()),
        "{input:?} -> {rebuilt:?}"
    );
});
