//! The HTTPS client of the `tls` section: rustls (ring provider) under the `clickhouse` crate's
//! hyper client, with a private CA, a client certificate (mutual TLS) or no verification.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::ConfigBuilderExt;
use hyper_util::client::legacy::{Client as HyperClient, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use netobserv_flow::config::ClientTls;

use crate::{Error, Result, pem};

/// As the `clickhouse` crate's own client: TCP keepalive, and idle connections dropped before
/// ClickHouse's 3 s keep-alive timeout closes them.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// The rustls configuration `tls` asks for: the server verified against `caCertPath` (the
/// system's roots without it) or not at all (`insecureSkipVerify`), and the client certificate
/// of `userCertPath` / `userKeyPath` when both are set. Reads the files.
pub fn client_config(tls: &ClientTls) -> Result<ClientConfig> {
    // ring, as the clickhouse crate's own client (`rustls-tls-ring`): aws-lc-rs next to ring makes
    // rustls panic; ring's provider is deprecated in 0.23.48 only for lacking post-quantum groups.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Settings(format!("tls: {e}")))?;
    let builder = if tls.insecure_skip_verify == Some(true) {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else if let Some(ca) = &tls.ca_cert_path {
        let mut roots = RootCertStore::empty();
        for cert in pem::certificates("CA certificate (tls.caCertPath)", Path::new(ca))? {
            roots.add(cert).map_err(|e| {
                Error::Settings(format!(
                    "the CA certificate (tls.caCertPath) {ca} cannot be used: {e}"
                ))
            })?;
        }
        builder.with_root_certificates(roots)
    } else {
        builder.with_native_roots().map_err(|e| Error::Other {
            context: "tls: cannot load the system's root certificates".into(),
            source: Box::new(e),
        })?
    };
    match (&tls.user_cert_path, &tls.user_key_path) {
        (Some(cert), Some(key)) => {
            let certs =
                pem::certificates("client certificate (tls.userCertPath)", Path::new(cert))?;
            let key = pem::private_key("client key (tls.userKeyPath)", Path::new(key))?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                Error::Settings(format!(
                    "the client certificate {cert} and key {key} do not make a TLS identity: {e}",
                    key = tls.user_key_path.as_deref().unwrap_or_default()
                ))
            })
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(Error::Settings(
            "mutual TLS needs both tls.userCertPath and tls.userKeyPath".into(),
        )),
    }
}

/// A `clickhouse` client whose HTTPS connections use `tls` (plain `http://` URLs are refused by
/// the settings check before this).
pub fn client(tls: &ClientTls) -> Result<clickhouse::Client> {
    let config = client_config(tls)?;
    let mut http = HttpConnector::new();
    http.set_keepalive(Some(TCP_KEEPALIVE));
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    let hyper = HyperClient::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(connector);
    Ok(clickhouse::Client::with_http_client(hyper))
}

/// `insecureSkipVerify`: any server certificate is accepted; the handshake signatures are still
/// checked (the connection is encrypted, the server unauthenticated).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_an_identity_and_unreadable_files_are_settings_errors() {
        let tls = ClientTls {
            insecure_skip_verify: Some(true),
            user_cert_path: Some("/nonexistent/user.pem".into()),
            ..Default::default()
        };
        let err = client_config(&tls).unwrap_err();
        assert!(matches!(err, Error::Settings(_)), "{err}");
        assert!(err.to_string().contains("userKeyPath"), "{err}");
        let tls = ClientTls {
            ca_cert_path: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let err = client_config(&tls).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }
}
