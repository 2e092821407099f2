//! What producers and consumers share: TLS and SASL settings in librdkafka's terms, compression,
//! and the backoff used while a broker is unreachable.

use std::time::Duration;

use netobserv_flow::config::{ClientTls, Sasl};
use rdkafka::ClientConfig;

use crate::{Error, Result};

/// Compression of produced message batches (`compression.codec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// None (upstream's default).
    #[default]
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// Parses upstream's names (`none`, `gzip`, `snappy`, `lz4`, `zstd`; case-insensitive).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "" | "none" => Compression::None,
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            "lz4" => Compression::Lz4,
            "zstd" => Compression::Zstd,
            other => {
                return Err(Error::Settings(format!(
                    "unknown kafka compression {other:?} (expected one of: none, gzip, snappy, lz4, zstd)"
                )));
            }
        })
    }

    /// librdkafka's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Sets `security.protocol` and the TLS / SASL keys of `cfg` from upstream's settings. SASL
/// credentials are read from the files the settings name (as upstream does: Kubernetes secrets
/// mounted as files).
pub fn apply_security(
    cfg: &mut ClientConfig,
    tls: Option<&ClientTls>,
    sasl: Option<&Sasl>,
) -> Result<()> {
    if let Some(tls) = tls {
        if let Some(ca) = &tls.ca_cert_path {
            cfg.set("ssl.ca.location", ca);
        }
        if let Some(cert) = &tls.user_cert_path {
            cfg.set("ssl.certificate.location", cert);
        }
        if let Some(key) = &tls.user_key_path {
            cfg.set("ssl.key.location", key);
        }
        if tls.insecure_skip_verify == Some(true) {
            cfg.set("enable.ssl.certificate.verification", "false");
        }
    }
    let protocol = match (tls.is_some(), sasl.is_some()) {
        (false, false) => "plaintext",
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    cfg.set("security.protocol", protocol);
    if let Some(sasl) = sasl {
        let mechanism = match sasl.r#type.as_deref().unwrap_or("plain") {
            "plain" | "PLAIN" => "PLAIN",
            "scramSHA512" | "SCRAM-SHA-512" => "SCRAM-SHA-512",
            "scramSHA256" | "SCRAM-SHA-256" => "SCRAM-SHA-256",
            other => {
                return Err(Error::Settings(format!(
                    "unknown kafka sasl type {other:?} (expected one of: plain, scramSHA512, scramSHA256)"
                )));
            }
        };
        cfg.set("sasl.mechanism", mechanism);
        cfg.set(
            "sasl.username",
            read_secret(sasl.client_id_path.as_deref(), "clientIDPath")?,
        );
        cfg.set(
            "sasl.password",
            read_secret(sasl.client_secret_path.as_deref(), "clientSecretPath")?,
        );
    }
    Ok(())
}

fn read_secret(path: Option<&str>, key: &str) -> Result<String> {
    let path = path.ok_or_else(|| {
        Error::Settings(format!(
            "kafka sasl: {key} is required (a file holding the value)"
        ))
    })?;
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| Error::Other {
            context: format!("kafka sasl: cannot read {key} {path:?}"),
            source: Box::new(e),
        })
}

/// Exponential backoff from 500 ms up to 30 s.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Backoff {
            next: Duration::from_millis(500),
        }
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Duration::from_secs(30));
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_keys_follow_tls_and_sasl() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user");
        let pass = dir.path().join("pass");
        std::fs::write(&user, "alice\n").unwrap();
        std::fs::write(&pass, "s3cret\n").unwrap();
        let mut cfg = ClientConfig::new();
        let tls = ClientTls {
            ca_cert_path: Some("/ca.pem".into()),
            insecure_skip_verify: Some(true),
            ..Default::default()
        };
        let sasl = Sasl {
            r#type: Some("scramSHA512".into()),
            client_id_path: Some(user.to_string_lossy().into()),
            client_secret_path: Some(pass.to_string_lossy().into()),
        };
        apply_security(&mut cfg, Some(&tls), Some(&sasl)).unwrap();
        assert_eq!(cfg.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(cfg.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(cfg.get("sasl.username"), Some("alice"));
        assert_eq!(cfg.get("sasl.password"), Some("s3cret"));
        assert_eq!(cfg.get("ssl.ca.location"), Some("/ca.pem"));
        assert_eq!(
            cfg.get("enable.ssl.certificate.verification"),
            Some("false")
        );
    }

    #[test]
    fn bad_settings_are_clear_errors() {
        let mut cfg = ClientConfig::new();
        let sasl = Sasl {
            r#type: Some("kerberos".into()),
            ..Default::default()
        };
        let e = apply_security(&mut cfg, None, Some(&sasl)).unwrap_err();
        assert!(e.to_string().contains("unknown kafka sasl type"), "{e}");
        let e = Compression::parse("brotli").unwrap_err();
        assert!(e.to_string().contains("expected one of"), "{e}");
        assert_eq!(Compression::parse("ZSTD").unwrap(), Compression::Zstd);
    }
}
