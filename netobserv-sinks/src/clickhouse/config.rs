//! `write.clickhouse` settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use netobserv_flow::config::{ClientTls, GoDuration};

/// `write.clickhouse` settings. Durations use Go's notation (`500ms`, `2s`, `1m`).
///
/// ```yaml
/// write:
///   type: clickhouse
///   clickhouse:
///     url: http://127.0.0.1:8123
///     database: netobserv
///     table: flows
///     batchRows: 50000
///     maxWait: 1s
///     retentionDays: 7
///     tls:                          # https:// URLs only
///       caCertPath: /etc/ca.pem     # the system's roots without it
///       userCertPath: /etc/user.pem # mutual TLS, with userKeyPath
///       userKeyPath: /etc/user.key
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClickHouseConfig {
    /// The HTTP(S) interface (default `http://127.0.0.1:8123`). `https://` URLs are verified
    /// against the system's roots (`SSL_CERT_FILE` adds a CA bundle) unless `tls` says otherwise.
    #[serde(default = "default_url")]
    pub url: String,
    /// The database (default `netobserv`; created with the schema).
    #[serde(default = "default_database")]
    pub database: String,
    /// The raw flows table (default `flows`); the rollups and versions tables are named after it.
    #[serde(default = "default_table")]
    pub table: String,
    /// User name (the server's `default` user when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Flows per INSERT at most (default 50000).
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
    /// Encoded bytes per INSERT at most (default 64 MiB): a batch is sent once it is past it.
    #[serde(default = "default_batch_bytes")]
    pub batch_bytes: usize,
    /// How long the first flow of a batch waits for more (default `1s`).
    #[serde(default = "default_max_wait")]
    pub max_wait: GoDuration,
    /// Wait before the first retry of a failed INSERT (default `200ms`); doubled at each retry.
    #[serde(default = "default_initial_backoff")]
    pub retry_initial_backoff: GoDuration,
    /// Longest wait between retries (default `10s`).
    #[serde(default = "default_max_backoff")]
    pub retry_max_backoff: GoDuration,
    /// Retries of an INSERT before its flows are errored (not acknowledged); 0 (the default)
    /// retries until ClickHouse answers, holding the pipeline back meanwhile.
    #[serde(default)]
    pub max_retries: u32,
    /// Creates and migrates the schema at start (default `true`); when `false` the table must
    /// exist and the sink writes the catalogue fields it has columns for.
    #[serde(default = "yes")]
    pub create_schema: bool,
    /// Days raw flows are kept (`TTL` on modern servers, old partitions dropped on 18.16);
    /// 0 (the default) keeps them.
    #[serde(default)]
    pub retention_days: u32,
    /// Days the rollups are kept; 0 (the default) keeps them.
    #[serde(default)]
    pub rollup_retention_days: u32,
    /// LZ4-compress INSERT bodies (default `true`).
    #[serde(default = "yes")]
    pub compression: bool,
    /// Timeout of one INSERT (default `60s`).
    #[serde(default = "default_timeout")]
    pub timeout: GoDuration,
    /// TLS of an `https://` URL, with upstream's client TLS keys: `caCertPath` (PEM CA the
    /// server's certificate is verified against instead of the system's roots), `userCertPath`
    /// and `userKeyPath` (PEM client certificate and key, mutual TLS), `insecureSkipVerify`
    /// (no verification of the server). The files are read when the stage is built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTls>,
}

fn default_url() -> String {
    "http://127.0.0.1:8123".into()
}
fn default_database() -> String {
    "netobserv".into()
}
fn default_table() -> String {
    "flows".into()
}
fn default_batch_rows() -> usize {
    50_000
}
fn default_batch_bytes() -> usize {
    64 << 20
}
fn default_max_wait() -> GoDuration {
    GoDuration(Duration::from_secs(1))
}
fn default_initial_backoff() -> GoDuration {
    GoDuration(Duration::from_millis(200))
}
fn default_max_backoff() -> GoDuration {
    GoDuration(Duration::from_secs(10))
}
fn default_timeout() -> GoDuration {
    GoDuration(Duration::from_secs(60))
}
fn yes() -> bool {
    true
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: default_url(),
            database: default_database(),
            table: default_table(),
            user: None,
            password: None,
            batch_rows: default_batch_rows(),
            batch_bytes: default_batch_bytes(),
            max_wait: default_max_wait(),
            retry_initial_backoff: default_initial_backoff(),
            retry_max_backoff: default_max_backoff(),
            max_retries: 0,
            create_schema: true,
            retention_days: 0,
            rollup_retention_days: 0,
            compression: true,
            timeout: default_timeout(),
            tls: None,
        }
    }
}

impl ClickHouseConfig {
    /// The settings for `url`, `database` and `table`, others at their defaults.
    pub fn new(
        url: impl Into<String>,
        database: impl Into<String>,
        table: impl Into<String>,
    ) -> Self {
        ClickHouseConfig {
            url: url.into(),
            database: database.into(),
            table: table.into(),
            ..Default::default()
        }
    }

    /// The settings that cannot work, as a message.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(format!(
                "url {:?} is not an http:// or https:// URL (ClickHouse's HTTP interface)",
                self.url
            ));
        }
        if self.database.is_empty() || self.table.is_empty() {
            return Err("database and table must not be empty".into());
        }
        if self.tls.is_some() && !self.url.starts_with("https://") {
            return Err(format!(
                "tls is set but url {:?} is not an https:// URL",
                self.url
            ));
        }
        if self.batch_rows == 0 || self.batch_bytes == 0 {
            return Err("batchRows and batchBytes must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_yaml_with_defaults_and_refuses_unknown_keys() {
        let c: ClickHouseConfig =
            serde_yaml_ng::from_str("url: http://h:8123\nbatchRows: 10\nmaxWait: 250ms\n").unwrap();
        assert_eq!(c.url, "http://h:8123");
        assert_eq!(c.batch_rows, 10);
        assert_eq!(c.max_wait.0, Duration::from_millis(250));
        assert_eq!(c.table, "flows");
        assert!(c.create_schema);
        let err = serde_yaml_ng::from_str::<ClickHouseConfig>("batchRow: 10\n").unwrap_err();
        assert!(err.to_string().contains("batchRow"), "{err}");
        assert!(
            ClickHouseConfig::new("tcp://h:9000", "d", "t")
                .validate()
                .is_err()
        );
    }

    #[test]
    fn reads_upstreams_tls_keys_and_wants_https() {
        let c: ClickHouseConfig = serde_yaml_ng::from_str(
            "url: https://h:8443\ntls: {caCertPath: /ca.pem, userCertPath: /u.pem, userKeyPath: /u.key, insecureSkipVerify: false}\n",
        )
        .unwrap();
        let tls = c.tls.clone().unwrap();
        assert_eq!(tls.ca_cert_path.as_deref(), Some("/ca.pem"));
        assert_eq!(tls.user_cert_path.as_deref(), Some("/u.pem"));
        assert_eq!(tls.user_key_path.as_deref(), Some("/u.key"));
        assert_eq!(tls.insecure_skip_verify, Some(false));
        assert_eq!(c.validate(), Ok(()));
        let err =
            serde_yaml_ng::from_str::<ClickHouseConfig>("tls: {caCert: /ca.pem}\n").unwrap_err();
        assert!(err.to_string().contains("caCert"), "{err}");
        let plain = ClickHouseConfig {
            url: "http://h:8123".into(),
            ..c
        };
        assert!(plain.validate().unwrap_err().contains("not an https://"));
    }
}
