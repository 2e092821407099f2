//! pbflow decoding: never panics, and the direct decoder accepts what prost accepts, with the
//! same flows. The one allowed difference: the direct decoder rejects protobuf groups (wire
//! types 3 and 4, unused by pbflow), which prost skips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netobserv_flow::codec::pbflow::{self, Records};
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let ours = pbflow::decode_records(data, 1);
    let theirs = Records::decode(data).map(|r| r.entries.iter().map(|e| pbflow::to_flow(e, 1)).collect::<Vec<_>>());
    match (ours, theirs) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(_)) => {}
        (Ok(_), Err(e)) => panic!("direct decoder accepted what prost rejects: {e}"),
        (Err(e), Ok(_)) => assert!(e.to_string().contains("groups"), "direct decoder rejected what prost accepts: {e}"),
    }
});
