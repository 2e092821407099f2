//! Query parsing: never panics; errors carry a column inside the query (or just past its end).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netobserv_flow::query::Query;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Query::parse(text) {
        Ok(q) => {
            let _ = q.matches(&netobserv_flow::Flow::default());
        }
        Err(e) => assert!(e.column >= 1 && e.column <= text.chars().count() + 1, "{e}"),
    }
});
