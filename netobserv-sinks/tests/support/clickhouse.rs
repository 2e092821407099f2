//! ClickHouse servers for the tests: the shared Debian 18.16 server CI starts
//! (`CLICKHOUSE_URL`), private 18.16 servers a test may kill and restart, and the chDB shim that
//! stands in for a modern server (see `chdb_http.py`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The shared 18.16 server: `CLICKHOUSE_URL`, by default `http://127.0.0.1:8123`.
pub fn shared_url() -> String {
    std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".to_string())
}

/// A name unique to this process and call, for databases and tables.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// This directory, from any crate of the workspace that includes this module (the examples'
/// tests do too).
fn support_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../netobserv-sinks/tests/support")
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether `GET /ping` on `127.0.0.1:port` answers `Ok.`.
pub fn pings(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply.contains("Ok.")
}

fn wait_ping(port: u16, timeout: Duration, what: &str) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if pings(port) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{what} does not answer /ping on 127.0.0.1:{port} after {timeout:?}")
}

/// A private Debian ClickHouse (18.16) server, its files in a temp dir; killed when dropped.
pub struct LegacyServer {
    dir: tempfile::TempDir,
    ports: [u16; 3],
    https: Option<Https>,
    pid: Option<u32>,
}

/// The HTTPS side of a [`LegacyServer`]: its port, PEM certificate and key, and the CA client
/// certificates must be signed by (mutual TLS) when set.
struct Https {
    port: u16,
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
}

impl LegacyServer {
    /// Starts one on free ports and waits until it answers.
    pub fn start() -> Result<Self> {
        let mut s = LegacyServer {
            dir: tempfile::tempdir()?,
            ports: [free_port()?, free_port()?, free_port()?],
            https: None,
            pid: None,
        };
        s.restart()?;
        Ok(s)
    }

    /// Starts one serving HTTPS too (18.16's `https_port` and `<openSSL><server>`), with the
    /// PEM certificate `cert` and key `key`; with `client_ca` it requires a client certificate
    /// signed by that CA (`verificationMode` strict). Waits until plain HTTP answers.
    pub fn start_https(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self> {
        let mut s = LegacyServer {
            dir: tempfile::tempdir()?,
            ports: [free_port()?, free_port()?, free_port()?],
            https: Some(Https {
                port: free_port()?,
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                client_ca: client_ca.map(Path::to_path_buf),
            }),
            pid: None,
        };
        s.restart()?;
        Ok(s)
    }

    /// Its HTTP URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports[0])
    }

    /// Its HTTPS URL (servers started with [`Self::start_https`]).
    pub fn https_url(&self) -> Option<String> {
        self.https
            .as_ref()
            .map(|h| format!("https://127.0.0.1:{}", h.port))
    }

    /// Kills it (SIGKILL: no flush, no goodbye) and waits until its port is closed.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(pid) = self.pid.take() {
            Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()?;
            let start = Instant::now();
            while Path::new(&format!("/proc/{pid}")).exists()
                && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| !s.contains(") Z "))
                    .unwrap_or(false)
            {
                if start.elapsed() > Duration::from_secs(10) {
                    bail!("clickhouse-server {pid} still runs 10 s after SIGKILL");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// Starts it again (same files, same ports) and waits until it answers.
    pub fn restart(&mut self) -> Result<()> {
        self.kill()?;
        let mut cmd = Command::new(support_dir().join("clickhouse_server.sh"));
        cmd.arg(self.dir.path())
            .args(self.ports.map(|p| p.to_string()));
        if let Some(h) = &self.https {
            cmd.arg(h.port.to_string()).arg(&h.cert).arg(&h.key);
            if let Some(ca) = &h.client_ca {
                cmd.arg(ca);
            }
        }
        let out = cmd
            .output()
            .context("running tests/support/clickhouse_server.sh")?;
        if !out.status.success() {
            bail!(
                "clickhouse_server.sh failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse()?;
        self.pid = Some(pid);
        wait_ping(self.ports[0], Duration::from_secs(30), "clickhouse-server").with_context(|| {
            format!(
                "its log: {}",
                std::fs::read_to_string(self.dir.path().join("log/server.err.log"))
                    .unwrap_or_default()
            )
        })
    }
}

impl Drop for LegacyServer {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// The chDB shim (`chdb_http.py`): it stands in for a modern ClickHouse server (26.x engine)
/// behind the HTTP interface; its session lives in a temp dir. Stopped when dropped. Clients use
/// `Compression::None`.
pub struct ChdbServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl ChdbServer {
    /// Starts one on a free port and waits until it answers.
    pub fn start() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut child = Command::new("python3")
            .arg(support_dir().join("chdb_http.py"))
            .arg("0")
            .arg(dir.path().join("session"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context(
                "starting python3 tests/support/chdb_http.py (needs `pip install chdb-core`)",
            )?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("shim stdout")?).read_line(&mut line)?;
        let port: u16 = match line.trim().strip_prefix("listening ") {
            Some(p) => p.parse()?,
            None => {
                let _ = child.kill();
                bail!("chdb_http.py did not start (printed {line:?}); is chdb-core installed?");
            }
        };
        wait_ping(port, Duration::from_secs(30), "chdb_http.py")?;
        Ok(ChdbServer {
            child,
            port,
            _dir: dir,
        })
    }

    /// Its HTTP URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for ChdbServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of `url` as the tests use it: no compression (the shim has none), no validation
/// (18.16 lacks `RowBinaryWithNamesAndTypes`).
pub fn client(url: &str) -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(url)
        .with_compression(clickhouse::Compression::None)
        .with_validation(false)
}
