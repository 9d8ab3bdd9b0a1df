//! TLS: the rustls client configuration (always verifying), readable certificate errors, and
//! the `tls-server-end-point` channel binding (RFC 5929) that Extended Protection checks.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, RootCertStore};
use sha2::Digest;

use crate::error::{ErrorClass, ErrorKind, EwsError};

/// Builds the client configuration: system roots, Mozilla's roots and the extra CA files.
/// HTTP/1.1 only (NTLM authenticates a connection, which HTTP/2 would multiplex).
pub fn client_config(ca_files: &[impl AsRef<Path>]) -> Result<Arc<rustls::ClientConfig>, EwsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A broken system certificate must not stop the others from loading.
        let _ = roots.add(cert);
    }
    for file in ca_files {
        let file = file.as_ref();
        let mut n = 0;
        let iter = CertificateDer::pem_file_iter(file).map_err(|e| {
            EwsError::new(ErrorClass::Fatal, ErrorKind::Config, format!("ca_file {}: {e}", file.display()))
        })?;
        for cert in iter {
            let cert = cert.map_err(|e| {
                EwsError::new(ErrorClass::Fatal, ErrorKind::Config, format!("ca_file {}: {e}", file.display()))
            })?;
            roots.add(cert).map_err(|e| {
                EwsError::new(
                    ErrorClass::Fatal,
                    ErrorKind::Config,
                    format!("ca_file {}: a certificate is not a usable CA: {e}", file.display()),
                )
            })?;
            n += 1;
        }
        if n == 0 {
            return Err(EwsError::new(
                ErrorClass::Fatal,
                ErrorKind::Config,
                format!("ca_file {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it", file.display()),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| EwsError::new(ErrorClass::Fatal, ErrorKind::Config, format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Explains a failed TLS handshake: which certificate problem, and what to do about it.
pub(crate) fn explain_handshake_error(err: &std::io::Error, host: &str) -> String {
    let rustls_err = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
    match rustls_err {
        Some(rustls::Error::InvalidCertificate(c)) => explain_certificate_error(c, host),
        Some(rustls::Error::AlertReceived(a)) => {
            format!("TLS handshake with {host} failed: the server sent alert {a:?}")
        }
        Some(rustls::Error::PeerIncompatible(p)) => {
            format!("TLS handshake with {host} failed: incompatible server ({p:?}); TLS 1.2 or 1.3 is required")
        }
        Some(other) => format!("TLS handshake with {host} failed: {other}"),
        None => format!("TLS handshake with {host} failed: {err} (is this port serving TLS?)"),
    }
}

fn explain_certificate_error(c: &CertificateError, host: &str) -> String {
    match c {
        CertificateError::UnknownIssuer => format!(
            "the certificate of {host} is not trusted (unknown issuer): add the issuing CA certificate (PEM) to ca_file"
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("the certificate of {host} has expired: {c}")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            format!("the certificate of {host} is not valid yet (check the clock): {c}")
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => format!(
            "the certificate of {host} does not match the host name (name mismatch): {c}; use a host name the certificate names in ews_url"
        ),
        CertificateError::Revoked => format!("the certificate of {host} has been revoked"),
        CertificateError::BadSignature => format!("the certificate of {host} has a bad signature"),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            format!("the certificate of {host} is not for TLS servers: {c}")
        }
        other => format!("the certificate of {host} was rejected: {other}"),
    }
}

/// `tls-server-end-point` channel binding application data: `"tls-server-end-point:"` followed
/// by the hash of the server's (leaf) certificate. The hash is the certificate's signature hash,
/// with MD5 and SHA-1 (and anything unrecognised) replaced by SHA-256, as RFC 5929 §4.1 says.
pub fn tls_server_end_point(cert_der: &[u8]) -> Vec<u8> {
    let mut out = b"tls-server-end-point:".to_vec();
    match signature_hash(cert_der) {
        SigHash::Sha384 => out.extend_from_slice(&sha2::Sha384::digest(cert_der)),
        SigHash::Sha512 => out.extend_from_slice(&sha2::Sha512::digest(cert_der)),
        SigHash::Sha256 => out.extend_from_slice(&sha2::Sha256::digest(cert_der)),
    }
    out
}

#[derive(Debug, PartialEq, Eq)]
enum SigHash {
    Sha256,
    Sha384,
    Sha512,
}

/// Reads `Certificate.signatureAlgorithm.algorithm` (the OID after the TBS certificate).
fn signature_hash(der: &[u8]) -> SigHash {
    fn header(b: &[u8]) -> Option<(u8, usize, usize)> {
        // (tag, header length, content length)
        let tag = *b.first()?;
        let first = *b.get(1)? as usize;
        if first < 0x80 {
            return Some((tag, 2, first));
        }
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        Some((tag, 2 + n, len))
    }
    let oid = (|| {
        let (tag, h, _) = header(der)?;
        if tag != 0x30 {
            return None;
        }
        let rest = &der[h..];
        let (tag, th, tl) = header(rest)?; // tbsCertificate
        if tag != 0x30 {
            return None;
        }
        let rest = rest.get(th + tl..)?;
        let (tag, ah, _) = header(rest)?; // signatureAlgorithm
        if tag != 0x30 {
            return None;
        }
        let rest = &rest[ah..];
        let (tag, oh, ol) = header(rest)?;
        if tag != 0x06 {
            return None;
        }
        rest.get(oh..oh + ol)
    })();
    // sha384WithRSAEncryption 1.2.840.113549.1.1.12, sha512WithRSAEncryption …1.13,
    // ecdsa-with-SHA384 1.2.840.10045.4.3.3, ecdsa-with-SHA512 …4.3.4.
    const RSA_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    match oid {
        Some(o) if o.len() == RSA_PREFIX.len() + 1 && o.starts_with(RSA_PREFIX) => match o[RSA_PREFIX.len()] {
            12 => SigHash::Sha384,
            13 => SigHash::Sha512,
            _ => SigHash::Sha256,
        },
        Some(o) if o.len() == ECDSA_PREFIX.len() + 1 && o.starts_with(ECDSA_PREFIX) => match o[ECDSA_PREFIX.len()] {
            3 => SigHash::Sha384,
            4 => SigHash::Sha512,
            _ => SigHash::Sha256,
        },
        _ => SigHash::Sha256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_with_sig_oid(oid: &[u8]) -> Vec<u8> {
        // SEQUENCE { SEQUENCE {} (tbs), SEQUENCE { OID }, BIT STRING {0} }
        let mut alg = vec![0x06, oid.len() as u8];
        alg.extend_from_slice(oid);
        let mut body = vec![0x30, 0x00, 0x30, alg.len() as u8];
        body.extend_from_slice(&alg);
        body.extend_from_slice(&[0x03, 0x01, 0x00]);
        let mut out = vec![0x30, body.len() as u8];
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn signature_hash_follows_rfc5929() {
        let rsa384 = cert_with_sig_oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 12]);
        assert_eq!(signature_hash(&rsa384), SigHash::Sha384);
        let rsa256 = cert_with_sig_oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 11]);
        assert_eq!(signature_hash(&rsa256), SigHash::Sha256);
        let rsa_sha1 = cert_with_sig_oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 5]);
        assert_eq!(signature_hash(&rsa_sha1), SigHash::Sha256);
        let ec512 = cert_with_sig_oid(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 4]);
        assert_eq!(signature_hash(&ec512), SigHash::Sha512);
        assert_eq!(signature_hash(b"garbage"), SigHash::Sha256);
        let cbt = tls_server_end_point(&rsa384);
        assert!(cbt.starts_with(b"tls-server-end-point:"));
        assert_eq!(cbt.len(), "tls-server-end-point:".len() + 48);
    }
}
