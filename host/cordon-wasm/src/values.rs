//! JSON ↔ component values, and the JSON Schema each type accepts.
//!
//! [`from_json`], [`to_json`] and [`schema`] walk the same `wasmtime` type tree, so the
//! schema a client sees describes exactly what the decoder accepts. The mapping:
//!
//! | WIT                    | JSON                                                         |
//! |------------------------|--------------------------------------------------------------|
//! | `bool`                 | `true` / `false`                                             |
//! | `u8` … `s64`           | integer, range-checked (`u8` is 0 to 255)                    |
//! | `f32`, `f64`           | number (NaN and ±∞ come *out* as `"NaN"`, `"Infinity"`, `"-Infinity"`) |
//! | `char`                 | string of exactly one Unicode scalar value                   |
//! | `string`               | string                                                       |
//! | `list<T>`              | array                                                        |
//! | `record`               | object with exactly the record's fields; `option` fields may be left out |
//! | `tuple<…>`             | array of fixed length                                        |
//! | `variant`              | `"case"` for a case without payload, `{"case": payload}` otherwise |
//! | `enum`                 | `"case"`                                                     |
//! | `option<T>`            | `null` or the value; `option<option<T>>` nests as `{"some": …}` |
//! | `result<T, E>`         | `{"ok": …}` or `{"err": …}` (`null` payload when absent)     |
//! | `flags`                | array of the set flags' names                                |
//! | `map<string, V>`       | object; other key types: array of `[key, value]` pairs      |
//! | resources, streams, futures | refused: they cannot cross a JSON boundary              |

use serde_json::{Map, Value, json};
use wasmtime::component::{Type, Val};

/// A JSON value that does not fit the WIT type it was given for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: expected {expected}, found {found}")]
pub struct ValueError {
    /// Where in the input: the parameter name, then `.field` and `[index]` steps.
    pub path: String,
    /// What the type requires, in words.
    pub expected: String,
    /// What was there instead, in words.
    pub found: String,
}

/// A type Cordon cannot move across a JSON boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: type {kind} cannot be called through JSON")]
pub struct UnsupportedType {
    /// Where in the signature.
    pub path: String,
    /// The offending kind of type (`resource`, `stream`, ...).
    pub kind: &'static str,
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            if short.len() < s.len() {
                format!("string {short:?}…")
            } else {
                format!("string {short:?}")
            }
        }
        Value::Array(a) => format!("array of {} items", a.len()),
        Value::Object(o) => format!("object with {} keys", o.len()),
    }
}

fn mismatch(path: &str, expected: impl Into<String>, found: &Value) -> ValueError {
    ValueError {
        path: path.to_owned(),
        expected: expected.into(),
        found: describe(found),
    }
}

fn field_path(path: &str, field: &str) -> String {
    format!("{path}.{field}")
}

