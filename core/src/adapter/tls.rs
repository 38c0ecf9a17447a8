//! TLS for `wss://` clients and servers: what a TLS failure means ([`TlsError`], always
//! available with `std`), and — with the feature `rustls` — the rustls configurations the
//! adapters use (`TlsConnector`, `TlsAcceptor`).
//!
//! # Choices
//!
//! - **The crypto provider is explicit.** Every configuration built here is built with
//!   `ConfigBuilder::builder_with_provider(ring)`, never with rustls' process-level default: a
//!   program that never calls `CryptoProvider::install_default` works, and one that installs
//!   another provider is not affected. A provider that cannot be used (no cipher suite, no key
//!   exchange that the protocol versions need) is [`TlsError::CryptoProvider`], not a panic.
//! - **Trust comes from a feature, or from you.** `platform-verifier` trusts what the operating
//!   system trusts (including a corporate CA installed there); `webpki-roots` trusts the Mozilla
//!   roots compiled into the program. With both, the platform verifier is used. With neither,
//!   `connect("wss://…")` fails with [`TlsError::NoRootStore`] unless the options carry a
//!   `TlsConnector` of your own (`TlsConnector::new` with any `ClientConfig`: a private CA,
//!   client certificates, pinning).
//! - **ALPN `http/1.1`** is offered (and, by a server, accepted) unless a configuration you
//!   pass sets its own list: a WebSocket upgrade is an HTTP/1.1 request (RFC 6455 §4.1), and an
//!   endpoint that also speaks HTTP/2 must not pick `h2` for it.
//! - **SNI** is the URL's host (RFC 6066 §3); an IP address is verified against the
//!   certificate's IP addresses and not sent as SNI, as rustls does.
//!
//! The I/O — the TLS handshake over a socket, records on the wire — is the adapters' job
//! (`rustls::StreamOwned` in `sockeye-std`, `tokio-rustls` in `sockeye-tokio`).

use std::fmt;
use std::string::String;

/// Why a TLS session could not be set up, sorted into the causes a user can act on.
///
/// Adapters return it as [`Error::Tls`](super::Error::Tls). Its `Display` names the cause and
/// what to check.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsError {
    /// The server's certificate chain does not lead to a root we trust: a self-signed or
    /// private-CA certificate, or a server that does not send its intermediate certificates.
    UnknownIssuer,
    /// The certificate is valid but not for the host in the URL.
    NameMismatch,
    /// The certificate has expired (or the local clock is wrong).
    Expired,
    /// The certificate is not valid yet (or the local clock is wrong).
    NotYetValid,
    /// The certificate was revoked by its issuer.
    Revoked,
    /// The peer's certificate is unusable for another reason (bad encoding, a signature that
    /// does not verify, an unsupported algorithm, a missing certificate).
    BadCertificate {
        /// rustls' description of the problem.
        detail: String,
    },
    /// The peer refused the handshake with a fatal TLS alert (e.g. `handshake_failure`,
    /// `unknown_ca` when it rejected our client certificate, `no_application_protocol`).
    AlertReceived {
        /// The alert's description code (RFC 8446 §6).
        alert: u8,
    },
    /// The two sides share no protocol version, cipher suite, key exchange or application
    /// protocol (ALPN).
    NoCommonParameters {
        /// rustls' description of what is missing.
        detail: String,
    },
    /// The peer does not speak TLS, or broke the TLS protocol (e.g. a plain HTTP server on a
    /// `wss://` port).
    NotTls {
        /// rustls' description of what arrived.
        detail: String,
    },
    /// `wss://` was asked for, but nothing to verify a server with was configured: no feature
    /// with roots (`webpki-roots`, `platform-verifier`) and no `TlsConnector` in the options.
    NoRootStore,
    /// The crypto provider cannot build a usable configuration (no cipher suite or key exchange
    /// for the protocol versions).
    CryptoProvider {
        /// rustls' description of the problem.
        detail: String,
    },
    /// A certificate or private key given to us (PEM) could not be read.
    InvalidPem {
        /// What could not be read, and why.
        detail: String,
    },
    /// The host of the URL is not a valid DNS name or IP address for TLS.
    InvalidServerName,
    /// The peer closed the connection in the middle of the TLS handshake.
    HandshakeEof,
    /// Any other TLS failure.
    Other {
        /// rustls' description of the problem.
        detail: String,
    },
}

