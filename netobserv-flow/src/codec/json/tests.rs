//! Round trips through the JSON codec.

use super::*;
use crate::value::Value;

fn s(v: &[u8]) -> &str {
    std::str::from_utf8(v).unwrap()
}

#[test]
fn macs_are_written_lower_case_like_go_hardware_addr() {
    // Upstream prints MACs with Go's `net.HardwareAddr.String()`: lower-case hex digits.
    let line = r#"{"DstMac":"0A:58:A7:A3:53:C9","SrcMac":"0a-58-A7-a3-53-C9"}"#;
    let want = r#"{"DstMac":"0a:58:a7:a3:53:c9","SrcMac":"0a:58:a7:a3:53:c9"}"#;
    assert_eq!(to_string(&decode(line.as_bytes()).unwrap()), want);
    assert_eq!(to_string(&decode_full(line).unwrap()), want);

    // A MAC held as a dynamic value (a field renamed or copied at run time).
    let mac: crate::flow::MacAddr = "0A:58:A7:A3:53:C9".parse().unwrap();
    let mut out = Vec::new();
    write_json_value(&mut out, &Value::Mac(mac));
    assert_eq!(s(&out), r#""0a:58:a7:a3:53:c9""#);
    assert_eq!(Value::Mac(mac).to_string(), "0a:58:a7:a3:53:c9");
}

#[test]
fn keys_sorted_across_typed_and_extra() {
    let line = br#"{"zz":1,"Bytes":10,"Aa":"x","SrcAddr":"10.0.0.1","_x":[1,{"b":2,"a":null}]}"#;
    let flow = decode(line).unwrap();
    assert_eq!(flow.bytes(), Some(10));
    assert_eq!(
        to_string(&flow),
        r#"{"Aa":"x","Bytes":10,"SrcAddr":"10.0.0.1","_x":[1,{"a":null,"b":2}],"zz":1}"#
    );
}

#[test]
fn wrong_type_is_an_error_naming_the_field() {
    let err = decode(br#"{"Bytes":"many"}"#).unwrap_err().to_string();
    assert!(err.contains("Bytes"), "{err}");
    assert!(decode(br#"{"SrcPort":70000}"#).is_err());
    assert!(decode(br#"{"Bytes":1"#).is_err());
    assert!(decode(br#"{"Bytes":1} x"#).is_err());
    assert_eq!(decode(br#"{"Bytes":null}"#).unwrap().bytes(), None);
}

#[test]
fn flags_number_and_names() {
    let raw = decode(br#"{"Flags":18}"#).unwrap();
    assert_eq!(to_string(&raw), r#"{"Flags":18}"#);
    let names = decode(br#"{"Flags":["SYN","ACK"]}"#).unwrap();
    assert_eq!(names.flags().unwrap().bits, 18);
    assert_eq!(to_string(&names), r#"{"Flags":["SYN","ACK"]}"#);
}

#[test]
fn errors_carry_the_format_the_byte_offset_and_serde_jsons_error() {
    use crate::codec::{DecodeErrorKind, Format};
    let e = decode(br#"{"Bytes":1,"SrcPort":70000}"#).unwrap_err();
    assert_eq!(
        (e.format(), e.kind()),
        (Format::Json, DecodeErrorKind::Value),
        "{e}"
    );
    // serde_json stops after the offending number: the byte before `}`.
    assert_eq!(e.offset(), Some(25), "{e}");
    let json = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<serde_json::Error>());
    assert_eq!(json.map(|j| (j.line(), j.column())), Some((1, 26)), "{e:?}");
    assert!(e.message().starts_with("SrcPort: "), "{e}");
    assert!(
        e.to_string()
            .starts_with("invalid json at byte 25: SrcPort: "),
        "{e}"
    );

    let e = decode(br#"{"Bytes":1"#).unwrap_err();
    assert_eq!(
        (e.kind(), e.offset()),
        (DecodeErrorKind::Truncated, Some(9)),
        "{e}"
    );
    let e = decode(b"{\"A\":\"\xff\"}").unwrap_err();
    assert_eq!(
        (e.kind(), e.offset()),
        (DecodeErrorKind::Utf8, Some(6)),
        "{e}"
    );
    assert!(
        std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<std::str::Utf8Error>())
            .is_some()
    );
    // Lines count: the offset is in the whole input.
    let e = decode_array(b"[\n{\"Bytes\":1},\n  {\"Bytes\":\"x\"}\n]").unwrap_err();
    assert_eq!((e.format(), e.offset()), (Format::Json, Some(28)), "{e}");
    let e = decode_full("{} x").unwrap_err();
    assert_eq!(
        (e.kind(), e.offset()),
        (DecodeErrorKind::Syntax, Some(3)),
        "{e}"
    );
}
