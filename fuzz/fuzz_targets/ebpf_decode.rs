//! What the agent decodes from outside bytes: DNS names from packets, ring-buffer records, BTF
//! from the kernel, and `FLOW_FILTER_RULES` JSON. None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netobserv_ebpf::{btf, decode, filter};

fuzz_target!(|data: &[u8]| {
    let limit = data.first().map_or(0, |b| usize::from(*b));
    let name = decode::dns_name(data, limit);
    assert!(name.len() <= data.len() * 3);
    let _ = decode::flow_record(data);
    let _ = btf::enum_values(data, "skb_drop_reason");
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(rules) = filter::parse_rules(text)
    {
        let _ = filter::compile(&rules);
    }
});