/// The name of a TLS alert description (RFC 8446 §6, RFC 7301 §3.2) we can explain.
fn alert_name(alert: u8) -> Option<&'static str> {
    Some(match alert {
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        112 => "unrecognized_name",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return None,
    })
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::UnknownIssuer => f.write_str(
                "the server's certificate is not signed by a CA we trust; for a private CA pass \
                 its certificate (--ca FILE, or a TlsConnector with that root), otherwise check \
                 that the server sends its intermediate certificates",
            ),
            TlsError::NameMismatch => f.write_str(
                "the server's certificate is not valid for the host in the URL; connect with the \
                 name the certificate was issued for, or fix the certificate's subjectAltName",
            ),
            TlsError::Expired => f.write_str(
                "the server's certificate has expired; renew it on the server (or check this \
                 machine's clock)",
            ),
            TlsError::NotYetValid => f.write_str(
                "the server's certificate is not valid yet; check this machine's clock (or the \
                 certificate's notBefore)",
            ),
            TlsError::Revoked => f.write_str(
                "the server's certificate was revoked by its issuer; the server needs a new one",
            ),
            TlsError::BadCertificate { detail } => {
                write!(f, "the peer's certificate cannot be used ({detail}); check the certificate the peer is configured with")
            }
            TlsError::AlertReceived { alert } => {
                match alert_name(*alert) {
                    Some(name) => write!(
                        f,
                        "the peer refused the TLS handshake with the alert {name} ({alert})"
                    )?,
                    None => write!(f, "the peer refused the TLS handshake with alert {alert}")?,
                }
                f.write_str(match *alert {
                    42 | 48 => "; it does not trust the certificate this side presented (a client: \
                               give it the server's CA; a server: it wants a client certificate it trusts)",
                    116 => "; it wants a client certificate it trusts",
                    70 | 71 | 40 => "; the two sides share no TLS version or cipher suite: check the server's TLS settings",
                    112 => "; the server has no certificate for this host name",
                    120 => "; the server does not offer HTTP/1.1 over ALPN",
                    _ => "; check the server's TLS logs",
                })
            }
            TlsError::NoCommonParameters { detail } => write!(
                f,
                "the peers share no TLS version, cipher suite or ALPN protocol ({detail}); check \
                 the server's TLS settings"
            ),
            TlsError::NotTls { detail } => write!(
                f,
                "the peer does not speak TLS correctly ({detail}); is this a plain ws:// or \
                 HTTP port?"
            ),
            TlsError::NoRootStore => f.write_str(
                "no root certificates to verify the server with: build with the feature \
                 tls-platform-verifier or tls-webpki-roots, or give the options a TlsConnector",
            ),
            TlsError::CryptoProvider { detail } => write!(
                f,
                "the TLS crypto provider cannot be used ({detail}); build rustls with the ring \
                 provider's default cipher suites"
            ),
            TlsError::InvalidPem { detail } => {
                write!(f, "cannot read the PEM certificate or key: {detail}")
            }
            TlsError::InvalidServerName => f.write_str(
                "the URL's host is not a valid TLS server name (a DNS name or an IP address)",
            ),
            TlsError::HandshakeEof => f.write_str(
                "the peer closed the connection during the TLS handshake; is the port a TLS port, \
                 and does the server accept this client (TLS version, client certificate)?",
            ),
            TlsError::Other { detail } => write!(f, "TLS failed: {detail}"),
        }
    }
}

impl std::error::Error for TlsError {}

#[cfg(feature = "rustls")]
pub use with_rustls::*;

/// A client's TLS settings. This build has no TLS (the feature `rustls` is off): the type
/// exists so that `ClientOptions::tls` is the same field in every build, but no value of it
/// can be made, and `ClientOptions::tls` is always `None`.
#[cfg(not(feature = "rustls"))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConnector {
    _none: core::convert::Infallible,
}

