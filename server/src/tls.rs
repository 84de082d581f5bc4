//! HTTPS (`--tls-cert PEM --tls-key PEM`): a rustls server configuration from PEM files.
//!
//! rustls with the `ring` provider: pure Rust plus C that builds with the system's C compiler
//! alone, where aws-lc-rs (rustls' default) needs cmake (and nasm on some targets) at build
//! time; both are maintained and fast, and the server's TLS needs are ordinary (TLS 1.2 and
//! 1.3, rustls' safe defaults). The one thing ring lacks is post-quantum key exchange (see
//! [`server_config`]). Only HTTP/1.1 is offered (ALPN), as the server speaks nothing
//! else.
//!
//! Errors name the file: a certificate or key that cannot be read, holds no PEM item of its
//! kind, or a key that does not belong to the certificate is a startup error, never a
//! handshake failure found by the first client.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{flag} {}: cannot read: {source}", path.display())]
    Read {
        /// `--tls-cert` or `--tls-key`.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file holds no usable PEM item of the expected kind.
    #[error("{flag} {}: {what}", path.display())]
    Pem {
        /// `--tls-cert` or `--tls-key`.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What was wrong (no certificate, no private key, a malformed section).
        what: String,
    },
    /// The key was refused, or does not match the certificate.
    #[error("--tls-key {} does not fit --tls-cert {}: {message}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        message: String,
    },
}

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        flag,
        path: path.to_path_buf(),
        source,
    })
}

/// The rustls server configuration for a certificate chain and its private key (PEM files).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let pem_error = |flag, path: &Path, what: String| TlsError::Pem {
        flag,
        path: path.to_path_buf(),
        what,
    };
    let cert_pem = read("--tls-cert", cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error("--tls-cert", cert, format!("not a PEM certificate: {e}")))?;
    if chain.is_empty() {
        return Err(pem_error(
            "--tls-cert",
            cert,
            "no `BEGIN CERTIFICATE` section".into(),
        ));
    }
    let key_pem = read("--tls-key", key)?;
    // The key's bytes are secret: the message says what kind of problem, never the content.
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        pem_error(
            "--tls-key",
            key,
            format!("no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}"),
        )
    })?;
    // rustls 0.23.48 deprecates ring's provider because ring has no post-quantum key exchange
    // (X25519MLKEM768, which aws-lc-rs offers). Accepted: aws-lc-rs needs cmake to build, which
    // keel's build machines lack; TLS 1.3 with X25519 is what most clients negotiate today.
    // Moving to aws-lc-rs is a feature switch in the workspace manifest and this line.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mismatch = |e: rustls::Error| TlsError::Mismatch {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        message: e.to_string(),
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(mismatch)?
        .with_no_client_auth()
        // Checks that the key parses and that its public key is the certificate's.
        .with_single_cert(chain, private)
        .map_err(mismatch)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn files_are_checked_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let a = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = write(dir.path(), "cert.pem", &a.cert.pem());
        let key = write(dir.path(), "key.pem", &a.key_pair.serialize_pem());
        let other_key = write(dir.path(), "other.pem", &b.key_pair.serialize_pem());
        let junk = write(dir.path(), "junk.pem", "hello");
        assert!(server_config(&cert, &key).is_ok());
        let e = server_config(&cert, &other_key).unwrap_err().to_string();
        assert!(e.contains("other.pem") && e.contains("cert.pem"), "{e}");
        let e = server_config(&junk, &key).unwrap_err().to_string();
        assert!(e.starts_with("--tls-cert") && e.contains("junk.pem"), "{e}");
        let e = server_config(&cert, &junk).unwrap_err().to_string();
        assert!(e.starts_with("--tls-key") && e.contains("junk.pem"), "{e}");
        // A certificate given as the key: no private key in it.
        let e = server_config(&cert, &cert).unwrap_err().to_string();
        assert!(e.starts_with("--tls-key"), "{e}");
        let e = server_config(&dir.path().join("none.pem"), &key)
            .unwrap_err()
            .to_string();
        assert!(e.contains("none.pem") && e.contains("cannot read"), "{e}");
    }
}