fn index_path(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Returns an error naming the first part of `ty` that cannot cross a JSON boundary.
pub fn check_supported(ty: &Type, path: &str) -> Result<(), UnsupportedType> {
    let unsupported = |kind| {
        Err(UnsupportedType {
            path: path.to_owned(),
            kind,
        })
    };
    match ty {
        Type::Own(_) | Type::Borrow(_) => unsupported("resource"),
        Type::Future(_) => unsupported("future"),
        Type::Stream(_) => unsupported("stream"),
        Type::ErrorContext => unsupported("error-context"),
        Type::List(l) => check_supported(&l.ty(), &index_path(path, 0)),
        Type::FixedLengthList(l) => check_supported(&l.ty(), &index_path(path, 0)),
        Type::Map(m) => {
            check_supported(&m.key(), &field_path(path, "<key>"))?;
            check_supported(&m.value(), &field_path(path, "<value>"))
        }
        Type::Record(r) => r
            .fields()
            .try_for_each(|f| check_supported(&f.ty, &field_path(path, f.name))),
        Type::Tuple(t) => t
            .types()
            .enumerate()
            .try_for_each(|(i, t)| check_supported(&t, &index_path(path, i))),
        Type::Variant(v) => v.cases().try_for_each(|c| match &c.ty {
            Some(t) => check_supported(t, &field_path(path, c.name)),
            None => Ok(()),
        }),
        Type::Option(o) => check_supported(&o.ty(), path),
        Type::Result(r) => {
            if let Some(t) = r.ok() {
                check_supported(&t, &field_path(path, "ok"))?;
            }
            if let Some(t) = r.err() {
                check_supported(&t, &field_path(path, "err"))?;
            }
            Ok(())
        }
        Type::Bool
        | Type::S8
        | Type::U8
        | Type::S16
        | Type::U16
        | Type::S32
        | Type::U32
        | Type::S64
        | Type::U64
        | Type::Float32
        | Type::Float64
        | Type::Char
        | Type::String
        | Type::Enum(_)
        | Type::Flags(_) => Ok(()),
    }
}

macro_rules! int_from_json {
    ($json:expr, $path:expr, $t:ty, $variant:ident, $get:ident) => {{
        let n = $json.$get().and_then(|n| <$t>::try_from(n).ok());
        match n {
            Some(n) => Ok(Val::$variant(n)),
            None => Err(mismatch(
                $path,
                format!(
                    "integer from {} to {} ({})",
                    <$t>::MIN,
                    <$t>::MAX,
                    stringify!($variant).to_lowercase()
                ),
                $json,
            )),
        }
    }};
}

/// Converts `json` into a value of type `ty`. `path` names the value in error messages
/// (usually the parameter name).
///
/// # Errors
///
/// [`ValueError`] naming the innermost offending field, what its type expects and what was
/// found. Unsupported types (resources, streams, futures) are reported the same way.
pub fn from_json(ty: &Type, json: &Value, path: &str) -> Result<Val, ValueError> {
    match ty {
        Type::Bool => json
            .as_bool()
            .map(Val::Bool)
            .ok_or_else(|| mismatch(path, "boolean", json)),
        Type::U8 => int_from_json!(json, path, u8, U8, as_u64),
        Type::U16 => int_from_json!(json, path, u16, U16, as_u64),
        Type::U32 => int_from_json!(json, path, u32, U32, as_u64),
        Type::U64 => int_from_json!(json, path, u64, U64, as_u64),
        Type::S8 => int_from_json!(json, path, i8, S8, as_i64),
        Type::S16 => int_from_json!(json, path, i16, S16, as_i64),
        Type::S32 => int_from_json!(json, path, i32, S32, as_i64),
        Type::S64 => int_from_json!(json, path, i64, S64, as_i64),
        // A finite number past f32's range would become ±∞ and come back out as a string
        // the caller never sent: refused instead.
        Type::Float32 => json
            .as_f64()
            .filter(|f| f.abs() <= f64::from(f32::MAX))
            .map(|f| Val::Float32(f as f32))
            .ok_or_else(|| mismatch(path, "number within f32's range", json)),
        Type::Float64 => json
            .as_f64()
            .map(Val::Float64)
            .ok_or_else(|| mismatch(path, "number (f64)", json)),
        Type::Char => {
            let s = json
                .as_str()
                .ok_or_else(|| mismatch(path, "a one-character string", json))?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(Val::Char(c)),
                _ => Err(mismatch(path, "a one-character string", json)),
            }
        }
        Type::String => json
            .as_str()
            .map(|s| Val::String(s.to_owned()))
            .ok_or_else(|| mismatch(path, "string", json)),
        Type::List(l) => {
            let items = json
                .as_array()
                .ok_or_else(|| mismatch(path, "array", json))?;
            let elem = l.ty();
            items
                .iter()
                .enumerate()
                .map(|(i, v)| from_json(&elem, v, &index_path(path, i)))
                .collect::<Result<_, _>>()
                .map(Val::List)
        }
        Type::FixedLengthList(l) => {
            let items = json.as_array().filter(|a| a.len() == l.len() as usize);
            let items = items.ok_or_else(|| {
                mismatch(path, format!("array of exactly {} items", l.len()), json)
            })?;
            let elem = l.ty();
            items
                .iter()
                .enumerate()
                .map(|(i, v)| from_json(&elem, v, &index_path(path, i)))
                .collect::<Result<_, _>>()
                .map(Val::FixedLengthList)
        }
        Type::Map(m) => {
            let (key_ty, value_ty) = (m.key(), m.value());
            if matches!(key_ty, Type::String) {
                let obj = json
                    .as_object()
                    .ok_or_else(|| mismatch(path, "object", json))?;
                obj.iter()
                    .map(|(k, v)| {
                        Ok((
                            Val::String(k.clone()),
                            from_json(&value_ty, v, &field_path(path, k))?,
                        ))
                    })
                    .collect::<Result<_, _>>()
                    .map(Val::Map)
            } else {
                let pairs = json
                    .as_array()
                    .ok_or_else(|| mismatch(path, "array of [key, value] pairs", json))?;
                pairs
                    .iter()
                    .enumerate()
                    .map(|(i, pair)| {
                        let p = index_path(path, i);
                        match pair.as_array().map(Vec::as_slice) {
                            Some([k, v]) => Ok((
                                from_json(&key_ty, k, &index_path(&p, 0))?,
                                from_json(&value_ty, v, &index_path(&p, 1))?,
                            )),
                            _ => Err(mismatch(&p, "a [key, value] pair", pair)),
                        }
                    })
                    .collect::<Result<_, _>>()
                    .map(Val::Map)
            }
        }
        Type::Record(r) => {
            let obj = json.as_object().ok_or_else(|| {
                let names: Vec<_> = r.fields().map(|f| f.name).collect();
                mismatch(
                    path,
                    format!("object with fields {}", names.join(", ")),
                    json,
                )
            })?;
            for key in obj.keys() {
                if !r.fields().any(|f| f.name == key) {
                    let names: Vec<_> = r.fields().map(|f| f.name).collect();
                    return Err(ValueError {
                        path: field_path(path, key),
                        expected: format!("no such field (fields are {})", names.join(", ")),
                        found: describe(&obj[key]),
                    });
                }
            }
            r.fields()
                .map(|f| {
                    let p = field_path(path, f.name);
                    let v = match (obj.get(f.name), &f.ty) {
                        (Some(v), ty) => from_json(ty, v, &p)?,
                        (None, Type::Option(_)) => Val::Option(None),
                        (None, ty) => {
                            return Err(ValueError {
                                path: p,
                                expected: format!("required field of type {}", type_name(ty)),
                                found: "nothing".into(),
                            });
                        }
                    };
                    Ok((f.name.to_owned(), v))
                })
                .collect::<Result<_, _>>()
                .map(Val::Record)
        }
        Type::Tuple(t) => {
            let n = t.types().len();
            let items = json
                .as_array()
                .filter(|a| a.len() == n)
                .ok_or_else(|| mismatch(path, format!("array of exactly {n} items"), json))?;
            t.types()
                .zip(items)
                .enumerate()
                .map(|(i, (ty, v))| from_json(&ty, v, &index_path(path, i)))
                .collect::<Result<_, _>>()
                .map(Val::Tuple)
        }
        Type::Variant(v) => {
            let names: Vec<_> = v.cases().map(|c| c.name).collect();
            let expected = || format!("one of the cases {}", names.join(", "));
            let (case, payload) = match json {
                Value::String(s) => (s.as_str(), None),
                Value::Object(o) if o.len() == 1 => {
                    let (k, v) = o
                        .iter()
                        .next()
                        .ok_or_else(|| mismatch(path, expected(), json))?;
                    (k.as_str(), Some(v))
                }
                _ => return Err(mismatch(path, expected(), json)),
            };
            let c = v
                .cases()
                .find(|c| c.name == case)
                .ok_or_else(|| mismatch(path, expected(), json))?;
            let p = field_path(path, case);
            let val = match (&c.ty, payload) {
                (None, None | Some(Value::Null)) => None,
                (None, Some(other)) => return Err(mismatch(&p, "no payload (null)", other)),
                (Some(ty), Some(v)) => Some(Box::new(from_json(ty, v, &p)?)),
                (Some(ty), None) => {
                    return Err(ValueError {
                        path: p,
                        expected: format!("{{\"{case}\": <{}>}}", type_name(ty)),
                        found: "a case without payload".into(),
                    });
                }
            };
            Ok(Val::Variant(case.to_owned(), val))
        }
        Type::Enum(e) => {
            let s = json.as_str().filter(|s| e.names().any(|n| n == *s));
            s.map(|s| Val::Enum(s.to_owned())).ok_or_else(|| {
                let names: Vec<_> = e.names().collect();
                mismatch(path, format!("one of {}", names.join(", ")), json)
            })
        }
        Type::Option(o) => {
            let inner = o.ty();
            match (json, &inner) {
                (Value::Null, _) => Ok(Val::Option(None)),
                // option<option<T>>: `some` must be explicit, or `null` would be ambiguous.
                (Value::Object(obj), Type::Option(_))
                    if obj.len() == 1 && obj.contains_key("some") =>
                {
                    let v = from_json(&inner, &obj["some"], &field_path(path, "some"))?;
                    Ok(Val::Option(Some(Box::new(v))))
                }
                (other, Type::Option(_)) => Err(mismatch(path, "null or {\"some\": …}", other)),
                (v, _) => Ok(Val::Option(Some(Box::new(from_json(&inner, v, path)?)))),
            }
        }
        Type::Result(r) => {
            let obj = json
                .as_object()
                .filter(|o| o.len() == 1)
                .ok_or_else(|| mismatch(path, "{\"ok\": …} or {\"err\": …}", json))?;
            let (tag, payload) = obj
                .iter()
                .next()
                .ok_or_else(|| mismatch(path, "{\"ok\": …} or {\"err\": …}", json))?;
            let ty = match tag.as_str() {
                "ok" => r.ok(),
                "err" => r.err(),
                _ => return Err(mismatch(path, "{\"ok\": …} or {\"err\": …}", json)),
            };
            let p = field_path(path, tag);
            let val = match (ty, payload) {
                (None, Value::Null) => None,
                (None, other) => return Err(mismatch(&p, "null", other)),
                (Some(ty), v) => Some(Box::new(from_json(&ty, v, &p)?)),
            };
            Ok(Val::Result(if tag == "ok" { Ok(val) } else { Err(val) }))
        }
        Type::Flags(f) => {
            let names: Vec<_> = f.names().collect();
            let items = json.as_array().ok_or_else(|| {
                mismatch(
                    path,
                    format!("array of flag names ({})", names.join(", ")),
                    json,
                )
            })?;
            let mut set = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let name = item.as_str().filter(|s| names.contains(s)).ok_or_else(|| {
                    mismatch(
                        &index_path(path, i),
                        format!("one of {}", names.join(", ")),
                        item,
                    )
                })?;
                if !set.iter().any(|s: &String| s == name) {
                    set.push(name.to_owned());
                }
            }
            Ok(Val::Flags(set))
        }
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            Err(ValueError {
                path: path.to_owned(),
                expected: format!("a {} (which cannot be passed as JSON)", type_name(ty)),
                found: describe(json),
            })
        }
    }
}

