//! AutoMTLS as go-plugin does it, with real mutual authentication.
//!
//! Terraform hands the plugin its client certificate (self-signed ECDSA P-521,
//! CA:TRUE) in `PLUGIN_CLIENT_CERT` and trusts exactly the server certificate
//! the plugin prints in its handshake line. So the plugin makes a fresh P-256
//! server certificate per launch and accepts exactly one client certificate,
//! checking that the peer holds its private key (the certificate itself is
//! public: it sits in the environment of every process Terraform starts).
//!
//! rustls' `ring` provider is chosen for its near-zero start-up cost, but it
//! cannot verify P-521 signatures, so [`EcdsaP521Sha512`] adds them with
//! RustCrypto's `p521`. The algorithm must also appear in the scheme mapping:
//! that list is what the server offers in its CertificateRequest, and without
//! `ecdsa_secp521r1_sha512` there Terraform sends no certificate at all.

use std::fmt;
use std::sync::{Arc, LazyLock};

use p521::ecdsa::signature::Verifier;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, PrivateKeyDer, PrivatePkcs8KeyDer,
    SignatureVerificationAlgorithm, UnixTime, alg_id,
};

/// Why TLS could not be set up; each message says what to check.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `PLUGIN_CLIENT_CERT` holds no PEM `CERTIFICATE` block.
    #[error(
        "PLUGIN_CLIENT_CERT does not contain a PEM certificate ({0}); it is set by Terraform when it launches the \
         provider: unset it to serve without TLS, or launch the provider through Terraform"
    )]
    ClientCert(String),
    /// The per-launch server certificate could not be generated.
    #[error("could not generate the server certificate: {0}")]
    ServerCert(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("could not configure TLS: {0}")]
    Config(#[from] rustls::Error),
}

/// The server's certificate and key for one launch. The key never leaves the
/// process and is deliberately absent from `Debug`.
pub struct ServerIdentity {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("cert_len", &self.cert.len())
            .finish_non_exhaustive()
    }
}

impl ServerIdentity {
    /// A fresh self-signed ECDSA P-256 certificate for `localhost`, shaped like
    /// go-plugin's own (CA:TRUE, server+client auth): Terraform adds it to its
    /// trust roots as is and connects with server name `localhost`.
    pub fn generate() -> Result<Self, TlsError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
        };
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "terraform-provider-ucloud");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyCertSign,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }

    /// DER of the server certificate, as announced in the handshake line.
    pub fn cert_der(&self) -> &[u8] {
        self.cert.as_ref()
    }
}

/// Parses the first certificate of a PEM text (the value of `PLUGIN_CLIENT_CERT`).
pub fn parse_client_cert(pem: &str) -> Result<CertificateDer<'static>, TlsError> {
    match CertificateDer::pem_slice_iter(pem.as_bytes()).next() {
        Some(Ok(cert)) => Ok(cert),
        Some(Err(e)) => Err(TlsError::ClientCert(e.to_string())),
        None => Err(TlsError::ClientCert("no CERTIFICATE block found".to_owned())),
    }
}

/// The server side of AutoMTLS: presents `identity`, requires the client to
/// present exactly `client_cert` and prove possession of its key; ALPN `h2`.
pub fn server_config(identity: ServerIdentity, client_cert: CertificateDer<'static>) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(crypto_provider());
    let verifier = Arc::new(PinnedClientCert::new(
        client_cert,
        provider.signature_verification_algorithms,
    ));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![identity.cert], PrivateKeyDer::Pkcs8(identity.key))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// rustls' `ring` provider with ECDSA P-521/SHA-512 signature verification added.
pub fn crypto_provider() -> CryptoProvider {
    CryptoProvider {
        signature_verification_algorithms: supported_algorithms(),
        ..rustls::crypto::ring::default_provider()
    }
}

/// `ring`'s verification algorithms plus [`EcdsaP521Sha512`], in both the
/// list used for certificates and the TLS scheme mapping (see module doc).
pub fn supported_algorithms() -> WebPkiSupportedAlgorithms {
    static P521: &[&dyn SignatureVerificationAlgorithm] = &[&EcdsaP521Sha512];
    static ALL: LazyLock<Vec<&'static dyn SignatureVerificationAlgorithm>> = LazyLock::new(|| {
        let mut all = rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .all
            .to_vec();
        all.push(&EcdsaP521Sha512);
        all
    });
    type Mapping = (SignatureScheme, &'static [&'static dyn SignatureVerificationAlgorithm]);
    static MAPPING: LazyLock<Vec<Mapping>> = LazyLock::new(|| {
        let ring = rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .mapping;
        let mut mapping = Vec::with_capacity(ring.len() + 1);
        mapping.push((SignatureScheme::ECDSA_NISTP521_SHA512, P521));
        mapping.extend_from_slice(ring);
        mapping
    });
    WebPkiSupportedAlgorithms {
        all: ALL.as_slice(),
        mapping: MAPPING.as_slice(),
    }
}

