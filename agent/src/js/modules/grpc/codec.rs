//! Messages and metadata between JS and the wire, on the VU's thread: a request object becomes
//! protobuf bytes through protobuf's JSON mapping (prost-reflect's, where k6 uses Go's
//! `protojson`), a reply becomes the JSON k6 shows (field names in lowerCamelCase, 64-bit
//! integers as strings, enums by name; a unary reply also shows its unset fields), and
//! metadata objects become HTTP/2 headers (`-bin` keys carry bytes).

use bytes::Bytes;
use prost::Message;
use prost_reflect::{DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions};
use rquickjs::{Ctx, Object, Value};
use tonic::metadata::{
    AsciiMetadataKey, BinaryMetadataKey, KeyAndValueRef, MetadataMap, MetadataValue,
};

type R<T> = rquickjs::Result<T>;

/// Replies of streams are shown as protobuf's canonical JSON (unset fields left out); unary
/// replies also show unset fields, see [`reply_json`].
const CANONICAL: SerializeOptions = SerializeOptions::new()
    .stringify_64_bit_integers(true)
    .use_enum_numbers(false)
    .use_proto_field_name(false)
    .skip_default_fields(true);

/// Why a request could not be encoded.
pub enum EncodeError {
    /// `undefined`: k6's "request cannot be nil".
    Missing,
    /// The JSON mapping refused it (the text says where).
    Invalid(String),
}

/// Encodes the request object `v` as a `desc` message (`null` must be refused by the caller,
/// as k6 throws a TypeError for it).
pub fn encode_request<'js>(
    ctx: &Ctx<'js>,
    desc: &MessageDescriptor,
    v: Value<'js>,
) -> Result<Bytes, EncodeError> {
    if v.is_undefined() {
        return Err(EncodeError::Missing);
    }
    let json = match ctx.json_stringify(v) {
        Ok(Some(s)) => s
            .to_string()
            .map_err(|e| EncodeError::Invalid(e.to_string()))?,
        Ok(None) => return Err(EncodeError::Missing),
        Err(e) => return Err(EncodeError::Invalid(e.to_string())),
    };
    let mut de = serde_json::Deserializer::from_str(&json);
    let msg = DynamicMessage::deserialize_with_options(
        desc.clone(),
        &mut de,
        &DeserializeOptions::new().deny_unknown_fields(true),
    )
    .and_then(|m| de.end().map(|()| m))
    .map_err(|e| {
        EncodeError::Invalid(format!(
            "{e} (the request must be a {} message in protobuf's JSON mapping)",
            desc.full_name()
        ))
    })?;
    Ok(msg.encode_to_vec().into())
}

/// The JSON of a reply (`desc` message bytes). `defaults`: show unset fields with their
/// default values as k6 does for unary calls (Go's `EmitUnpopulated`: scalars as their zero,
/// lists `[]`, maps `{}`, messages `null`; members of a `oneof` stay out), else only the set
/// fields, as k6 shows stream messages.
pub fn reply_json(
    desc: &MessageDescriptor,
    bytes: Bytes,
    defaults: bool,
) -> Result<String, String> {
    let msg = DynamicMessage::decode(desc.clone(), bytes)
        .map_err(|e| format!("the reply is not a valid {} message: {e}", desc.full_name()))?;
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::new(&mut out);
    msg.serialize_with_options(&mut ser, &CANONICAL)
        .map_err(|e| format!("the reply cannot be shown as JSON: {e}"))?;
    if !defaults {
        return String::from_utf8(out).map_err(|e| e.to_string());
    }
    let mut v: serde_json::Value =
        serde_json::from_slice(&out).map_err(|e| format!("the reply's JSON: {e}"))?;
    fill_defaults(desc, &mut v, 0);
    serde_json::to_string(&v).map_err(|e| e.to_string())
}

/// How deep [`fill_defaults`] follows nested messages (protobuf's own nesting limit).
const MAX_DEPTH: usize = 100;

