//! Transport security between hubs: mutual TLS (rustls with the ring
//! provider, the one wasmtime-wasi-http already uses) with each partner's
//! certificate pinned.
//!
//! Pinning, not CA trust: a partner is who presents exactly the certificate
//! (byte for byte, DER) named by its `[[partner]] tls_cert`, and proves in the
//! handshake that it holds the certificate's private key. Names, issuers and
//! validity dates play no part; replacing a certificate means both hubs
//! change their configuration.
//!
//! - Server: a hub with `[hub] tls_cert`/`tls_key` serves only TLS. It asks
//!   every client for a certificate but does not require one (source systems
//!   and operators connect without); any certificate whose handshake signature
//!   verifies is accepted at this layer, and what it is worth is decided per
//!   request: `POST /v1/partner/bundles` needs a configured partner's pinned
//!   certificate ([`HubTls::partner_for`]).
//! - Client: a delivery to an `https://` partner URL is made by the host (the
//!   transport plugin's `wasi:http` request is carried out by [`send_pinned`]),
//!   presenting this hub's certificate and accepting only the partner's.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme,
};
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::keys::KeyError;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "cannot read the TLS certificate {path}: {detail}; create a hub's certificate with `entrex keygen --out DIR --name NAME` (NAME.cert.pem), or for a partner copy the NAME.cert.pem its operators publish"
    )]
    Certificate { path: PathBuf, detail: String },
    #[error(
        "cannot read the TLS private key {path}: {detail}; `entrex keygen --out DIR --name NAME` writes it as NAME.tls.key.pem beside NAME.cert.pem"
    )]
    Key { path: PathBuf, detail: String },
    #[error("TLS certificate {cert} and key {key} cannot be used together: {detail}")]
    Identity {
        cert: PathBuf,
        key: PathBuf,
        detail: String,
    },
}

/// The crypto provider for every TLS connection of the process.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// A certificate chain (end entity first) and its private key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl Identity {
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<Identity, String> {
        let chain = certificates_from_pem(cert)?;
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| format!("no PEM private key (PKCS#8, SEC1 or PKCS#1): {e}"))?;
        Ok(Identity { chain, key })
    }

    pub fn load(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
        let chain = load_chain(cert)?;
        let key_pem = std::fs::read(key).map_err(|e| TlsError::Key {
            path: key.to_owned(),
            detail: e.to_string(),
        })?;
        let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Key {
            path: key.to_owned(),
            detail: format!("no PEM private key (PKCS#8, SEC1 or PKCS#1) in it: {e}"),
        })?;
        Ok(Identity {
            chain,
            key: key_der,
        })
    }

    /// The end-entity certificate: what a partner pins.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }
}

fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM: {e}"))?;
    if chain.is_empty() {
        return Err("no \"BEGIN CERTIFICATE\" block in it".into());
    }
    Ok(chain)
}

/// Reads a PEM certificate chain (at least one certificate; the first is the
/// end entity).
pub fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(|e| TlsError::Certificate {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    certificates_from_pem(&pem).map_err(|detail| TlsError::Certificate {
        path: path.to_owned(),
        detail,
    })
}

/// Reads a certificate to pin: the first one in the file.
pub fn load_pinned(path: &Path) -> Result<CertificateDer<'static>, TlsError> {
    Ok(load_chain(path)?.swap_remove(0))
}

/// A short fingerprint for messages: SHA-256 of the DER, first 8 bytes in hex.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    hex::encode(&Sha256::digest(cert.as_ref())[..8])
}

/// What a hub serving TLS holds: its identity, the acceptor, and the pinned
/// certificate of each partner.
pub struct HubTls {
    pub identity: Identity,
    pub acceptor: tokio_rustls::TlsAcceptor,
    partners: Vec<(String, CertificateDer<'static>)>,
}

impl HubTls {
    /// `None` when the hub has no certificate (plain HTTP, allowed only with
    /// `allow_plain_http`; the configuration checked that).
    pub fn load(settings: &Settings) -> Result<Option<HubTls>, TlsError> {
        let Some(files) = &settings.tls else {
            return Ok(None);
        };
        let identity = Identity::load(&files.cert, &files.key)?;
        let mut partners = Vec::new();
        for p in &settings.partners {
            if let Some(path) = &p.tls_cert {
                partners.push((p.id.clone(), load_pinned(path)?));
            }
        }
        let config = server_config(&identity).map_err(|detail| TlsError::Identity {
            cert: files.cert.clone(),
            key: files.key.clone(),
            detail,
        })?;
        Ok(Some(HubTls {
            acceptor: tokio_rustls::TlsAcceptor::from(config),
            identity,
            partners,
        }))
    }