/// The rustls crate these types are built on, for building your own `ClientConfig` or
/// `ServerConfig` with the same version.
#[cfg(feature = "rustls")]
pub use rustls;

#[cfg(feature = "rustls")]
mod with_rustls {
    use std::io;
    use std::string::ToString;
    use std::sync::Arc;
    use std::vec;
    use std::vec::Vec;

    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use rustls::{
        CertificateError, ClientConfig, ClientConnection, ServerConfig, ServerConnection,
    };

    use super::TlsError;

    /// The ALPN protocol a WebSocket upgrade runs over.
    const HTTP_1_1: &[u8] = b"http/1.1";

    /// The crypto provider every configuration built here uses: rustls' `ring` provider,
    /// passed explicitly (see the [module docs](super)).
    ///
    /// rustls 0.23.48 deprecated this provider because it has no post-quantum key exchange
    /// (its `aws-lc-rs` provider has one). ring is kept because it builds with a C compiler
    /// alone, fast, and for every target rustls supports; a post-quantum key exchange can be
    /// had today by passing a configuration built on `aws-lc-rs` ([`TlsConnector::new`]).
    pub fn crypto_provider() -> Arc<CryptoProvider> {
        #[allow(deprecated)]
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn builder_error(e: rustls::Error) -> TlsError {
        TlsError::CryptoProvider {
            detail: e.to_string(),
        }
    }

    /// What a client verifies servers with, and its other TLS settings: an
    /// `Arc<rustls::ClientConfig>`, with ALPN `http/1.1` added when it offers none.
    ///
    /// Give it to the client options (`ClientOptions::with_tls`) for a private CA, client
    /// certificates or pinning; without one, `connect` builds [`TlsConnector::with_default_roots`].
    ///
    /// ```
    /// use sockeye_core::adapter::tls::{TlsConnector, TlsError};
    ///
    /// // Trust exactly one private CA: the contents of its PEM file.
    /// let error = TlsConnector::with_ca_pem(b"not a certificate").unwrap_err();
    /// assert!(matches!(error, TlsError::InvalidPem { .. }));
    /// ```
    #[derive(Clone, Debug)]
    pub struct TlsConnector {
        config: Arc<ClientConfig>,
    }

    impl PartialEq for TlsConnector {
        /// Two connectors are equal when they share one configuration.
        fn eq(&self, other: &TlsConnector) -> bool {
            Arc::ptr_eq(&self.config, &other.config)
        }
    }

    impl Eq for TlsConnector {}

    impl TlsConnector {
        /// Uses `config` as it is, except that ALPN `http/1.1` is offered when it sets no ALPN
        /// protocols (the configuration is then copied once).
        pub fn new(config: Arc<ClientConfig>) -> TlsConnector {
            let config = if config.alpn_protocols.is_empty() {
                let mut copy = (*config).clone();
                copy.alpn_protocols = vec![HTTP_1_1.to_vec()];
                Arc::new(copy)
            } else {
                config
            };
            TlsConnector { config }
        }

        /// The default configuration: the ring provider, TLS 1.3 and 1.2, ALPN `http/1.1`, and
        /// the roots of the enabled feature — the operating system's (`platform-verifier`,
        /// preferred) or the bundled Mozilla roots (`webpki-roots`). Without either feature:
        /// [`TlsError::NoRootStore`].
        pub fn with_default_roots() -> Result<TlsConnector, TlsError> {
            let builder = ClientConfig::builder_with_provider(crypto_provider())
                .with_safe_default_protocol_versions()
                .map_err(builder_error)?;
            #[cfg(feature = "platform-verifier")]
            {
                let verifier =
                    rustls_platform_verifier::Verifier::new(crypto_provider()).map_err(|e| {
                        TlsError::Other {
                            detail: e.to_string(),
                        }
                    })?;
                let config = builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
                    .with_no_client_auth();
                Ok(TlsConnector::new(Arc::new(config)))
            }
            #[cfg(all(feature = "webpki-roots", not(feature = "platform-verifier")))]
            {
                let roots = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                let config = builder.with_root_certificates(roots).with_no_client_auth();
                Ok(TlsConnector::new(Arc::new(config)))
            }
            #[cfg(not(any(feature = "webpki-roots", feature = "platform-verifier")))]
            {
                let _ = builder;
                Err(TlsError::NoRootStore)
            }
        }

        /// Trusts exactly the CA certificates in `pem` (one or more `CERTIFICATE` blocks), with
        /// the ring provider and ALPN `http/1.1`: a private CA, or a test's own.
        pub fn with_ca_pem(pem: &[u8]) -> Result<TlsConnector, TlsError> {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| TlsError::InvalidPem {
                    detail: e.to_string(),
                })?;
                roots.add(cert).map_err(|e| TlsError::InvalidPem {
                    detail: e.to_string(),
                })?;
            }
            if roots.is_empty() {
                return Err(TlsError::InvalidPem {
                    detail: "no CERTIFICATE block found".to_string(),
                });
            }
            let config = ClientConfig::builder_with_provider(crypto_provider())
                .with_safe_default_protocol_versions()
                .map_err(builder_error)?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(TlsConnector::new(Arc::new(config)))
        }