/// Adds the unset fields of the `desc` message `v` (and of the messages in it).
fn fill_defaults(desc: &MessageDescriptor, v: &mut serde_json::Value, depth: usize) {
    use prost_reflect::Kind;
    use serde_json::Value as J;
    let J::Object(obj) = v else { return };
    if depth > MAX_DEPTH || is_well_known(desc.full_name()) {
        return;
    }
    for field in desc.fields() {
        let name = field.json_name();
        if let Some(present) = obj.get_mut(name) {
            // Messages inside are shown the same way.
            let nested = |m: &MessageDescriptor, v: &mut J| fill_defaults(m, v, depth + 1);
            if field.is_map() {
                if let Kind::Message(m) = field.kind() {
                    if let Kind::Message(vm) = m.map_entry_value_field().kind() {
                        if let J::Object(entries) = present {
                            for e in entries.values_mut() {
                                nested(&vm, e);
                            }
                        }
                    }
                }
            } else if let Kind::Message(m) = field.kind() {
                match present {
                    J::Array(items) => items.iter_mut().for_each(|i| nested(&m, i)),
                    other => nested(&m, other),
                }
            }
            continue;
        }
        if field.containing_oneof().is_some() {
            continue;
        }
        let default = if field.is_map() {
            J::Object(Default::default())
        } else if field.is_list() {
            J::Array(Vec::new())
        } else {
            match field.kind() {
                Kind::Message(_) => J::Null,
                Kind::Enum(e) => J::String(
                    e.get_value(0)
                        .map(|v| v.name().to_owned())
                        .unwrap_or_else(|| e.default_value().name().to_owned()),
                ),
                Kind::String | Kind::Bytes => J::String(String::new()),
                Kind::Bool => J::Bool(false),
                Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
                    J::String("0".into())
                }
                _ => J::from(0),
            }
        };
        obj.insert(name.to_owned(), default);
    }
}

/// Messages with a JSON form of their own (a Timestamp is a string): shown as they are.
fn is_well_known(name: &str) -> bool {
    name.starts_with("google.protobuf.")
}

/// The script's `metadata` object as request metadata: strings, or (for keys ending in
/// `-bin`) an ArrayBuffer or a typed array. The error is k6's text.
pub fn metadata_from_js<'js>(v: &Value<'js>) -> Result<MetadataMap, String> {
    let mut md = MetadataMap::new();
    let Some(o) = v.as_object() else {
        return Ok(md);
    };
    for item in o.props::<String, Value>() {
        let (k, val) = item.map_err(|e| e.to_string())?;
        let key = k.to_ascii_lowercase();
        if k.ends_with("-bin") {
            let bytes = val
                .as_object()
                .filter(|_| val.as_string().is_none())
                .and_then(|_| super::super::convert::bytes_of(&val))
                .ok_or_else(|| format!("invalid metadata param: {k:?} value must be binary"))?;
            let name = BinaryMetadataKey::from_bytes(key.as_bytes()).map_err(|_| {
                format!("invalid metadata param: {k:?} is not a valid metadata key")
            })?;
            md.append_bin(name, MetadataValue::from_bytes(&bytes));
        } else {
            let s = val
                .as_string()
                .and_then(|s| s.to_string().ok())
                .ok_or_else(|| format!("invalid metadata param: {k:?} value must be a string"))?;
            let name = AsciiMetadataKey::from_bytes(key.as_bytes()).map_err(|_| {
                format!("invalid metadata param: {k:?} is not a valid metadata key")
            })?;
            let value = MetadataValue::try_from(s.as_str()).map_err(|_| {
                format!("invalid metadata param: the value of {k:?} is not printable ASCII")
            })?;
            md.append(name, value);
        }
    }
    Ok(md)
}

/// Response metadata as k6 shows it: every key (lowercase) with the list of its values;
/// binary values as strings of their bytes.
pub fn metadata_to_js<'js>(ctx: &Ctx<'js>, md: &MetadataMap) -> R<Object<'js>> {
    let out = Object::new(ctx.clone())?;
    for kv in md.iter() {
        let (key, value) = match kv {
            KeyAndValueRef::Ascii(k, v) => (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_encoded_bytes()).into_owned(),
            ),
            KeyAndValueRef::Binary(k, v) => (
                k.as_str().to_owned(),
                v.to_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default(),
            ),
        };
        let list: rquickjs::Array = match out.get::<_, Option<rquickjs::Array>>(key.as_str())? {
            Some(a) => a,
            None => {
                let a = rquickjs::Array::new(ctx.clone())?;
                out.set(key.as_str(), a.clone())?;
                a
            }
        };
        list.set(list.len(), value)?;
    }
    Ok(out)
}