    /// The partner whose pinned certificate is exactly `cert`.
    pub fn partner_for(&self, cert: &CertificateDer<'_>) -> Option<&str> {
        self.partners
            .iter()
            .find(|(_, pinned)| pinned.as_ref() == cert.as_ref())
            .map(|(id, _)| id.as_str())
    }
}

/// Each partner's URL with, for https, the client configuration that pins it.
pub type PartnerEndpoints = Vec<(String, Option<Arc<ClientConfig>>)>;

/// Client configurations for each partner reached over https: this hub's
/// certificate as client certificate, only the partner's pinned certificate
/// accepted from the server. Partners with an `http://` URL get `None`.
pub fn partner_client_configs(settings: &Settings) -> Result<PartnerEndpoints, TlsError> {
    let identity = match &settings.tls {
        Some(files) => Some(Identity::load(&files.cert, &files.key)?),
        None => None,
    };
    let mut out = Vec::new();
    for p in &settings.partners {
        let config = match (&p.tls_cert, &identity, is_https(&p.url)) {
            (Some(path), Some(identity), true) => {
                let pinned = load_pinned(path)?;
                let files = settings.tls.as_ref().expect("identity implies files");
                Some(
                    client_config(pinned, Some(identity), &p.id).map_err(|detail| {
                        TlsError::Identity {
                            cert: files.cert.clone(),
                            key: files.key.clone(),
                            detail,
                        }
                    })?,
                )
            }
            _ => None,
        };
        out.push((p.url.clone(), config));
    }
    Ok(out)
}

pub fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// The server side: `identity` as server certificate; client certificates
/// requested, optional, and checked only for their handshake signature.
pub fn server_config(identity: &Identity) -> Result<Arc<ServerConfig>, String> {
    let verifier = Arc::new(AnyClientCertificate {
        provider: provider(),
    });
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The client side: accepts only `pinned` from the server, and presents
/// `identity` if given. `peer` names the server in error messages.
pub fn client_config(
    pinned: CertificateDer<'static>,
    identity: Option<&Identity>,
    peer: &str,
) -> Result<Arc<ClientConfig>, String> {
    let verifier = Arc::new(PinnedServer {
        pinned,
        peer: peer.to_owned(),
        provider: provider(),
    });
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .map_err(|e| e.to_string())?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[derive(Debug, thiserror::Error)]
#[error("server certificate SHA-256 {presented}… is not the one pinned for {peer} ({pinned}…)")]
struct NotPinned {
    peer: String,
    presented: String,
    pinned: String,
}

/// Accepts exactly one server certificate; the handshake signature is still
/// verified against it with the crypto provider.
#[derive(Debug)]
struct PinnedServer {
    pinned: CertificateDer<'static>,
    peer: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.pinned.as_ref() {
            return Ok(ServerCertVerified::assertion());
        }
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::Other(rustls::OtherError(Arc::new(NotPinned {
                peer: self.peer.clone(),
                presented: fingerprint(end_entity),
                pinned: fingerprint(&self.pinned),
            }))),
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Asks for a client certificate without requiring one, and accepts any whose
/// handshake signature verifies (the client holds its key). Whether it is a
/// partner's is decided per request against the pinned certificates.
#[derive(Debug)]
struct AnyClientCertificate {
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The server name a client sends (SNI) for `host` (from a URI; IPv6 in
/// brackets). The pinned verifier ignores it; rustls needs one.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|e| format!("{host:?} is not a host name: {e}"))
}

/// Connects to `host:port` and performs the TLS handshake with `config`.
pub async fn connect(
    host: &str,
    port: u16,
    config: Arc<ClientConfig>,
    connect_timeout: Duration,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, ConnectError> {
    let name = server_name(host).map_err(ConnectError::Name)?;
    let address = format!("{host}:{port}");
    let tcp = match tokio::time::timeout(connect_timeout, tokio::net::TcpStream::connect(&address))
        .await
    {
        Ok(stream) => stream.map_err(ConnectError::Tcp)?,
        Err(_) => return Err(ConnectError::Timeout),
    };
    let _ = tcp.set_nodelay(true);
    match tokio::time::timeout(
        connect_timeout,
        tokio_rustls::TlsConnector::from(config).connect(name, tcp),
    )
    .await
    {
        Ok(stream) => stream.map_err(|e| ConnectError::Tls(address, tls_failure(&e))),
        Err(_) => Err(ConnectError::Timeout),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Name(String),
    #[error("cannot connect: {0}")]
    Tcp(std::io::Error),
    #[error("timed out connecting")]
    Timeout,
    #[error("TLS with {0}: {1}")]
    Tls(String, String),
}

/// What went wrong in a handshake, in words (rustls shows some errors only
/// in their debug form).
fn tls_failure(e: &std::io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) => {
            other.to_string()
        }
        Some(rustls::Error::AlertReceived(alert)) => {
            format!("the server refused the handshake ({alert:?})")
        }
        Some(other) => other.to_string(),
        None => e.to_string(),
    }
}

type WasiResult<T> = wasmtime_wasi_http::Result<T>;
type IoFuture = Box<dyn Future<Output = WasiResult<()>> + Send>;

/// Carries out a transport plugin's `wasi:http` request to an https partner
/// over mutual TLS with `config` (see [`partner_client_configs`]). Adapted from
/// `wasmtime_wasi_http::default_send_request` (which trusts the web PKI and
/// presents no client certificate), with the same timeouts.
pub async fn send_pinned(
    mut request: http::Request<wasmtime_wasi_http::WasiBody>,
    options: Option<wasmtime_wasi_http::RequestOptions>,
    config: Arc<ClientConfig>,
) -> WasiResult<(http::Response<wasmtime_wasi_http::WasiBody>, IoFuture)> {
    use http_body_util::BodyExt;
    use wasmtime_wasi_http::Error;
    let forever = Duration::from_secs(600);
    let connect_timeout = options.and_then(|o| o.connect_timeout).unwrap_or(forever);
    let first_byte_timeout = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(forever);
    let between_bytes_timeout = options
        .and_then(|o| o.between_bytes_timeout)
        .unwrap_or(forever)
        .max(Duration::from_nanos(1));
    let uri = request.uri();
    let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?.to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let stream = match connect(&host, port, config, connect_timeout).await {
        Ok(stream) => stream,
        Err(ConnectError::Tcp(e)) => return Err(Error::Connect(e)),
        Err(ConnectError::Timeout) => return Err(Error::ConnectionTimeout),
        Err(e) => {
            tracing::warn!("{e}");
            return Err(Error::InternalError(Some(e.to_string())));
        }
    };
    let (mut sender, conn) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;
    let conn = tokio::spawn(conn);
    // Absolute-form URIs are for proxies: send only the path and query.
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(uri_path(request.uri()))
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;
    let mut timeout = tokio::time::interval(between_bytes_timeout);
    timeout.reset();
    let response = response.map(|incoming| TimedBody { incoming, timeout }.boxed_unsync());
    let io = async move {
        match conn.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if e.is_timeout() => Err(Error::HttpResponseTimeout),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(Error::InternalError(Some(format!(
                "connection task failed: {e}"
            )))),
        }
    };
    Ok((response, Box::new(io) as IoFuture))
}

fn uri_path(uri: &http::Uri) -> String {
    uri.path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into())
}

/// A response body that fails when no byte arrives for the between-bytes
/// timeout.
struct TimedBody {
    incoming: hyper::body::Incoming,
    timeout: tokio::time::Interval,
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        use wasmtime_wasi_http::Error;
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) if e.is_timeout() => {
                Poll::Ready(Some(Err(Error::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Some(Ok(frame))) => {
                self.timeout.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.timeout.poll_tick(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

/// Files written by [`generate`].
pub struct GeneratedCertificate {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
    pub fingerprint: String,
}

/// The files [`generate`] writes for `name`.
pub fn certificate_paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.cert.pem")),
        dir.join(format!("{name}.tls.key.pem")),
    )
}

/// Writes a self-signed TLS certificate for a hub (`<name>.cert.pem`, ECDSA
/// P-256, valid for 127.0.0.1, localhost and `sans`, for serving and as client
/// certificate) and its key (`<name>.tls.key.pem`, mode 0600). Never
/// overwrites. Partners pin the certificate, so its dates and names matter
/// only to other tools (curl, openssl).
pub fn generate(dir: &Path, name: &str, sans: &[String]) -> Result<GeneratedCertificate, KeyError> {
    let (certificate, private_key) = certificate_paths(dir, name);
    for path in [&certificate, &private_key] {
        if path.exists() {
            return Err(KeyError::Exists(path.clone()));
        }
    }
    let mut names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    for san in sans {
        if !names.contains(san) {
            names.push(san.clone());
        }
    }
    let invalid = |e: rcgen::Error| KeyError::Write {
        path: certificate.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()),
    };
    let mut params = rcgen::CertificateParams::new(names).map_err(invalid)?;
    let mut subject = rcgen::DistinguishedName::new();
    subject.push(rcgen::DnType::CommonName, format!("entrex hub {name}"));
    params.distinguished_name = subject;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(invalid)?;
    let cert = params.self_signed(&key).map_err(invalid)?;
    std::fs::create_dir_all(dir).map_err(|source| KeyError::Write {
        path: dir.to_owned(),
        source,
    })?;
    crate::keys::write_private(&private_key, key.serialize_pem().as_bytes())?;
    std::fs::write(&certificate, cert.pem()).map_err(|source| KeyError::Write {
        path: certificate.clone(),
        source,
    })?;
    Ok(GeneratedCertificate {
        fingerprint: fingerprint(cert.der()),
        certificate,
        private_key,
    })
}

/// What start-up (and `check-config`) says when plain HTTP is allowed.
pub fn plain_http_warning(settings: &Settings) -> Option<String> {
    if !settings.allow_plain_http {
        return None;
    }
    let mut plain = Vec::new();
    if settings.tls.is_none() {
        plain.push(format!(
            "this hub serves plain HTTP on {} and accepts partner bundles without a client certificate",
            settings.listen
        ));
    }
    for p in &settings.partners {
        if !is_https(&p.url) {
            plain.push(format!("bundles to {} go to {}", p.id, p.url));
        }
    }
    Some(if plain.is_empty() {
        "allow_plain_http = true is set but unused (every hub-to-hub connection is mutual TLS); remove it".into()
    } else {
        format!(
            "PLAIN HTTP: traffic between hubs is not encrypted or authenticated; for local development only ({})",
            plain.join("; ")
        )
    })
}