fn float_to_json(f: f64) -> Value {
    if f.is_nan() {
        json!("NaN")
    } else if f.is_infinite() {
        json!(if f > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(f)
    }
}

/// Converts a value the guest returned into JSON, following the table above.
pub fn to_json(val: &Val) -> Value {
    match val {
        Val::Bool(b) => json!(b),
        Val::S8(n) => json!(n),
        Val::U8(n) => json!(n),
        Val::S16(n) => json!(n),
        Val::U16(n) => json!(n),
        Val::S32(n) => json!(n),
        Val::U32(n) => json!(n),
        Val::S64(n) => json!(n),
        Val::U64(n) => json!(n),
        Val::Float32(f) => float_to_json(f64::from(*f)),
        Val::Float64(f) => float_to_json(*f),
        Val::Char(c) => json!(c.to_string()),
        Val::String(s) => json!(s),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
        Val::Map(pairs) => {
            if pairs.iter().all(|(k, _)| matches!(k, Val::String(_))) && !pairs.is_empty() {
                let mut obj = Map::new();
                for (k, v) in pairs {
                    if let Val::String(k) = k {
                        obj.insert(k.clone(), to_json(v));
                    }
                }
                Value::Object(obj)
            } else {
                Value::Array(
                    pairs
                        .iter()
                        .map(|(k, v)| json!([to_json(k), to_json(v)]))
                        .collect(),
                )
            }
        }
        Val::Record(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, v)| (name.clone(), to_json(v)))
                .collect(),
        ),
        Val::Variant(case, None) | Val::Enum(case) => json!(case),
        Val::Variant(case, Some(payload)) => json!({ case: to_json(payload) }),
        Val::Option(None) => Value::Null,
        Val::Option(Some(inner)) => match inner.as_ref() {
            Val::Option(_) => json!({ "some": to_json(inner) }),
            other => to_json(other),
        },
        Val::Result(Ok(v)) => json!({ "ok": v.as_deref().map_or(Value::Null, to_json) }),
        Val::Result(Err(v)) => json!({ "err": v.as_deref().map_or(Value::Null, to_json) }),
        Val::Flags(names) => json!(names),
        // Never produced for functions that passed `check_supported`.
        Val::Resource(_) => json!("<resource>"),
        Val::Future(_) => json!("<future>"),
        Val::Stream(_) => json!("<stream>"),
        Val::ErrorContext(_) => json!("<error-context>"),
    }
}

