//! Golden files of upstream formats (see testdata/README.md for their provenance).

use netobserv_flow::codec::{arrow, json, pbflow};
use netobserv_flow::flow::TcpFlags;

use super::testdata;

#[test]
fn flp_json_round_trips_byte_for_byte() {
    let text = std::fs::read_to_string(testdata("flows/flp-output.jsonl")).unwrap();
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let flow = json::decode(line.as_bytes()).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        assert_eq!(json::to_string(&flow), line, "line {}", i + 1);
        n += 1;
    }
    assert_eq!(n, 8);
}

#[test]
fn golden_fields_land_in_typed_storage() {
    let text = std::fs::read_to_string(testdata("flows/flp-output.jsonl")).unwrap();
    let flows: Vec<_> = text
        .lines()
        .map(|l| json::decode(l.as_bytes()).unwrap())
        .collect();
    assert_eq!(flows[0].flags(), Some(TcpFlags::raw(16)));
    assert_eq!(
        flows[1].flags(),
        Some(TcpFlags {
            bits: 0x112,
            decoded: true
        })
    );
    assert_eq!(flows[1].src_k8s_owner_name(), Some("loadgen"));
    assert_eq!(flows[2].dns_flags_response_code(), Some("NXDomain"));
    assert_eq!(flows[3].pkt_drop_packets(), Some(2));
    assert_eq!(flows[4].src_addr().unwrap().to_string(), "fd01:0:0:1::11");
    assert_eq!(
        flows[5].network_events().as_ref().unwrap()[0].get("Action"),
        Some("allow")
    );
    assert_eq!(flows[6].bytes_ab(), Some(800));
    assert_eq!(flows[6].record_type(), Some("endConnection"));
    assert_eq!(flows[7].ipsec_status(), Some("success"));
    assert!(flows[..7].iter().all(|f| f.extra_len() == 0));
    assert_eq!(flows[7].extra_len(), 5);
}

#[test]
fn golden_flows_round_trip_through_arrow() {
    let text = std::fs::read_to_string(testdata("flows/flp-output.jsonl")).unwrap();
    let flows: Vec<_> = text
        .lines()
        .map(|l| json::decode(l.as_bytes()).unwrap())
        .collect();
    let batch = arrow::to_record_batch(&flows).unwrap();
    assert_eq!(batch.num_rows(), flows.len());
    let back = arrow::from_record_batch(&batch).unwrap();
    for (i, (mut want, got)) in flows.into_iter().zip(back).enumerate() {
        // Arrow keeps the flag bits, not whether they were written as names.
        if let Some(mut f) = want.flags() {
            f.decoded = false;
            want.set_flags(f);
        }
        assert_eq!(got, want, "row {i}");
    }
}

#[test]
fn pbflow_golden_decodes_like_record_to_map() {
    let bytes = std::fs::read(testdata("pbflow/record1.bin")).unwrap();
    let want = std::fs::read_to_string(testdata("pbflow/record1.json")).unwrap();
    let mut flows = pbflow::decode_records(&bytes, 1_732_185_421).unwrap();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].time_received(), Some(1_732_185_421));
    flows[0].clear_time_received();
    assert_eq!(json::to_string(&flows[0]), want.trim_end());
}

#[test]
fn pbflow_golden_tls_quic_ipsec_decode_like_record_to_map() {
    // Tags 30-38 and the write rules of the newer agents: see encode_records.py for each value.
    let bytes = std::fs::read(testdata("pbflow/record2.bin")).unwrap();
    let want = std::fs::read_to_string(testdata("pbflow/record2.jsonl")).unwrap();
    let mut flows = pbflow::decode_records(&bytes, 1_732_185_503).unwrap();
    assert_eq!(flows.len(), want.lines().count());
    for (i, (flow, line)) in flows.iter_mut().zip(want.lines()).enumerate() {
        assert_eq!(flow.time_received(), Some(1_732_185_503));
        flow.clear_time_received();
        assert_eq!(json::to_string(flow), line, "record {i}");
    }
}

#[test]
fn pbflow_golden_re_encodes_to_the_same_flow() {
    for file in ["pbflow/record1.bin", "pbflow/record2.bin"] {
        let bytes = std::fs::read(testdata(file)).unwrap();
        let flows = pbflow::decode_records(&bytes, 7).unwrap();
        let again = pbflow::decode_records(&pbflow::encode_records(&flows), 7).unwrap();
        assert_eq!(again, flows, "{file}");
    }
}

#[test]
fn upper_case_mac_input_comes_out_lower_case() {
    // Upstream writes MACs as Go's `net.HardwareAddr` does; JSON in, pbflow across, JSON out.
    let input = r#"{"DstMac":"0A:58:A7:A3:53:C9","SrcMac":"CE:EA:43:28:6D:88"}"#;
    let flow = json::decode(input.as_bytes()).unwrap();
    let mut via_pbflow = pbflow::decode_records(&pbflow::encode_records(&[flow]), 7).unwrap();
    assert_eq!(via_pbflow.len(), 1);
    let out = json::to_string(&via_pbflow.remove(0));
    assert!(out.contains(r#""DstMac":"0a:58:a7:a3:53:c9""#), "{out}");
    assert!(out.contains(r#""SrcMac":"ce:ea:43:28:6d:88""#), "{out}");
}

#[test]
fn golden_macs_are_lower_case() {
    for file in [
        "flows/flp-output.jsonl",
        "pbflow/record1.json",
        "pbflow/record2.jsonl",
    ] {
        let text = std::fs::read_to_string(testdata(file)).unwrap();
        for line in text.lines() {
            let flow: serde_json::Value = serde_json::from_str(line).unwrap();
            for key in ["SrcMac", "DstMac"] {
                if let Some(mac) = flow.get(key).and_then(|v| v.as_str()) {
                    assert_eq!(mac, mac.to_ascii_lowercase(), "{file}: {key}");
                }
            }
        }
    }
}

#[test]
fn truncated_pbflow_is_an_error_not_a_panic() {
    let bytes = std::fs::read(testdata("pbflow/record1.bin")).unwrap();
    for cut in 1..bytes.len() {
        assert!(
            pbflow::decode_records(&bytes[..cut], 0).is_err(),
            "cut at {cut}"
        );
    }
}
