//! Reading JSON flows: the entry points and serde's full decoder.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::fast;
use super::scalar::JsonSlot;
use crate::codec::{DecodeError, DecodeErrorKind, Format};
use crate::flow::{FieldId, Flow, MacAddr, NetworkEvent, TcpFlags, with_catalogue};
use crate::value::Value;

/// Decodes one JSON object into a flow; an error's offset is the byte of `bytes` where decoding
/// stopped.
pub fn decode(bytes: &[u8]) -> Result<Flow, DecodeError> {
    let mut flow = Flow::default();
    decode_into(bytes, &mut flow)?;
    Ok(flow)
}

/// Decodes one JSON object into a flow, from text.
///
/// Flat objects of catalogue fields with plain values (the agent's and FLP's output) take a
/// hand-written fast path; anything else (escapes, floats, nested or run-time fields, errors) is
/// decoded by serde_json, which also words the errors. Both give the same flow (fuzzed).
pub fn decode_str(text: &str) -> Result<Flow, DecodeError> {
    let mut flow = Flow::default();
    decode_str_into(text, &mut flow)?;
    Ok(flow)
}

/// Decodes one JSON object into `flow`, which must be empty ([`Flow::default`]); on error it is
/// left empty. Decoding into a flow already in place (the last slot of a batch) saves moving a
/// whole [`Flow`] per line.
pub fn decode_into(bytes: &[u8], flow: &mut Flow) -> Result<(), DecodeError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        DecodeError::new(Format::Json, DecodeErrorKind::Utf8, "invalid UTF-8")
            .with_offset(e.valid_up_to() as u64)
            .with_source(e)
    })?;
    decode_str_into(text, flow)
}

fn decode_str_into(text: &str, flow: &mut Flow) -> Result<(), DecodeError> {
    if fast::decode_into(text, flow).is_some() {
        flow.share_groups();
        return Ok(());
    }
    // The fast path may have set some fields before giving up: the full decoder's flow (or an
    // empty one, on error) replaces them.
    match decode_full(text) {
        Ok(f) => {
            *flow = f;
            flow.share_groups();
            Ok(())
        }
        Err(e) => {
            *flow = Flow::default();
            Err(e)
        }
    }
}

/// Decodes with serde_json only (the reference for the fast path).
pub fn decode_full(text: &str) -> Result<Flow, DecodeError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let flow = FlowSeed
        .deserialize(&mut de)
        .and_then(|f| de.end().map(|()| f));
    flow.map_err(|e| DecodeError::json(e, text.as_bytes()))
}

/// Decodes a JSON array of objects into flows.
pub fn decode_array(bytes: &[u8]) -> Result<Vec<Flow>, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let flows = de
        .deserialize_seq(FlowsVisitor)
        .and_then(|f| de.end().map(|()| f));
    flows.map_err(|e| DecodeError::json(e, bytes))
}

/// Deserializes one flow object.
pub struct FlowSeed;

impl<'de> DeserializeSeed<'de> for FlowSeed {
    type Value = Flow;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Flow, D::Error> {
        d.deserialize_map(FlowVisitor)
    }
}

struct FlowsVisitor;

impl<'de> Visitor<'de> for FlowsVisitor {
    type Value = Vec<Flow>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of flow objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Flow>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(64));
        while let Some(f) = seq.next_element_seed(FlowSeed)? {
            out.push(f);
        }
        Ok(out)
    }
}

struct FlowVisitor;

enum Key {
    Field(FieldId),
    Extra(Arc<str>),
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(match FieldId::from_name(v) {
            Some(id) => Key::Field(id),
            None => Key::Extra(Arc::from(v)),
        })
    }
}

impl<'de> Visitor<'de> for FlowVisitor {
    type Value = Flow;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a flow object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Flow, A::Error> {
        let mut flow = Flow::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match key {
                Key::Field(id) => read_field(&mut flow, id, &mut map)
                    .map_err(|e| de::Error::custom(format_args!("{}: {e}", id.name())))?,
                Key::Extra(k) => {
                    let v = map.next_value_seed(ValueSeed)?;
                    flow.extra_insert(k, v);
                }
            }
        }
        Ok(flow)
    }
}

macro_rules! field_reader {
    ($( $(#[doc = $doc:literal])* $ident:ident : $ty:ty => $name:literal, $variant:ident, $dict:literal, $storage:tt; )*) => {
        /// Reads a catalogue field's value from a JSON map.
        fn read_field<'de, A: MapAccess<'de>>(flow: &mut Flow, id: FieldId, map: &mut A) -> Result<(), A::Error> {
            match id {
                $(FieldId::$variant => {
                    let v = map.next_value::<Option<JsonSlot<$ty>>>()?.map(|s| s.0);
                    pastey::paste! { flow.[<put_ $ident>](v) };
                })*
            }
            Ok(())
        }
    };
}

with_catalogue!(field_reader);

/// Deserializes any JSON value into a [`Value`].
pub struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::UInt(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(ValueSeed)? {
            out.push(v);
        }
        Ok(Value::List(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(ValueSeed)?;
            out.push((Arc::from(k), v));
        }
        Ok(Value::Map(out))
    }
}
