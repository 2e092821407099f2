//! Arrow form of flows: one schema for [`Flow`] and conversion both ways between `&[Flow]` and
//! `RecordBatch`.
//!
//! Every catalogue field is a nullable column named as in JSON. Low-cardinality strings (namespaces,
//! kinds, owners, node names, drop causes...) are `Dictionary(Int32, Utf8)`; addresses are `Utf8` in
//! their text form; lists are `List`; network events and run-time fields are JSON text (the latter
//! in one `_extra` column holding an object per row). TCP flags are stored as their bits (`UInt16`);
//! whether they were decoded into names is not kept.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use arrow_array::builder::{ListBuilder, StringBuilder, UInt8Builder};
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use arrow_schema::{ArrowError, Field, Schema, SchemaRef};

use crate::Error;
use crate::codec::json::JsonScalar;
use crate::codec::{DecodeError, DecodeErrorKind, Format, json};
use crate::flow::{FieldId, Flow, MacAddr, NetworkEvent, TcpFlags, with_catalogue};
use crate::value::Value;

/// Name of the column holding run-time fields as a JSON object.
pub const EXTRA_COLUMN: &str = "_extra";

/// A storage type that has an Arrow column form.
pub trait ArrowScalar: Sized {
    /// Builds a column from optional values; `dict` asks for dictionary encoding where supported.
    fn build<'a>(values: impl Iterator<Item = Option<&'a Self>>, dict: bool) -> ArrayRef
    where
        Self: 'a;
    /// Reads a column into the flows' field.
    fn read(
        col: &ArrayRef,
        name: &str,
        flows: &mut [Flow],
        put: impl Fn(&mut Flow, Option<Self>),
    ) -> Result<(), Error>;
}

fn wrong_type(name: &str, col: &ArrayRef) -> Error {
    Error::Arrow(ArrowError::SchemaError(format!(
        "column {name}: unexpected type {}",
        col.data_type()
    )))
}

fn downcast<'a, T: 'static>(col: &'a ArrayRef, name: &str) -> Result<&'a T, Error> {
    col.as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| wrong_type(name, col))
}

macro_rules! primitive_arrow {
    ($($t:ty => $arr:ty;)*) => {$(
        impl ArrowScalar for $t {
            fn build<'a>(values: impl Iterator<Item = Option<&'a Self>>, _dict: bool) -> ArrayRef {
                Arc::new(values.map(|v| v.copied()).collect::<$arr>())
            }
            fn read(col: &ArrayRef, name: &str, flows: &mut [Flow], put: impl Fn(&mut Flow, Option<Self>)) -> Result<(), Error> {
                let arr = downcast::<$arr>(col, name)?;
                for (i, f) in flows.iter_mut().enumerate() {
                    put(f, arr.is_valid(i).then(|| arr.value(i)));
                }
                Ok(())
            }
        }
    )*};
}

primitive_arrow! {
    u8 => UInt8Array;
    u16 => UInt16Array;
    u32 => UInt32Array;
    u64 => UInt64Array;
    i32 => Int32Array;
    i64 => Int64Array;
    bool => BooleanArray;
}

/// Reads a string column, plain or dictionary-encoded, calling `set` for each row.
fn read_strings(
    col: &ArrayRef,
    name: &str,
    mut set: impl FnMut(usize, Option<&str>) -> Result<(), Error>,
) -> Result<(), Error> {
    if let Some(arr) = col.as_any().downcast_ref::<StringArray>() {
        for i in 0..arr.len() {
            set(i, arr.is_valid(i).then(|| arr.value(i)))?;
        }
        return Ok(());
    }
    let dict = downcast::<DictionaryArray<Int32Type>>(col, name)?;
    let values = dict
        .values()
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| wrong_type(name, col))?;
    // Share one Arc per dictionary entry instead of one allocation per row.
    for (i, key) in dict.keys().iter().enumerate() {
        set(i, key.map(|k| values.value(k as usize)))?;
    }
    Ok(())
}

fn build_strings<'a>(values: impl Iterator<Item = Option<&'a str>>, dict: bool) -> ArrayRef {
    if dict {
        Arc::new(values.collect::<DictionaryArray<Int32Type>>())
    } else {
        Arc::new(values.collect::<StringArray>())
    }
}

