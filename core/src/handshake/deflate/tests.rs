//! RFC 7692 negotiation, rule by rule, both sides.

use super::*;

fn offer(item: &str) -> Result<Option<DeflateOffer>, DeflateError> {
    DeflateOffer::parse(item)
}

fn response(accepted: &Accepted) -> std::string::String {
    let mut out = [0u8; 256];
    let n = accepted.write_response(&mut out).unwrap();
    std::string::String::from_utf8(out[..n].to_vec()).unwrap()
}

#[test]
fn rfc7692_5_all_four_parameters_with_and_without_values_parse() {
    assert_eq!(
        offer("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits"),
        Ok(Some(DeflateOffer {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(10),
            client_max_window_bits: Some(None),
        }))
    );
    assert_eq!(
        offer("PerMessage-Deflate ;client_max_window_bits = \"12\""),
        Ok(Some(DeflateOffer {
            client_max_window_bits: Some(Some(12)),
            ..DeflateOffer::default()
        })),
        "names are case-insensitive, OWS allowed, values may be quoted"
    );
    assert_eq!(offer("x-webkit-deflate-frame"), Ok(None));
    assert_eq!(
        offer("permessage-deflate"),
        Ok(Some(DeflateOffer::default()))
    );
}

#[test]
fn rfc7692_7_1_2_window_bits_are_8_to_15_without_leading_zeros() {
    for (v, ok) in [
        ("8", Some(8)),
        ("9", Some(9)),
        ("10", Some(10)),
        ("15", Some(15)),
        ("7", None),
        ("16", None),
        ("08", None),
        ("015", None),
        ("", None),
        ("1x", None),
        ("\"9\"", Some(9)),
        ("\"\"", None),
    ] {
        let got = offer(&std::format!(
            "permessage-deflate; server_max_window_bits={v}"
        ));
        match ok {
            Some(bits) => assert_eq!(
                got.unwrap().unwrap().server_max_window_bits,
                Some(bits),
                "{v}"
            ),
            None => assert!(got.is_err(), "{v}: {got:?}"),
        }
    }
}

#[test]
fn rfc7692_7_a_server_declines_unknown_duplicated_and_malformed_offers() {
    for bad in [
        "permessage-deflate; x=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate;",
        "permessage-deflate; =9",
        "permessage-deflate; client_max_window_bits=\"9",
    ] {
        assert!(offer(bad).is_err(), "{bad}");
        assert_eq!(
            negotiate([bad].into_iter(), &DeflateConfig::new()),
            None,
            "{bad}"
        );
    }
}

#[test]
fn rfc7692_5_1_the_first_acceptable_offer_wins_and_fallbacks_work() {
    let items = [
        "x-foo",
        "permessage-deflate; bogus",
        "permessage-deflate; server_max_window_bits=8",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate",
    ];
    // A compressor that cannot go below 2^9 skips the 8-bit offer.
    let zlib_floor = DeflateConfig {
        min_window_bits: 9,
        ..DeflateConfig::new()
    };
    let accepted = negotiate(items.into_iter(), &zlib_floor).unwrap();
    assert_eq!(accepted.offer().client_max_window_bits, Some(None));
    assert_eq!(response(&accepted), "permessage-deflate");
    assert_eq!(
        negotiate(["x-foo"].into_iter(), &DeflateConfig::new()),
        None
    );
}

#[test]
fn rfc7692_7_1_2_1_an_8_bit_server_window_is_declined_below_the_floor_and_taken_by_default() {
    let items = ["permessage-deflate; server_max_window_bits=8"];
    let zlib_floor = DeflateConfig {
        min_window_bits: 9,
        ..DeflateConfig::new()
    };
    assert_eq!(negotiate(items.into_iter(), &zlib_floor), None);
    // The default floor is 8: the `deflate` compressor stays within 256 bytes (its tests
    // inflate with an exactly-sized window).
    let accepted = negotiate(items.into_iter(), &DeflateConfig::new()).unwrap();
    assert_eq!(accepted.params().server_max_window_bits, 8);
    assert_eq!(
        response(&accepted),
        "permessage-deflate; server_max_window_bits=8"
    );
}

#[test]
fn rfc7692_7_1_2_1_the_server_window_is_echoed_same_or_smaller() {
    let config = DeflateConfig {
        server_max_window_bits: 11,
        ..DeflateConfig::new()
    };
    let accepted = negotiate(
        ["permessage-deflate; server_max_window_bits=13"].into_iter(),
        &config,
    )
    .unwrap();
    assert_eq!(accepted.params().server_max_window_bits, 11);
    assert_eq!(
        response(&accepted),
        "permessage-deflate; server_max_window_bits=11"
    );
    // Unasked, a server limiting itself says so.
    let accepted = negotiate(["permessage-deflate"].into_iter(), &config).unwrap();
    assert_eq!(
        response(&accepted),
        "permessage-deflate; server_max_window_bits=11"
    );
}