/// A short human name of a type, for messages.
pub fn type_name(ty: &Type) -> &'static str {
    match ty {
        Type::Bool => "bool",
        Type::S8 => "s8",
        Type::U8 => "u8",
        Type::S16 => "s16",
        Type::U16 => "u16",
        Type::S32 => "s32",
        Type::U32 => "u32",
        Type::S64 => "s64",
        Type::U64 => "u64",
        Type::Float32 => "f32",
        Type::Float64 => "f64",
        Type::Char => "char",
        Type::String => "string",
        Type::List(_) => "list",
        Type::FixedLengthList(_) => "fixed-length list",
        Type::Map(_) => "map",
        Type::Record(_) => "record",
        Type::Tuple(_) => "tuple",
        Type::Variant(_) => "variant",
        Type::Enum(_) => "enum",
        Type::Option(_) => "option",
        Type::Result(_) => "result",
        Type::Flags(_) => "flags",
        Type::Own(_) => "resource (own)",
        Type::Borrow(_) => "resource (borrow)",
        Type::Future(_) => "future",
        Type::Stream(_) => "stream",
        Type::ErrorContext => "error-context",
    }
}

/// Where a schema can find WIT doc comments for named things. Types carry no names at run
/// time, so records, variants, enums and flags are looked up by their set of field or case
/// names.
pub trait DocLookup {
    /// Docs of the type whose members are exactly `members`, and of each member.
    fn type_docs(&self, members: &[&str]) -> Option<(Option<String>, Vec<Option<String>>)>;
}

