//! TLS settings of the gRPC client and server (rustls with ring, through tonic).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::pem::read;
use crate::{Error, Result};

/// The client side: TLS when `ca_cert_path` is set, mutual TLS when the user certificate and key
/// are set too (the agent's `TARGET_TLS_CA_CERT_PATH`, `TARGET_TLS_USER_CERT_PATH`,
/// `TARGET_TLS_USER_KEY_PATH`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientTls {
    /// PEM file of the CA that signed the server's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_path: Option<PathBuf>,
    /// PEM file of the client's certificate (mutual TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_cert_path: Option<PathBuf>,
    /// PEM file of the client certificate's private key (mutual TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_key_path: Option<PathBuf>,
}

impl ClientTls {
    /// Whether TLS is asked for.
    pub fn enabled(&self) -> bool {
        self.ca_cert_path.is_some()
    }

    /// The tonic configuration, `None` without TLS. Reads the files.
    pub fn load(&self, domain: &str) -> Result<Option<ClientTlsConfig>> {
        let Some(ca) = &self.ca_cert_path else {
            if self.user_cert_path.is_some() || self.user_key_path.is_some() {
                return Err(Error::Settings(
                    "a client certificate needs the CA certificate of the server too (TARGET_TLS_CA_CERT_PATH, caCertPath)".into(),
                ));
            }
            return Ok(None);
        };
        let mut cfg = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read("CA certificate", ca)?))
            .domain_name(domain.trim_start_matches('[').trim_end_matches(']'));
        match (&self.user_cert_path, &self.user_key_path) {
            (Some(cert), Some(key)) => {
                cfg = cfg.identity(Identity::from_pem(
                    read("client certificate", cert)?,
                    read("client key", key)?,
                ));
            }
            (None, None) => {}
            _ => {
                return Err(Error::Settings(
                    "mutual TLS needs both the client certificate and its key (TARGET_TLS_USER_CERT_PATH and TARGET_TLS_USER_KEY_PATH, userCertPath and userKeyPath)".into(),
                ));
            }
        }
        Ok(Some(cfg))
    }
}

/// The server side, as upstream's `ingest.grpc` has it: TLS with `cert_path` and `key_path`,
/// mutual TLS when `client_ca_path` is set too.
pub fn server_tls(
    cert_path: Option<&Path>,
    key_path: Option<&Path>,
    client_ca_path: Option<&Path>,
) -> Result<Option<ServerTlsConfig>> {
    match (cert_path, key_path) {
        (None, None) => {
            if client_ca_path.is_some() {
                return Err(Error::Settings(
                    "clientCAPath needs certPath and keyPath (the server's own certificate)".into(),
                ));
            }
            Ok(None)
        }
        (Some(cert), Some(key)) => {
            let mut cfg = ServerTlsConfig::new().identity(Identity::from_pem(
                read("certificate", cert)?,
                read("key", key)?,
            ));
            if let Some(ca) = client_ca_path {
                cfg = cfg.client_ca_root(Certificate::from_pem(read("client CA", ca)?));
            }
            Ok(Some(cfg))
        }
        _ => Err(Error::Settings(
            "TLS needs both certPath and keyPath".into(),
        )),
    }
}
