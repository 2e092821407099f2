//! Reading the PEM files of TLS settings (gRPC and ClickHouse clients), with errors naming the
//! file.

use std::path::Path;

use crate::{Error, Result};

/// The bytes of the `what` file at `path`; an error naming both when it cannot be read.
pub(crate) fn read(what: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Other {
        context: format!("cannot read the {what} {}", path.display()),
        source: Box::new(e),
    })
}

/// The certificates of the PEM file at `path` (at least one).
#[cfg(feature = "clickhouse")]
pub(crate) fn certificates(
    what: &str,
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let bytes = read(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::Settings(format!(
                "the {what} {} is not valid PEM: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::Settings(format!(
            "the {what} {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The private key of the PEM file at `path` (PKCS#8, PKCS#1 or SEC1).
#[cfg(feature = "clickhouse")]
pub(crate) fn private_key(
    what: &str,
    path: &Path,
) -> Result<rustls::pki_types::PrivateKeyDer<'static>> {
    use rustls::pki_types::{PrivateKeyDer, pem::PemObject};
    let bytes = read(what, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        Error::Settings(format!(
            "the {what} {} holds no usable PEM private key: {e}",
            path.display()
        ))
    })
}
