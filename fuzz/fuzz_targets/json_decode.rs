//! NetObserv JSON decoding: never panics; what decodes re-encodes to JSON that decodes to the
//! same flow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netobserv_flow::codec::json;

fuzz_target!(|data: &[u8]| {
    if let Ok(flow) = json::decode(data) {
        let text = json::to_string(&flow);
        let again = json::decode(text.as_bytes()).expect("re-encoded flow decodes");
        assert_eq!(json::to_string(&again), text);
    }
    let _ = json::decode_array(data);
});