/// No docs at all.
pub struct NoDocs;

impl DocLookup for NoDocs {
    fn type_docs(&self, _: &[&str]) -> Option<(Option<String>, Vec<Option<String>>)> {
        None
    }
}

fn with_description(mut schema: Value, doc: Option<&String>) -> Value {
    if let (Some(doc), Value::Object(obj)) = (doc, &mut schema) {
        obj.insert("description".into(), json!(doc));
    }
    schema
}

macro_rules! int_schema {
    ($t:ty) => {
        json!({"type": "integer", "minimum": <$t>::MIN, "maximum": <$t>::MAX})
    };
}

/// The JSON Schema (draft 2020-12) of the JSON [`from_json`] accepts for `ty`.
pub fn schema(ty: &Type, docs: &dyn DocLookup) -> Value {
    match ty {
        Type::Bool => json!({"type": "boolean"}),
        Type::U8 => int_schema!(u8),
        Type::U16 => int_schema!(u16),
        Type::U32 => int_schema!(u32),
        Type::U64 => int_schema!(u64),
        Type::S8 => int_schema!(i8),
        Type::S16 => int_schema!(i16),
        Type::S32 => int_schema!(i32),
        Type::S64 => int_schema!(i64),
        Type::Float32 | Type::Float64 => json!({"type": "number"}),
        Type::Char => json!({"type": "string", "minLength": 1, "maxLength": 1}),
        Type::String => json!({"type": "string"}),
        Type::List(l) => json!({"type": "array", "items": schema(&l.ty(), docs)}),
        Type::FixedLengthList(l) => json!({
            "type": "array", "items": schema(&l.ty(), docs),
            "minItems": l.len(), "maxItems": l.len(),
        }),
        Type::Map(m) => {
            if matches!(m.key(), Type::String) {
                json!({"type": "object", "additionalProperties": schema(&m.value(), docs)})
            } else {
                json!({"type": "array", "items": {
                    "type": "array",
                    "prefixItems": [schema(&m.key(), docs), schema(&m.value(), docs)],
                    "items": false, "minItems": 2, "maxItems": 2,
                }})
            }
        }
        Type::Record(r) => {
            let names: Vec<&str> = r.fields().map(|f| f.name).collect();
            let (type_doc, member_docs) = docs.type_docs(&names).unwrap_or_default();
            let mut props = Map::new();
            let mut required = Vec::new();
            for (i, f) in r.fields().enumerate() {
                let s = schema(&f.ty, docs);
                props.insert(
                    f.name.to_owned(),
                    with_description(s, member_docs.get(i).and_then(Option::as_ref)),
                );
                if !matches!(f.ty, Type::Option(_)) {
                    required.push(f.name);
                }
            }
            with_description(
                json!({"type": "object", "properties": props, "required": required,
                       "additionalProperties": false}),
                type_doc.as_ref(),
            )
        }
        Type::Tuple(t) => {
            let items: Vec<Value> = t.types().map(|t| schema(&t, docs)).collect();
            let n = items.len();
            json!({"type": "array", "prefixItems": items, "items": false,
                   "minItems": n, "maxItems": n})
        }
        Type::Variant(v) => {
            let names: Vec<&str> = v.cases().map(|c| c.name).collect();
            let (type_doc, member_docs) = docs.type_docs(&names).unwrap_or_default();
            let cases: Vec<Value> = v
                .cases()
                .enumerate()
                .map(|(i, c)| {
                    let s = match &c.ty {
                        None => json!({"const": c.name}),
                        Some(t) => json!({
                            "type": "object", "properties": {c.name: schema(t, docs)},
                            "required": [c.name], "additionalProperties": false,
                        }),
                    };
                    with_description(s, member_docs.get(i).and_then(Option::as_ref))
                })
                .collect();
            with_description(json!({"oneOf": cases}), type_doc.as_ref())
        }
        Type::Enum(e) => {
            let names: Vec<&str> = e.names().collect();
            let (type_doc, _) = docs.type_docs(&names).unwrap_or_default();
            with_description(json!({"type": "string", "enum": names}), type_doc.as_ref())
        }
        Type::Option(o) => {
            let inner = o.ty();
            let some = if matches!(inner, Type::Option(_)) {
                json!({"type": "object", "properties": {"some": schema(&inner, docs)},
                       "required": ["some"], "additionalProperties": false})
            } else {
                schema(&inner, docs)
            };
            json!({"anyOf": [{"type": "null"}, some]})
        }
        Type::Result(r) => {
            let arm = |tag: &str, t: Option<Type>| {
                let payload = t.map_or_else(|| json!({"type": "null"}), |t| schema(&t, docs));
                json!({"type": "object", "properties": {tag: payload}, "required": [tag],
                       "additionalProperties": false})
            };
            json!({"oneOf": [arm("ok", r.ok()), arm("err", r.err())]})
        }
        Type::Flags(f) => {
            let names: Vec<&str> = f.names().collect();
            let (type_doc, _) = docs.type_docs(&names).unwrap_or_default();
            with_description(
                json!({"type": "array", "items": {"type": "string", "enum": names},
                       "uniqueItems": true}),
                type_doc.as_ref(),
            )
        }
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            json!({"not": {}, "description": format!("{} values cannot be passed as JSON", type_name(ty))})
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Found by the `json_wit_values` fuzz target: 1.8e39 given for an f32 became +∞, which
    /// comes back out as "Infinity", which the host then refused as its own output.
    #[test]
    fn an_f32_past_its_range_is_refused_not_made_infinite() {
        assert!(from_json(&Type::Float32, &json!(1.8e39), "a").is_err());
        assert!(from_json(&Type::Float32, &json!(-1.8e39), "a").is_err());
        let max = from_json(&Type::Float32, &json!(f64::from(f32::MAX)), "a").unwrap();
        assert_eq!(to_json(&max), json!(f64::from(f32::MAX)));
    }
}
