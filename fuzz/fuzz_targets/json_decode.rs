//! NetObserv JSON decoding: never panics; the fast path agrees with the full serde_json decoder;
//! what decodes re-encodes to JSON that decodes to the same flow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netobserv_flow::codec::json;

fuzz_target!(|data: &[u8]| {
    let decoded = json::decode(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let full = json::decode_full(text);
        match (&decoded, &full) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            _ => panic!("fast and full decoders disagree: {decoded:?} vs {full:?}"),
        }
    }
    if let Ok(flow) = decoded {
        let text = json::to_string(&flow);
        let again = json::decode(text.as_bytes()).expect("re-encoded flow decodes");
        assert_eq!(json::to_string(&again), text);
    }
    let _ = json::decode_array(data);
});