        /// The configuration used.
        pub fn config(&self) -> &Arc<ClientConfig> {
            &self.config
        }

        /// A new client session for `host` (the URL's host: a DNS name or an IP address, without
        /// brackets), sending it as SNI.
        pub fn session(&self, host: &str) -> Result<ClientConnection, TlsError> {
            let name =
                ServerName::try_from(host.to_string()).map_err(|_| TlsError::InvalidServerName)?;
            ClientConnection::new(self.config.clone(), name).map_err(|e| classify(&e))
        }
    }

    /// A server's TLS settings: an `Arc<rustls::ServerConfig>`, with ALPN `http/1.1` accepted
    /// when it names none.
    #[derive(Clone, Debug)]
    pub struct TlsAcceptor {
        config: Arc<ServerConfig>,
    }

    impl TlsAcceptor {
        /// Uses `config`, adding ALPN `http/1.1` when it names no protocol.
        pub fn new(config: Arc<ServerConfig>) -> TlsAcceptor {
            let config = if config.alpn_protocols.is_empty() {
                let mut copy = (*config).clone();
                copy.alpn_protocols = vec![HTTP_1_1.to_vec()];
                Arc::new(copy)
            } else {
                config
            };
            TlsAcceptor { config }
        }

        /// A server with the certificate chain in `cert_pem` (the server's certificate first)
        /// and the private key in `key_pem` (PKCS#8, PKCS#1 or SEC1), no client
        /// authentication, the ring provider, TLS 1.3 and 1.2.
        pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsAcceptor, TlsError> {
            let chain = CertificateDer::pem_slice_iter(cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| TlsError::InvalidPem {
                    detail: std::format!("certificate chain: {e}"),
                })?;
            if chain.is_empty() {
                return Err(TlsError::InvalidPem {
                    detail: "no CERTIFICATE block in the certificate file".to_string(),
                });
            }
            let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::InvalidPem {
                detail: std::format!("private key: {e}"),
            })?;
            let config = ServerConfig::builder_with_provider(crypto_provider())
                .with_safe_default_protocol_versions()
                .map_err(builder_error)?
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .map_err(|e| TlsError::InvalidPem {
                    detail: std::format!("the key does not fit the certificate: {e}"),
                })?;
            Ok(TlsAcceptor::new(Arc::new(config)))
        }

        /// The configuration used.
        pub fn config(&self) -> &Arc<ServerConfig> {
            &self.config
        }

        /// A new server session.
        pub fn session(&self) -> Result<ServerConnection, TlsError> {
            ServerConnection::new(self.config.clone()).map_err(|e| classify(&e))
        }
    }

    /// Sorts a rustls error into a [`TlsError`].
    pub fn classify(error: &rustls::Error) -> TlsError {
        use rustls::Error as E;
        let detail = || error.to_string();
        match error {
            E::InvalidCertificate(cert) => match cert {
                CertificateError::UnknownIssuer => TlsError::UnknownIssuer,
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => TlsError::NameMismatch,
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    TlsError::Expired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    TlsError::NotYetValid
                }
                CertificateError::Revoked => TlsError::Revoked,
                _ => TlsError::BadCertificate { detail: detail() },
            },
            E::NoCertificatesPresented => TlsError::BadCertificate { detail: detail() },
            E::AlertReceived(alert) => TlsError::AlertReceived {
                alert: u8::from(*alert),
            },
            E::PeerIncompatible(_) | E::NoApplicationProtocol => {
                TlsError::NoCommonParameters { detail: detail() }
            }
            E::InvalidMessage(_)
            | E::InappropriateMessage { .. }
            | E::InappropriateHandshakeMessage { .. }
            | E::PeerMisbehaved(_)
            | E::DecryptError => TlsError::NotTls { detail: detail() },
            _ => TlsError::Other { detail: detail() },
        }
    }

    /// What an I/O error from a TLS handshake means to the caller: [`Error::Tls`] with its
    /// cause (an end of stream is [`TlsError::HandshakeEof`]), or [`Error::Io`].
    ///
    /// [`Error::Tls`]: crate::adapter::Error::Tls
    /// [`Error::Io`]: crate::adapter::Error::Io
    pub fn handshake_error(error: io::Error) -> crate::adapter::Error {
        use crate::adapter::Error;
        if let Some(tls) = from_io(&error) {
            return Error::Tls(tls);
        }
        match error.kind() {
            io::ErrorKind::UnexpectedEof => Error::Tls(TlsError::HandshakeEof),
            _ => Error::Io(error),
        }
    }

    /// The [`TlsError`] inside an I/O error from a rustls stream (rustls and tokio-rustls wrap
    /// their errors in `io::ErrorKind::InvalidData`), if there is one.
    pub fn from_io(error: &io::Error) -> Option<TlsError> {
        error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(classify)
    }
}

