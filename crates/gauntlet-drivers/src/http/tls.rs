//! The rustls client configuration, built once per [`HttpClient`](super::HttpClient)
//! and shared by every session (building it reads files and parses roots:
//! far too slow for a per-VU or per-connection step).
//!
//! The aws-lc-rs provider is passed explicitly: with two providers compiled
//! in (a dependency enabling `ring`), rustls' process default would panic.

use super::error::HttpConfigError;
use super::{HttpConfig, HttpVersionPref};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn pem_error(path: &Path, message: impl ToString) -> HttpConfigError {
    HttpConfigError::Pem {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, HttpConfigError> {
    std::fs::read(path).map_err(|e| pem_error(path, e))
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, HttpConfigError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(pem_error(path, "no PEM certificate in file"));
    }
    Ok(certs)
}

/// Build the shared client configuration: roots (webpki + `ca_certs`),
/// optional client certificate, verification policy, ALPN list.
pub(crate) fn client_config(
    cfg: &HttpConfig,
) -> Result<Arc<rustls::ClientConfig>, HttpConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for path in &cfg.ca_certs {
        for c in certs(path)? {
            roots.add(c).map_err(|e| pem_error(path, e))?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpConfigError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let mut config = match &cfg.client_cert {
        Some(cc) => {
            let chain = certs(&cc.cert)?;
            let key = PrivateKeyDer::from_pem_slice(&read(&cc.key)?)
                .map_err(|e| pem_error(&cc.key, e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| HttpConfigError::Tls(e.to_string()))?
        }
        None => builder.with_no_client_auth(),
    };
    if cfg.insecure_skip_tls_verify {
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(AcceptAnyCert(provider())));
    }
    config.alpn_protocols = match cfg.version {
        HttpVersionPref::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersionPref::Http2 => vec![b"h2".to_vec()],
        HttpVersionPref::Auto | HttpVersionPref::H2c => {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        }
    };
    // Every new connection pays a full handshake, like k6 (Go keeps no
    // session cache by default): resuming sessions across virtual users would
    // make the simulated clients cheaper for the server than real ones.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// `insecure_skip_tls_verify`: any certificate chain and name is accepted,
/// but handshake signatures are still checked (the peer must hold the key of
/// the certificate it presents).
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