#[test]
fn rfc7692_7_1_2_2_client_window_only_if_offered_and_then_with_a_value() {
    let small = DeflateConfig {
        client_max_window_bits: 10,
        ..DeflateConfig::new()
    };
    // Offered without a value: we limit it.
    let accepted = negotiate(
        ["permessage-deflate; client_max_window_bits"].into_iter(),
        &small,
    )
    .unwrap();
    assert_eq!(accepted.params().client_max_window_bits, 10);
    assert_eq!(
        response(&accepted),
        "permessage-deflate; client_max_window_bits=10"
    );
    // Not offered: we cannot limit it, and our inflater would need the full window: declined.
    assert_eq!(negotiate(["permessage-deflate"].into_iter(), &small), None);
    // A hint below our limit needs no answer.
    let accepted = negotiate(
        ["permessage-deflate; client_max_window_bits=9"].into_iter(),
        &small,
    )
    .unwrap();
    assert_eq!(accepted.params().client_max_window_bits, 9);
    assert_eq!(response(&accepted), "permessage-deflate");
}

#[test]
fn rfc7692_7_1_1_no_context_takeover_is_granted_when_asked_and_may_be_imposed() {
    let accepted = negotiate(
        ["permessage-deflate; server_no_context_takeover"].into_iter(),
        &DeflateConfig::new(),
    )
    .unwrap();
    assert_eq!(
        response(&accepted),
        "permessage-deflate; server_no_context_takeover"
    );
    let accepted = negotiate(
        ["permessage-deflate"].into_iter(),
        &DeflateConfig::low_memory(),
    )
    .unwrap();
    assert_eq!(
        response(&accepted),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
    assert!(accepted.params().client_no_context_takeover);
}

#[test]
fn a_client_checks_the_response_against_its_offer() {
    let browser = DeflateOffer::new();
    assert_eq!(
        browser.check_response("permessage-deflate; client_max_window_bits=10"),
        Ok(DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 10,
        })
    );
    assert_eq!(
        browser.check_response("permessage-deflate; client_max_window_bits"),
        Err(DeflateError::MissingValue),
        "§7.1.2.2: a value in the response"
    );
    assert_eq!(
        browser.check_response(
            "permessage-deflate; server_max_window_bits=9; server_no_context_takeover"
        ),
        Ok(DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: false,
            server_max_window_bits: 9,
            client_max_window_bits: 15,
        }),
        "a server may limit itself and drop context takeover unasked"
    );
    let plain = DeflateOffer::default();
    assert_eq!(
        plain.check_response("permessage-deflate; client_max_window_bits=12"),
        Err(DeflateError::NotOffered)
    );
    let asking = DeflateOffer {
        server_no_context_takeover: true,
        server_max_window_bits: Some(10),
        ..DeflateOffer::default()
    };
    assert_eq!(
        asking.check_response("permessage-deflate; server_max_window_bits=10"),
        Err(DeflateError::NotAccepted)
    );
    assert_eq!(
        asking.check_response("permessage-deflate; server_no_context_takeover"),
        Err(DeflateError::NotAccepted)
    );
    assert_eq!(
        asking.check_response(
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=12"
        ),
        Err(DeflateError::NotOffered)
    );
    assert_eq!(
        plain.check_response("permessage-deflate; unknown"),
        Err(DeflateError::UnknownParameter)
    );
    assert_eq!(
        plain.check_response("x-other"),
        Err(DeflateError::NotPermessageDeflate)
    );
}

#[test]
fn offers_written_are_offers_parsed() {
    let offers = [
        DeflateOffer::new(),
        DeflateOffer::low_memory(),
        DeflateOffer {
            server_no_context_takeover: true,
            client_no_context_takeover: false,
            server_max_window_bits: Some(9),
            client_max_window_bits: Some(Some(12)),
        },
    ];
    for o in offers {
        let mut out = [0u8; 256];
        let n = o.write(&mut out).unwrap();
        let text = core::str::from_utf8(&out[..n]).unwrap();
        assert_eq!(DeflateOffer::parse(text), Ok(Some(o)), "{text}");
        assert!(matches!(
            o.write(&mut out[..n - 1]),
            Err(WriteError::BufferTooSmall { needed }) if needed == n
        ));
    }
    let bad = DeflateOffer {
        server_max_window_bits: Some(7),
        ..DeflateOffer::default()
    };
    assert!(bad.write(&mut [0u8; 256]).is_err());
}

proptest::proptest! {
    /// Whatever the server accepts, its response is one the offering client accepts, with the
    /// same parameters; and no input panics.
    #[test]
    fn every_accepted_offer_yields_a_response_its_client_accepts(
        item in "permessage-deflate(; (server|client)_(no_context_takeover|max_window_bits(=(8|9|1[0-6]|\"1[0-5]\"))?)){0,4}",
        server_bits in 8u8..=15,
        client_bits in 8u8..=15,
        floor in 8u8..=9,
        snct in proptest::bool::ANY,
        cnct in proptest::bool::ANY,
    ) {
        let config = DeflateConfig {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
            min_window_bits: floor,
        };
        if let Some(accepted) = negotiate([item.as_str()].into_iter(), &config) {
            let offer = DeflateOffer::parse(&item).unwrap().unwrap();
            let text = response(&accepted);
            let params = offer.check_response(&text);
            proptest::prop_assert_eq!(params, Ok(accepted.params()), "{} -> {}", item, text);
            proptest::prop_assert!(accepted.params().server_max_window_bits >= floor);
            proptest::prop_assert!(accepted.params().client_max_window_bits <= client_bits.max(8));
        }
    }

    #[test]
    fn garbage_never_panics(item in ".{0,120}") {
        let _ = DeflateOffer::parse(&item);
        let _ = DeflateOffer::new().check_response(&item);
        let _ = negotiate([item.as_str()].into_iter(), &DeflateConfig::new());
    }
}