#[cfg(test)]
mod tests {
    use std::string::ToString;

    use super::*;

    #[test]
    fn every_cause_says_what_to_do() {
        assert!(TlsError::UnknownIssuer.to_string().contains("--ca"));
        assert!(TlsError::NameMismatch.to_string().contains("host"));
        assert!(TlsError::NoRootStore
            .to_string()
            .contains("tls-webpki-roots"));
        let alert = TlsError::AlertReceived { alert: 116 }.to_string();
        assert!(alert.contains("certificate_required"), "{alert}");
        assert!(alert.contains("client certificate"), "{alert}");
        let alert = TlsError::AlertReceived { alert: 48 }.to_string();
        assert!(
            alert.contains("unknown_ca") && alert.contains("does not trust"),
            "{alert}"
        );
    }

    #[cfg(feature = "rustls")]
    #[test]
    fn rustls_errors_are_classified() {
        use rustls::{AlertDescription, CertificateError, Error as E};
        let cases = [
            (
                E::InvalidCertificate(CertificateError::UnknownIssuer),
                TlsError::UnknownIssuer,
            ),
            (
                E::InvalidCertificate(CertificateError::NotValidForName),
                TlsError::NameMismatch,
            ),
            (
                E::InvalidCertificate(CertificateError::Expired),
                TlsError::Expired,
            ),
            (
                E::AlertReceived(AlertDescription::HandshakeFailure),
                TlsError::AlertReceived { alert: 40 },
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(classify(&error), expected, "{error}");
            let io = std::io::Error::new(std::io::ErrorKind::InvalidData, error);
            assert_eq!(from_io(&io), Some(expected));
        }
        assert_eq!(from_io(&std::io::ErrorKind::InvalidData.into()), None);
    }

    #[cfg(feature = "rustls")]
    #[test]
    fn configurations_offer_http_1_1() {
        let connector = TlsConnector::with_ca_pem(b"not pem");
        assert!(matches!(connector, Err(TlsError::InvalidPem { .. })));
        let config = rustls::ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let connector = TlsConnector::new(std::sync::Arc::new(config));
        assert_eq!(connector.config().alpn_protocols, [b"http/1.1".to_vec()]);
        assert!(matches!(
            connector.session("not a host name"),
            Err(TlsError::InvalidServerName)
        ));
        assert!(connector.session("127.0.0.1").is_ok());
    }
}