/// ECDSA on P-521 with SHA-512, for signatures webpki and rustls hand over:
/// the public key is the raw SEC1 point, the signature DER `(r, s)`.
#[derive(Debug, Clone, Copy)]
pub struct EcdsaP521Sha512;

impl SignatureVerificationAlgorithm for EcdsaP521Sha512 {
    fn verify_signature(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), InvalidSignature> {
        let key = p521::ecdsa::VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
        let signature = p521::ecdsa::Signature::from_der(signature).map_err(|_| InvalidSignature)?;
        key.verify(message, &signature).map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P521
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA512
    }
}

/// Accepts exactly one client certificate, byte for byte, and checks the
/// handshake signatures against its public key, so only the holder of
/// Terraform's private key gets in. Chain building is pointless here (and
/// webpki would refuse Terraform's CA:TRUE certificate as an end entity).
#[derive(Debug)]
pub struct PinnedClientCert {
    cert: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedClientCert {
    /// Pins `cert`; `algorithms` verify the handshake signatures.
    pub fn new(cert: CertificateDer<'static>, algorithms: WebPkiSupportedAlgorithms) -> Self {
        Self { cert, algorithms }
    }
}

/// The error a client with another certificate gets. rustls renders it with
/// `Debug`, so both say what happened.
struct NotTheAnnouncedCert;

impl fmt::Display for NotTheAnnouncedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("client certificate is not the one announced in PLUGIN_CLIENT_CERT")
    }
}

impl fmt::Debug for NotTheAnnouncedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for NotTheAnnouncedCert {}

impl ClientCertVerifier for PinnedClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(
                Arc::new(NotTheAnnouncedCert),
            ))))
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

#[cfg(test)]
mod tests {
    use super::*;
    use p521::ecdsa::signature::Signer;

    #[test]
    fn p521_verifies_only_genuine_signatures() {
        let mut scalar = [7u8; 66];
        scalar[0] = 0; // below the group order
        let key = p521::ecdsa::SigningKey::from_slice(&scalar).unwrap();
        let public = p521::ecdsa::VerifyingKey::from(&key).to_encoded_point(false);
        let signature: p521::ecdsa::Signature = key.sign(b"handshake transcript");
        let der = signature.to_der();
        let alg = EcdsaP521Sha512;
        assert!(
            alg.verify_signature(public.as_bytes(), b"handshake transcript", der.as_bytes())
                .is_ok()
        );
        assert!(
            alg.verify_signature(public.as_bytes(), b"another transcript", der.as_bytes())
                .is_err()
        );
        assert!(
            alg.verify_signature(public.as_bytes(), b"handshake transcript", &der.as_bytes()[1..])
                .is_err()
        );
        assert!(
            alg.verify_signature(&public.as_bytes()[1..], b"handshake transcript", der.as_bytes())
                .is_err()
        );
    }

    #[test]
    fn p521_is_offered_to_clients() {
        let algorithms = supported_algorithms();
        assert_eq!(
            algorithms.supported_schemes().first(),
            Some(&SignatureScheme::ECDSA_NISTP521_SHA512)
        );
        assert!(
            algorithms
                .supported_schemes()
                .contains(&SignatureScheme::ECDSA_NISTP256_SHA256)
        );
        assert!(
            algorithms
                .all
                .iter()
                .any(|a| a.public_key_alg_id() == alg_id::ECDSA_P521)
        );
    }

    #[test]
    fn client_cert_is_pinned_byte_for_byte() {
        let pinned = CertificateDer::from(vec![1u8, 2, 3]);
        let verifier = PinnedClientCert::new(pinned.clone(), supported_algorithms());
        assert!(verifier.client_auth_mandatory());
        assert!(verifier.verify_client_cert(&pinned, &[], UnixTime::now()).is_ok());
        let other = CertificateDer::from(vec![1u8, 2, 4]);
        let err = verifier.verify_client_cert(&other, &[], UnixTime::now()).unwrap_err();
        assert!(err.to_string().contains("PLUGIN_CLIENT_CERT"), "{err}");
    }

    #[test]
    fn client_cert_pem_must_hold_a_certificate() {
        assert!(matches!(parse_client_cert("not pem"), Err(TlsError::ClientCert(_))));
        let identity = ServerIdentity::generate().unwrap();
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, identity.cert_der());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        );
        assert_eq!(parse_client_cert(&pem).unwrap().as_ref(), identity.cert_der());
    }

    #[test]
    fn server_identity_is_fresh_and_key_is_not_in_debug() {
        let a = ServerIdentity::generate().unwrap();
        let b = ServerIdentity::generate().unwrap();
        assert_ne!(a.cert_der(), b.cert_der());
        let debug = format!("{a:?}");
        assert!(!debug.contains("key:"), "{debug}");
    }
}
