//! HTTPS for the emulator ([`crate::EmulatorConfig::tls`]).
//!
//! Salesforce is reached over HTTPS only, so clients under test should meet a
//! real TLS handshake and a real certificate check. At start the emulator
//! makes a throwaway certificate authority and a server certificate for
//! `127.0.0.1` and `localhost` signed by it (rcgen), and serves rustls on the
//! ring provider, the one the host's HTTP client uses. A client trusts the CA
//! ([`crate::Emulator::ca_pem`]) like any private CA; nothing here needs a
//! client to accept any certificate.

use std::io;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// A CA made for one emulator run and the TLS acceptor whose certificate it
/// signed.
#[derive(Clone)]
pub struct TlsIdentity {
    /// The CA certificate, PEM: what a client adds to its trusted roots.
    pub ca_pem: String,
    /// Accepts TLS connections with the server certificate.
    pub acceptor: TlsAcceptor,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

/// Names the server certificate is valid for: the loopback address the
/// emulator binds, and `localhost`.
const SERVER_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// Makes a fresh CA and a server certificate signed by it.
pub fn generate() -> io::Result<TlsIdentity> {
    let ca_key = KeyPair::generate().map_err(io::Error::other)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(io::Error::other)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "sf-emulator test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(io::Error::other)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().map_err(io::Error::other)?;
    let mut server_params = CertificateParams::new(SERVER_NAMES.map(str::to_owned).to_vec())
        .map_err(io::Error::other)?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "sf-emulator");
    server_params.use_authority_key_identifier_extension = true;
    server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .map_err(io::Error::other)?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    // The provider is named rather than taken from the process default, so a
    // process that links a second provider cannot make this ambiguous.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der().clone(), ca_cert.der().clone()], key)
        .map_err(io::Error::other)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsIdentity {
        ca_pem: ca_cert.pem(),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    })
}
