//! The `flowlogs-pipeline` binary, run as a user runs it; cargo builds it for these tests.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netobserv_flow::codec::json;
use netobserv_flow::config::IngestSynthetic;
use netobserv_flow::stages::synthetic::SyntheticSource;

/// The binary, with none of the developer's logging environment.
fn flp() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowlogs-pipeline"));
    c.env_remove("RUST_LOG").env_remove("NO_COLOR");
    c
}

/// The repository's `testdata/` folder.
fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(rel)
}

/// Reads one sample's value from the Prometheus text exposition.
fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

const STDIN_CONFIG: &str = r#"
metricsSettings: {port: 0}
pipeline:
  - name: in
  - name: gen
    follows: in
  - name: f
    follows: gen
  - name: out
    follows: f
parameters:
  - name: in
    ingest: {type: stdin}
  - name: gen
    transform:
      type: generic
      generic:
        rules:
          - {input: Bytes, output: SampledBytes, multiplier: 50}
  - name: f
    transform:
      type: filter
      filter:
        rules:
          - type: keep_entry_query
            keepEntryQuery: 'Proto=6 and SrcK8S_Namespace=~"^(frontend|backend)$"'
  - name: out
    write: {type: stdout, stdout: {format: json}}
"#;

#[test]
fn stdin_to_stdout_writes_every_flow_before_exiting() {
    let mut src = SyntheticSource::new(&IngestSynthetic {
        connections: Some(300),
        seed: Some(9),
        ..Default::default()
    });
    let flows: Vec<_> = (0..20_000)
        .map(|i| src.next_flow(1_700_000_000_000 + i))
        .collect();
    let mut input = Vec::new();
    let mut want = Vec::new();
    let mut first_bad = None;
    for (i, f) in flows.iter().enumerate() {
        json::encode(f, &mut input);
        input.push(b'\n');
        if i % 1000 == 1 {
            first_bad.get_or_insert(input.len());
            input.extend_from_slice(b"{\"SrcPort\": \"http\"}\n{broken\n");
        }
        let ns = f.src_k8s_namespace().unwrap();
        if f.proto() == Some(6) && (ns == "frontend" || ns == "backend") {
            let mut g = f.clone();
            g.extra_insert(
                "SampledBytes",
                netobserv_flow::Value::UInt(f.bytes().unwrap() * 50),
            );
            want.push(json::to_string(&g));
        }
    }
    assert!(want.len() > 2000, "test input too thin: {}", want.len());
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("flp.yaml");
    std::fs::write(&cfg, STDIN_CONFIG).unwrap();
    let input = std::sync::Arc::new(input);
    // One worker keeps the input order; two may reorder batches, never lose or change a flow.
    for workers in ["1", "2"] {
        let mut child = flp()
            .args(["--config", cfg.to_str().unwrap(), "--workers", workers])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = input.clone();
        let writer = std::thread::spawn(move || stdin.write_all(&data).unwrap());
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
        let mut got: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
        let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
        assert_eq!(got.len(), want.len());
        if workers != "1" {
            got.sort_unstable();
            want.sort_unstable();
        }
        assert!(
            got.iter().zip(&want).all(|(g, w)| g == w),
            "output differs from the expected flows ({workers} workers)"
        );
        // The first bad line comes after two flows; the log is rate-limited, so with two
        // workers another chunk's bad line may be the one logged.
        // The offset is that of the byte decoding stopped at, in the whole input: the end of
        // `"http"` (byte 17 of the line).
        if workers == "1" {
            let at = format!(
                "<stdin>: invalid json at byte {}: SrcPort: ",
                first_bad.unwrap() + 17
            );
            assert!(stderr.contains(&at), "no {at:?} in {stderr}");
        }
        assert!(stderr.contains("done: "), "{stderr}");
        // The summary at exit: what each stage read, passed and refused.
        assert!(
            stderr.contains("stage \"in\": 20000 read, 40 rejected (json: 40)"),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "stage \"out\": {} in, {} written",
                want.len(),
                want.len()
            )),
            "{stderr}"
        );
    }
}