impl ArrowScalar for Arc<str> {
    fn build<'a>(values: impl Iterator<Item = Option<&'a Self>>, dict: bool) -> ArrayRef {
        build_strings(values.map(|v| v.map(|s| &**s)), dict)
    }
    fn read(
        col: &ArrayRef,
        name: &str,
        flows: &mut [Flow],
        put: impl Fn(&mut Flow, Option<Self>),
    ) -> Result<(), Error> {
        let mut last: Option<Arc<str>> = None;
        read_strings(col, name, |i, s| {
            put(
                &mut flows[i],
                s.map(|s| match &last {
                    Some(l) if **l == *s => l.clone(),
                    _ => {
                        let a: Arc<str> = Arc::from(s);
                        last = Some(a.clone());
                        a
                    }
                }),
            );
            Ok(())
        })
    }
}

macro_rules! text_arrow {
    ($($t:ty, $what:literal;)*) => {$(
        impl ArrowScalar for $t {
            fn build<'a>(values: impl Iterator<Item = Option<&'a Self>>, _dict: bool) -> ArrayRef {
                Arc::new(values.map(|v| v.map(|a| a.to_string())).collect::<StringArray>())
            }
            fn read(col: &ArrayRef, name: &str, flows: &mut [Flow], put: impl Fn(&mut Flow, Option<Self>)) -> Result<(), Error> {
                read_strings(col, name, |i, s| {
                    put(&mut flows[i], match s {
                        None => None,
                        Some(s) => Some(s.parse().map_err(|_| bad_value(name, i, format!("{s:?} is not {}", $what), None))?),
                    });
                    Ok(())
                })
            }
        }
    )*};
}

text_arrow! {
    IpAddr, "an IP address";
    MacAddr, "a MAC address";
}

impl ArrowScalar for TcpFlags {
    fn build<'a>(values: impl Iterator<Item = Option<&'a Self>>, _dict: bool) -> ArrayRef {
        Arc::new(values.map(|v| v.map(|f| f.bits)).collect::<UInt16Array>())
    }
    fn read(
        col: &ArrayRef,
        name: &str,
        flows: &mut [Flow],
        put: impl Fn(&mut Flow, Option<Self>),
    ) -> Result<(), Error> {
        let arr = downcast::<UInt16Array>(col, name)?;
        for (i, f) in flows.iter_mut().enumerate() {
            put(f, arr.is_valid(i).then(|| TcpFlags::raw(arr.value(i))));
        }
        Ok(())
    }
}

