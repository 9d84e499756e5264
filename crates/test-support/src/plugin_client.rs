//! Terraform's side of a go-plugin connection, for tests and the start-up
//! benchmark: read the handshake line, then connect over the unix socket with
//! AutoMTLS the way Terraform does (trust exactly the announced server
//! certificate; present a P-521 client certificate and prove its key).
//!
//! rustls' `ring` provider cannot sign with P-521, so the client key signs
//! with the `p521` crate. Client identities come from this crate's
//! `fixtures/` (made by `generate-client-certs.sh`, shaped like Terraform's
//! certificate).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use p521::pkcs8::DecodePrivateKey;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureAlgorithm, SignatureScheme};
use tonic::transport::{Channel, Endpoint};

/// Terraform's magic cookie value.
pub const COOKIE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

/// Path of a file in `fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// Contents of a file in `fixtures/`.
pub fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Checks a go-plugin handshake line (`1|6|unix|<path>|grpc|<cert>`); returns
/// the socket path and the server certificate (DER) if the line carries one.
pub fn parse_handshake(line: &str) -> (PathBuf, Option<Vec<u8>>) {
    let fields: Vec<&str> = line.trim_end_matches('\n').split('|').collect();
    assert_eq!(fields.len(), 6, "handshake line {line:?}");
    assert_eq!(fields[0], "1", "core protocol version in {line:?}");
    assert_eq!(fields[1], "6", "plugin protocol version in {line:?}");
    assert_eq!(fields[2], "unix", "network in {line:?}");
    assert_eq!(fields[4], "grpc", "protocol in {line:?}");
    let cert = (!fields[5].is_empty()).then(|| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(fields[5])
            .unwrap_or_else(|e| panic!("certificate field is not unpadded standard base64 ({e}): {line:?}"))
    });
    (PathBuf::from(fields[3]), cert)
}

/// A client certificate with the key that proves it.
#[derive(Debug, Clone)]
pub struct ClientIdentity(Arc<CertifiedKey>);

impl ClientIdentity {
    /// `cert` (PEM) and `key` (PKCS#8 PEM, P-521) from `fixtures/`.
    pub fn from_fixtures(cert: &str, key: &str) -> Self {
        let cert = CertificateDer::from_pem_file(fixture(cert)).expect("fixture certificate");
        let secret = p521::SecretKey::from_pkcs8_pem(&fixture_text(key)).expect("fixture key");
        let key = p521::ecdsa::SigningKey::from_bytes(&secret.to_bytes()).expect("P-521 signing key");
        Self(Arc::new(CertifiedKey::new(vec![cert], Arc::new(P521Key(key)))))
    }

    /// The identity Terraform announces in `PLUGIN_CLIENT_CERT` in these tests.
    pub fn terraform() -> Self {
        Self::from_fixtures("terraform-p521.pem", "terraform-p521.key")
    }
}

/// A TLS client configured like go-plugin's: trusts exactly `server_cert`
/// (server name `localhost`), ALPN `h2`, presents `client` if given.
pub fn client_config(server_cert: &[u8], client: Option<&ClientIdentity>, tls12_only: bool) -> ClientConfig {
    let provider = Arc::new(tpu::plugin::tls::crypto_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer {
            cert: server_cert.to_vec(),
            algorithms: provider.signature_verification_algorithms,
        }));
    let mut config = match client {
        Some(identity) => builder.with_client_cert_resolver(Arc::new(identity.clone())),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    config
}

/// A gRPC channel over the unix socket, through TLS when `tls` is given.
pub async fn channel(socket: &Path, tls: Option<ClientConfig>) -> Result<Channel, tonic::transport::Error> {
    let socket = socket.to_path_buf();
    let tls = tls.map(|config| tokio_rustls::TlsConnector::from(Arc::new(config)));
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_uri| {
            let socket = socket.clone();
            let tls = tls.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(&socket).await?;
                let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
                let io: Box<dyn Io> = match tls {
                    Some(tls) => Box::new(tls.connect(name, stream).await?),
                    None => Box::new(stream),
                };
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(io))
            }
        }))
        .await
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Io for T {}

/// Trusts exactly the certificate from the handshake line, as go-plugin's
/// client does, and checks the server's handshake signature.
#[derive(Debug)]
struct PinnedServer {
    cert: Vec<u8>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if server_name.to_str() == "localhost" && end_entity.as_ref() == self.cert.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl rustls::client::ResolvesClientCert for ClientIdentity {
    fn resolve(&self, _root_hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A P-521 key signing ECDSA/SHA-512, as Terraform's Go client does.
struct P521Key(p521::ecdsa::SigningKey);

impl std::fmt::Debug for P521Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("P521Key")
    }
}

impl SigningKey for P521Key {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered
            .contains(&SignatureScheme::ECDSA_NISTP521_SHA512)
            .then(|| Box::new(P521Signer(self.0.clone())) as Box<dyn Signer>)
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ECDSA
    }
}

struct P521Signer(p521::ecdsa::SigningKey);

impl std::fmt::Debug for P521Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("P521Signer")
    }
}

impl Signer for P521Signer {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        use p521::ecdsa::signature::Signer as _;
        let signature: p521::ecdsa::Signature = self
            .0
            .try_sign(message)
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        Ok(signature.to_der().as_bytes().to_vec())
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ECDSA_NISTP521_SHA512
    }
}