#[test]
fn bad_config_exits_2_with_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.yaml");
    std::fs::write(&cfg, "pipeline:\n  - name: a\nparameters:\n  - name: a\n    ingest:\n      type: stdin\n      stdn: {}\n").unwrap();
    let out = flp()
        .args(["--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("parameters[0].ingest") && err.contains("stdn"),
        "{err}"
    );

    std::fs::write(&cfg, "pipeline:\n  - name: a\nparameters:\n  - name: a\n    ingest: {type: collector, collector: {port: 2055}}\n").unwrap();
    let out = flp()
        .args(["--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "stage \"a\": ingest type \"collector\" is an upstream flowlogs-pipeline type"
        ),
        "{err}"
    );

    let out = flp()
        .args(["--config", "/nonexistent/flp.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // A metric prefix Prometheus forbids: a config error, not a panic.
    std::fs::write(&cfg, "metricsSettings: {prefix: flp-}\npipeline:\n  - name: a\nparameters:\n  - name: a\n    ingest: {type: stdin}\n").unwrap();
    let out = flp()
        .args(["--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("metricsSettings.prefix \"flp-\"") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn config_from_stdin() {
    let mut child = flp()
        .args(["--config", "-", "--check"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(STDIN_CONFIG.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn scrape(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    resp.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}

#[test]
fn sigterm_drains_and_metrics_are_served() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("flows.jsonl");
    let cfg = dir.path().join("flp.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"
metricsSettings: {{address: 127.0.0.1, port: {port}, prefix: netobserv_}}
pipeline:
  - name: syn
  - name: out
    follows: syn
parameters:
  - name: syn
    ingest: {{type: synthetic, synthetic: {{flowLogsPerMin: 600000, batchMaxLen: 50}}}}
  - name: out
    write: {{type: file, file: {{filename: "{}"}}}}
"#,
            out_file.display()
        ),
    )
    .unwrap();
    let mut child = flp()
        .args(["--config", cfg.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        if let Some(t) = scrape(port)
            && metric(&t, "netobserv_records_written{stage=\"out\"}").is_some_and(|v| v >= 500.0)
        {
            break t;
        }
        assert!(Instant::now() < deadline, "no metrics within 20s");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        metric(&text, "netobserv_ingest_flows_processed{stage=\"syn\"}").unwrap() >= 500.0,
        "{text}"
    );
    assert!(
        text.contains("netobserv_stage_in_queue_size{stage=\"out\"}"),
        "{text}"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    let written = std::fs::read_to_string(&out_file).unwrap();
    let n = written
        .lines()
        .inspect(|l| assert!(json::decode(l.as_bytes()).is_ok(), "{l}"))
        .count();
    assert!(n >= 500, "{n} flows written");
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
}

/// `--check` of the config the README's run command uses; it must pass.
fn check_run_command_config() -> std::process::Output {
    let out = flp()
        .args([
            "--config",
            testdata("configs/synthetic-filter-stdout.yaml")
                .to_str()
                .unwrap(),
            "--check",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    out
}

#[test]
fn check_names_what_it_checked_and_every_unsupported_stage_at_once() {
    let out = check_run_command_config();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("configuration is valid: 4 stages (synthetic → rename → filter → stdout)"),
        "{stdout}"
    );
    let out = flp()
        .args([
            "--config",
            testdata("configs/operator-full.yaml").to_str().unwrap(),
            "--check",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for stage in ["extract_conntrack", "loki"] {
        assert!(
            err.contains(&format!("stage {stage:?}")),
            "{stage} not named: {err}"
        );
    }
    // Kafka and Prometheus run now (netobserv-sinks), and the network stages (netobserv-enrich).
    for stage in ["kafka-read", "prometheus", "enrich", "subnets"] {
        assert!(!err.contains(&format!("stage {stage:?}")), "{stage}: {err}");
    }
    assert!(
        err.contains("this build cannot run 2 of the configured stages"),
        "{err}"
    );
}

/// Runs synthetic flows into a stdout pipe nobody reads, so the writer blocks and the drain
/// cannot finish; returns the child once the pipe is full.
fn stuck_writer(extra: &[&str]) -> (std::process::Child, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("flp.yaml");
    std::fs::write(
        &cfg,
        "metricsSettings: {port: 0}\npipeline:\n  - name: syn\n  - name: out\n    follows: syn\nparameters:\n  - name: syn\n    ingest: {type: synthetic, synthetic: {flowLogsPerMin: 0, batchMaxLen: 100}}\n  - name: out\n    write: {type: stdout, stdout: {format: json}}\n",
    )
    .unwrap();
    let child = flp()
        .args(["--config", cfg.to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    (child, dir)
}

fn term(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(
    child: &mut std::process::Child,
    within: Duration,
) -> (std::process::ExitStatus, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < within, "still running after {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

#[test]
fn drain_deadline_and_second_signal_exit_1_saying_what_was_lost() {
    // The deadline: one SIGTERM, the writer never gets through, exit 1 after the deadline.
    let (mut child, _dir) = stuck_writer(&["--drain-timeout", "500ms"]);
    term(&child);
    let (status, stderr) = wait_exit(&mut child, Duration::from_secs(15));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("drain deadline (500ms) passed"), "{stderr}");
    assert!(stderr.contains("lost:"), "{stderr}");

    // A second signal: the default 25 s deadline is not waited for.
    let (mut child, _dir) = stuck_writer(&[]);
    term(&child);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited before the drain could finish"
    );
    term(&child);
    let (status, stderr) = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("stopped at once"), "{stderr}");
}

/// A config whose filter names a misspelt field, so that `--check` logs one start-up warning.
const WARNING_CONFIG: &str = r#"
metricsSettings: {port: 0}
pipeline:
  - name: syn
  - name: f
    follows: syn
  - name: out
    follows: f
parameters:
  - name: syn
    ingest: {type: synthetic, synthetic: {flowLogsPerMin: 0}}
  - name: f
    transform:
      type: filter
      filter:
        rules:
          - {type: keep_entry_query, keepEntryQuery: 'SrcK8S_Namespce="x"'}
  - name: out
    write: {type: stdout, stdout: {format: json}}
"#;

/// Runs `--check` on [`WARNING_CONFIG`] (with `log-level: <level>` first when given), the extra
/// arguments and environment; returns the exit code and standard error.
fn check(level: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("flp.yaml");
    let head = level
        .map(|l| format!("log-level: {l}\n"))
        .unwrap_or_default();
    std::fs::write(&cfg, head + WARNING_CONFIG).unwrap();
    let out = flp()
        .args(["--config", cfg.to_str().unwrap(), "--check"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

const WARNING: &str = "field \"SrcK8S_Namespce\" is neither a flow field";

#[test]
fn an_unknown_log_level_is_a_config_error_naming_the_accepted_levels() {
    let accepted = "(expected one of: trace, debug, info, warning, warn, error, fatal, panic)";
    let (code, err) = check(Some("verbose"), &[], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "log-level: \"verbose\" is not a log level {accepted}"
        )),
        "{err}"
    );
    // Even when the flag overrides it: `--check` is there to catch it.
    let (code, err) = check(Some("verbose"), &["--log-level", "info"], &[]);
    assert_eq!(code, Some(2), "{err}");

    let (code, err) = check(None, &["--log-level", "verbose"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--log-level")
            && err.contains(&format!("\"verbose\" is not a log level {accepted}")),
        "{err}"
    );

    let (code, err) = check(None, &[], &[("RUST_LOG", "netobserv_flow=loud")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("RUST_LOG: \"netobserv_flow=loud\""), "{err}");
}

#[test]
fn upstream_level_names_and_rust_log_set_what_is_logged() {
    for (level, args, env, shown) in [
        (None, &[][..], &[][..], true),
        (None, &["--log-level", "warning"][..], &[][..], true),
        (None, &["--log-level", "WARN"], &[], true),
        (Some("warning"), &[], &[], true),
        (Some("error"), &[], &[], false),
        (Some("fatal"), &[], &[], false),
        (None, &["--log-level", "panic"], &[], false),
        // The flag overrides the config.
        (Some("error"), &["--log-level", "warn"], &[], true),
        (Some("warning"), &["--log-level", "error"], &[], false),
        // RUST_LOG, when set, takes precedence over both, module by module.
        (
            Some("warning"),
            &["--log-level", "warn"],
            &[("RUST_LOG", "error")],
            false,
        ),
        (
            Some("error"),
            &[],
            &[("RUST_LOG", "error,flowlogs_pipeline=warn")],
            true,
        ),
        (Some("warning"), &[], &[("RUST_LOG", "")], true),
    ] {
        let (code, err) = check(level, args, env);
        assert_eq!(code, Some(0), "{level:?} {args:?} {env:?}: {err}");
        assert_eq!(
            err.contains(WARNING),
            shown,
            "{level:?} {args:?} {env:?}: {err}"
        );
    }
}

#[test]
fn logs_have_no_colour_codes_unless_stderr_is_a_terminal() {
    let (code, err) = check(None, &[], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains(WARNING), "{err}");
    assert!(!err.contains('\x1b'), "colour codes in a pipe: {err:?}");

    assert!(
        on_a_terminal(&[]).contains('\x1b'),
        "no colour on a terminal"
    );
    let err = on_a_terminal(&[("NO_COLOR", "1")]);
    assert!(err.contains(WARNING), "{err}");
    assert!(!err.contains('\x1b'), "colour codes with NO_COLOR: {err:?}");
}

/// Runs `--check` on [`WARNING_CONFIG`] with standard error on a pseudo-terminal (standard
/// output stays a pipe); returns what reached the terminal.
fn on_a_terminal(env: &[(&str, &str)]) -> String {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("flp.yaml");
    std::fs::write(&cfg, WARNING_CONFIG).unwrap();
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let mut child = flp()
        .args(["--config", cfg.to_str().unwrap(), "--check"])
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(terminal)
        .spawn()
        .unwrap();
    // Read while it runs; the read ends (EIO) once the child, the last holder of the
    // terminal, has exited.
    let reader = std::thread::spawn(move || {
        let mut master = std::fs::File::from(master);
        let mut got = Vec::new();
        let mut buf = [0; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(got).unwrap()
    });
    let status = child.wait().unwrap();
    drop(child);
    let got = reader.join().unwrap();
    assert!(status.success(), "{status:?}: {got}");
    got
}

#[test]
fn a_closed_stdout_is_said_once_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("flp.yaml");
    std::fs::write(
        &cfg,
        "metricsSettings: {port: 0}\npipeline:\n  - name: syn\n  - name: out\n    follows: syn\nparameters:\n  - name: syn\n    ingest: {type: synthetic, synthetic: {flowLogsPerMin: 0, batchMaxLen: 100}}\n  - name: out\n    write: {type: stdout, stdout: {format: json}}\n",
    )
    .unwrap();
    let mut child = flp()
        .args(["--config", cfg.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    let flow: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert!(flow.get("Proto").is_some(), "{first}");
    drop(stdout);
    let (status, stderr) = wait_exit(&mut child, Duration::from_secs(15));
    assert_eq!(status.code(), Some(1), "{stderr}");
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("Broken pipe"))
        .collect();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(said[0].contains("stage \"out\""), "{stderr}");
    assert!(!stderr.contains("invalid configuration"), "{stderr}");
}

/// The body of the first fenced block marked `info` after `heading` in the README.
fn readme_block(readme: &str, heading: &str, info: &str) -> String {
    let section = &readme[readme.find(heading).unwrap()..];
    let open = format!("```{info}\n");
    let body = &section[section.find(&open).unwrap() + open.len()..];
    body[..body.find("```\n").unwrap()].to_string()
}

#[test]
fn the_readme_shows_the_config_the_run_command_uses_and_what_check_prints() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let path = "testdata/configs/synthetic-filter-stdout.yaml";
    let run = readme_block(&readme, "## The two commands", "sh");
    assert!(run.contains(&format!("--config {path}")), "{run}");
    let shown = readme_block(&readme, "## A config that runs", "yaml");
    let file = std::fs::read_to_string(testdata("configs/synthetic-filter-stdout.yaml")).unwrap();
    assert_eq!(shown, file, "the README's config is not {path}");

    let session = readme_block(&readme, "## A config that runs", "console");
    let (command, printed) = session.split_once('\n').unwrap();
    assert!(
        command.ends_with(&format!("--config {path} --check")),
        "{command}"
    );
    let out = check_run_command_config();
    assert_eq!(printed, String::from_utf8(out.stdout).unwrap());
}

#[test]
fn an_flp_config_can_start_with_the_ebpf_agent() {
    // The stage loads the agent's programs (root, as CI runs) without attaching: --check only.
    let config = r#"
pipeline:
  - name: agent
  - name: out
    follows: agent
parameters:
  - name: agent
    ingest:
      type: ebpf
      ebpf: {cacheActiveTimeout: 1s, sampling: 10, enableDnsTracking: true, interfaces: [nosuchdev0]}
  - name: out
    write: {type: stdout, stdout: {format: json}}
"#;
    let mut child = flp()
        .args(["--config", "-", "--check"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(config.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("configuration is valid: 2 stages (agent → out)"),
        "{stdout}"
    );
    // A setting the stage does not know is refused with its path.
    let mut child = flp()
        .args(["--config", "-", "--check"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(config.replace("sampling: 10", "samplin: 10").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("parameters[0].ingest.ebpf") && err.contains("samplin"),
        "{err}"
    );
}