impl ArrowScalar for Vec<Arc<str>> {
    fn build<'a>(values: impl Iterator<Item = Option<&'a Self>>, _dict: bool) -> ArrayRef {
        let mut b = ListBuilder::new(StringBuilder::new());
        for v in values {
            match v {
                Some(list) => {
                    for s in list {
                        b.values().append_value(s);
                    }
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        Arc::new(b.finish())
    }
    fn read(
        col: &ArrayRef,
        name: &str,
        flows: &mut [Flow],
        put: impl Fn(&mut Flow, Option<Self>),
    ) -> Result<(), Error> {
        let arr = downcast::<ListArray>(col, name)?;
        for (i, f) in flows.iter_mut().enumerate() {
            put(
                f,
                if arr.is_valid(i) {
                    let inner = arr.value(i);
                    let mut out = Vec::with_capacity(inner.len());
                    read_strings(&inner, name, |_, s| {
                        out.push(Arc::from(s.unwrap_or_default()));
                        Ok(())
                    })?;
                    Some(out)
                } else {
                    None
                },
            );
        }
        Ok(())
    }
}

impl ArrowScalar for Vec<u8> {
    fn build<'a>(values: impl Iterator<Item = Option<&'a Self>>, _dict: bool) -> ArrayRef {
        let mut b = ListBuilder::new(UInt8Builder::new());
        for v in values {
            match v {
                Some(list) => {
                    b.values().append_slice(list);
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        Arc::new(b.finish())
    }
    fn read(
        col: &ArrayRef,
        name: &str,
        flows: &mut [Flow],
        put: impl Fn(&mut Flow, Option<Self>),
    ) -> Result<(), Error> {
        let arr = downcast::<ListArray>(col, name)?;
        for (i, f) in flows.iter_mut().enumerate() {
            put(
                f,
                if arr.is_valid(i) {
                    let inner = arr.value(i);
                    let inner = downcast::<UInt8Array>(&inner, name)?;
                    Some(inner.values().to_vec())
                } else {
                    None
                },
            );
        }
        Ok(())
    }
}

impl ArrowScalar for Vec<NetworkEvent> {
    fn build<'a>(values: impl Iterator<Item = Option<&'a Self>>, _dict: bool) -> ArrayRef {
        Arc::new(
            values
                .map(|v| {
                    v.map(|events| {
                        let mut out = Vec::new();
                        events.write_json(&mut out);
                        String::from_utf8(out).unwrap_or_default()
                    })
                })
                .collect::<StringArray>(),
        )
    }
    fn read(
        col: &ArrayRef,
        name: &str,
        flows: &mut [Flow],
        put: impl Fn(&mut Flow, Option<Self>),
    ) -> Result<(), Error> {
        read_strings(col, name, |i, s| {
            put(
                &mut flows[i],
                match s {
                    None => None,
                    Some(s) => {
                        let mut de = serde_json::Deserializer::from_str(s);
                        Some(
                            <Vec<NetworkEvent> as JsonScalar>::deserialize(&mut de)
                                .map_err(|e| bad_value(name, i, e.to_string(), Some(e)))?,
                        )
                    }
                },
            );
            Ok(())
        })
    }
}

macro_rules! arrow_columns {
    ($( $(#[doc = $doc:literal])* $ident:ident : $ty:ty => $name:literal, $variant:ident, $dict:literal, $storage:tt; )*) => {
        /// The catalogue columns, in declaration order.
        mod columns {
            use super::*;

            pub(super) fn build(flows: &[Flow]) -> Vec<ArrayRef> {
                vec![$(<$ty as ArrowScalar>::build(flows.iter().map(|f| pastey::paste! { f.[<$ident _stored>]() }), $dict),)*]
            }

            pub(super) fn read(
                columns: &[Option<&ArrayRef>],
                flows: &mut [Flow],
            ) -> Result<(), Error> {
                let mut i = 0usize;
                $(
                    if let Some(col) = columns[i] {
                        <$ty as ArrowScalar>::read(col, $name, flows, |f, v| pastey::paste! { f.[<put_ $ident>](v) })?;
                    }
                    i += 1;
                )*
                let _ = i;
                Ok(())
            }
        }
    };
}

with_catalogue!(arrow_columns);

/// The Arrow schema of [`Flow`]: catalogue columns in declaration order, then `_extra`.
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let cols = columns::build(&[]);
            let mut fields: Vec<Field> = FieldId::ALL
                .iter()
                .zip(&cols)
                .map(|(id, c)| Field::new(id.name(), c.data_type().clone(), true))
                .collect();
            fields.push(Field::new(EXTRA_COLUMN, arrow_schema::DataType::Utf8, true));
            Arc::new(Schema::new(fields))
        })
        .clone()
}

/// Converts flows to a record batch with [`schema`].
pub fn to_record_batch(flows: &[Flow]) -> Result<RecordBatch, Error> {
    let mut cols = columns::build(flows);
    let extra: StringArray = flows
        .iter()
        .map(|f| {
            (f.extra_len() != 0).then(|| {
                let mut out = Vec::new();
                json::write_json_value(
                    &mut out,
                    &Value::Map(
                        f.extra_iter()
                            .map(|(k, v)| (Arc::from(k), v.clone()))
                            .collect(),
                    ),
                );
                String::from_utf8(out).unwrap_or_default()
            })
        })
        .collect();
    cols.push(Arc::new(extra));
    Ok(RecordBatch::try_new(schema(), cols)?)
}

/// A column value that does not convert: `row` of column `name`.
fn bad_value(name: &str, row: usize, message: String, source: Option<serde_json::Error>) -> Error {
    let e = DecodeError::new(Format::Arrow, DecodeErrorKind::Value, message)
        .at_record(row as u64)
        .in_field(name);
    match source {
        Some(s) => e.with_source(s),
        None => e,
    }
    .into()
}

/// Converts a record batch back to flows. Columns are found by name, so a batch with a subset of
/// the columns (a projection) converts too; unknown columns are an error.
pub fn from_record_batch(batch: &RecordBatch) -> Result<Vec<Flow>, Error> {
    let mut flows = vec![Flow::default(); batch.num_rows()];
    let bschema = batch.schema();
    let mut by_field: Vec<Option<&ArrayRef>> = vec![None; FieldId::ALL.len()];
    for (i, field) in bschema.fields().iter().enumerate() {
        let name = field.name();
        if name == EXTRA_COLUMN {
            read_strings(batch.column(i), name, |row, s| {
                if let Some(s) = s {
                    let v = json::ValueSeed
                        .deserialize_str(s)
                        .map_err(|e| bad_value(name, row, e.to_string(), Some(e)))?;
                    if let Value::Map(kv) = v {
                        for (k, v) in kv {
                            flows[row].extra_insert(k, v);
                        }
                    }
                }
                Ok(())
            })?;
            continue;
        }
        let id = FieldId::from_name(name).ok_or_else(|| {
            DecodeError::new(
                Format::Arrow,
                DecodeErrorKind::Value,
                format!("unknown flow column {name:?}"),
            )
            .in_field(name.as_str())
        })?;
        by_field[FieldId::ALL.iter().position(|f| *f == id).unwrap_or(0)] = Some(batch.column(i));
    }
    columns::read(&by_field, &mut flows)?;
    Ok(flows)
}

trait DeserializeStr {
    fn deserialize_str(self, s: &str) -> Result<Value, serde_json::Error>;
}

impl DeserializeStr for json::ValueSeed {
    fn deserialize_str(self, s: &str) -> Result<Value, serde_json::Error> {
        use serde::de::DeserializeSeed;
        let mut de = serde_json::Deserializer::from_str(s);
        let v = self.deserialize(&mut de)?;
        de.end()?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_record_batch() {
        let lines = [
            r#"{"SrcAddr":"10.0.0.1","DstAddr":"fd00::1","Bytes":10,"Flags":["SYN"],"Interfaces":["eth0","br-ex"],"IfDirections":[0,1],"SrcK8S_Namespace":"ns-a","custom":{"k":1}}"#,
            r#"{"SrcAddr":"10.0.0.2","SrcK8S_Namespace":"ns-a","NetworkEvents":[{"Action":"allow","Type":"acl"}]}"#,
            r#"{}"#,
        ];
        let mut flows: Vec<Flow> = lines
            .iter()
            .map(|l| json::decode(l.as_bytes()).unwrap())
            .collect();
        let batch = to_record_batch(&flows).unwrap();
        assert_eq!(batch.num_rows(), 3);
        let ns = batch.column_by_name("SrcK8S_Namespace").unwrap();
        assert!(matches!(
            ns.data_type(),
            arrow_schema::DataType::Dictionary(..)
        ));
        let back = from_record_batch(&batch).unwrap();
        // Decoded flags come back as bits.
        flows[0].set_flags(TcpFlags::raw(2));
        assert_eq!(back, flows);
    }

    #[test]
    fn mac_columns_hold_lower_case_text() {
        let flows = vec![json::decode(br#"{"SrcMac":"0A:58:A7:A3:53:C9"}"#).unwrap()];
        let batch = to_record_batch(&flows).unwrap();
        let col = batch.column_by_name("SrcMac").unwrap();
        let text = col.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(text.value(0), "0a:58:a7:a3:53:c9");
    }

    #[test]
    fn projection_reads_and_bad_text_errors() {
        let flows = vec![json::decode(br#"{"SrcAddr":"10.0.0.1","Bytes":3}"#).unwrap()];
        let batch = to_record_batch(&flows).unwrap();
        let idx = batch.schema().index_of("Bytes").unwrap();
        let projected = batch.project(&[idx]).unwrap();
        let back = from_record_batch(&projected).unwrap();
        assert_eq!(back[0].bytes(), Some(3));
        assert_eq!(back[0].src_addr(), None);

        let bad = RecordBatch::try_from_iter([(
            "SrcAddr",
            Arc::new(StringArray::from(vec!["nope"])) as ArrayRef,
        )])
        .unwrap();
        assert!(
            from_record_batch(&bad)
                .unwrap_err()
                .to_string()
                .contains("SrcAddr")
        );
    }
}
