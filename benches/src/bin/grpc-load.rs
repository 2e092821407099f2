//! `ingest: grpc` throughput: runs the `flowlogs-pipeline` binary with `ingest: grpc → write:
//! none`, sends it pbflow `Records` (1,000 agent-shaped flows per call, as an agent batches them)
//! from this process over loopback, and reports the pipeline's flows per CPU-second (its user +
//! system time from /proc) and per wall second.
//!
//! ```sh
//! cargo build --release -p netobserv-bins
//! cargo run --release -p benches --bin grpc-load -- target/release/flowlogs-pipeline [calls]
//! ```

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use netobserv_sinks::grpc::proto::pbflow::collector_client::CollectorClient;

const PER_CALL: usize = 1000;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(flp) = args.get(1) else {
        bail!("usage: grpc-load PATH-TO-flowlogs-pipeline [calls]");
    };
    let calls: usize = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(2000);
    let port = 20_000 + (std::process::id() % 20_000) as u16;
    let config = format!(
        "pipeline: [{{name: in}}, {{name: out, follows: in}}]\n\
         parameters:\n\
         - {{name: in, ingest: {{type: grpc, grpc: {{port: {port}, address: 127.0.0.1}}}}}}\n\
         - {{name: out, write: {{type: none}}}}\n"
    );
    let mut child = Command::new(flp)
        .args(["--config", "-", "--log-level", "warn"])
        .stdin(Stdio::piped())
        .spawn()
        .context("starting flowlogs-pipeline")?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin.write_all(config.as_bytes())?;
    }
    let pid = child.id();
    let url = format!("http://127.0.0.1:{port}");
    let mut client = loop {
        match tonic::transport::Endpoint::from_shared(url.clone())?
            .connect()
            .await
        {
            Ok(ch) => break CollectorClient::new(ch),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let message = Bytes::from(netobserv_flow::codec::pbflow::encode_records(
        &benches::agent_flows(PER_CALL),
    ));
    // Warm up, then measure.
    for _ in 0..20 {
        client.send(message.clone()).await?;
    }
    let (cpu0, t0) = (benches::process_cpu_seconds(pid)?, Instant::now());
    for _ in 0..calls {
        client.send(message.clone()).await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // the last batches leave the queues
    let (cpu, wall) = (
        benches::process_cpu_seconds(pid)? - cpu0,
        t0.elapsed().as_secs_f64(),
    );
    let flows = (calls * PER_CALL) as f64;
    println!(
        "ingest: grpc -> write: none, {} flows in calls of {PER_CALL} ({} bytes each): pipeline {cpu:.2} CPU-s, {:.0} flows per CPU-second; {:.0} flows/s wall ({wall:.2} s, client on the same 2 cores)",
        calls * PER_CALL,
        message.len(),
        flows / cpu.max(0.01),
        flows / wall
    );
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    Ok(())
}
