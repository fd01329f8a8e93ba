//! JSON ↔ WIT values through a real component that echoes every type, and the schemas
//! generated from the same types.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cordon_core::{ErrorCode, Grants, Limits};
use serde_json::{Value, json};

async fn echo(f: &str, args: Value) -> Result<Value, cordon_core::CallError> {
    let ex = common::executor();
    let c = common::load(&ex, "fixtures/types.wasm");
    ex.call(&c, Some(f), &args, &Grants::default(), &Limits::default())
        .await
        .map(|o| o.value)
}

#[tokio::test]
async fn every_integer_width_round_trips_at_its_bounds() {
    let args = json!({"a": 255, "b": -128, "c": 65535, "d": -32768, "e": 4294967295u64,
                      "f": -2147483648i64, "g": u64::MAX, "h": i64::MIN});
    let out = echo("ints", args).await.unwrap();
    assert_eq!(
        out,
        json!([
            255,
            -128,
            65535,
            -32768,
            4294967295u64,
            -2147483648i64,
            u64::MAX,
            i64::MIN
        ])
    );
}

#[tokio::test]
async fn out_of_range_integers_are_refused_naming_the_field() {
    let args = json!({"a": 256, "b": 0, "c": 0, "d": 0, "e": 0, "f": 0, "g": 0, "h": 0});
    let err = echo("ints", args).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::BadRequest);
    assert!(
        err.message.starts_with("a: expected integer from 0 to 255"),
        "{}",
        err.message
    );
    let args = json!({"a": 1, "b": 0, "c": 0, "d": 0, "e": -1, "f": 0, "g": 0, "h": 0});
    let err = echo("ints", args).await.unwrap_err();
    assert!(
        err.message
            .starts_with("e: expected integer from 0 to 4294967295"),
        "{}",
        err.message
    );
    let args = json!({"a": 1.5, "b": 0, "c": 0, "d": 0, "e": 0, "f": 0, "g": 0, "h": 0});
    assert_eq!(
        echo("ints", args).await.unwrap_err().code,
        ErrorCode::BadRequest
    );
}

#[tokio::test]
async fn floats_chars_and_strings_round_trip() {
    assert_eq!(
        echo("floats", json!({"a": 1.5, "b": -2.25})).await.unwrap(),
        json!([1.5, -2.25])
    );
    assert_eq!(
        echo("text", json!({"c": "é", "s": "naïve ☃"}))
            .await
            .unwrap(),
        json!(["é", "naïve ☃"])
    );
    let err = echo("text", json!({"c": "ab", "s": ""})).await.unwrap_err();
    assert!(
        err.message
            .starts_with("c: expected a one-character string"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn records_require_their_fields_and_refuse_others() {
    let p = json!({"p": {"x": 1, "y": -2}});
    assert_eq!(echo("point", p).await.unwrap(), json!({"x": 1, "y": -2}));
    let err = echo("point", json!({"p": {"x": 1}})).await.unwrap_err();
    assert_eq!(
        err.message,
        "p.y: expected required field of type s32, found nothing"
    );
    let err = echo("point", json!({"p": {"x": 1, "y": 2, "z": 3}}))
        .await
        .unwrap_err();
    assert!(
        err.message.starts_with("p.z: expected no such field"),
        "{}",
        err.message
    );
    let err = echo("point", json!({"p": {"x": "1", "y": 2}}))
        .await
        .unwrap_err();
    assert!(
        err.message.starts_with("p.x: expected integer"),
        "{}",
        err.message
    );
    assert!(
        err.message.ends_with("found string \"1\""),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn variants_enums_and_flags_round_trip() {
    assert_eq!(
        echo("shape", json!({"s": {"circle": 2.5}})).await.unwrap(),
        json!({"circle": 2.5})
    );
    assert_eq!(
        echo("shape", json!({"s": {"rectangle": {"x": 3, "y": 4}}}))
            .await
            .unwrap(),
        json!({"rectangle": {"x": 3, "y": 4}})
    );
    assert_eq!(
        echo("shape", json!({"s": "empty"})).await.unwrap(),
        json!("empty")
    );
    assert_eq!(
        echo("shape", json!({"s": {"hexagon": 1}}))
            .await
            .unwrap_err()
            .code,
        ErrorCode::BadRequest
    );
    assert_eq!(
        echo("color", json!({"c": "green"})).await.unwrap(),
        json!("green")
    );
    let err = echo("color", json!({"c": "mauve"})).await.unwrap_err();
    assert_eq!(
        err.message,
        "c: expected one of red, green, blue, found string \"mauve\""
    );
    assert_eq!(
        echo("perms", json!({"p": ["read", "exec"]})).await.unwrap(),
        json!(["read", "exec"])
    );
    assert_eq!(echo("perms", json!({"p": []})).await.unwrap(), json!([]));
    assert_eq!(
        echo("perms", json!({"p": ["fly"]})).await.unwrap_err().code,
        ErrorCode::BadRequest
    );
}

#[tokio::test]
async fn nested_options_keep_some_none_apart_from_none() {
    assert_eq!(
        echo("maybe", json!({"o": null})).await.unwrap(),
        json!(null)
    );
    assert_eq!(
        echo("maybe", json!({"o": {"some": null}})).await.unwrap(),
        json!({"some": null})
    );
    assert_eq!(
        echo("maybe", json!({"o": {"some": 7}})).await.unwrap(),
        json!({"some": 7})
    );
    // Left out entirely, an option argument is `none`.
    assert_eq!(echo("maybe", json!({})).await.unwrap(), json!(null));
    assert_eq!(
        echo("maybe", json!({"o": 7})).await.unwrap_err().code,
        ErrorCode::BadRequest
    );
}

#[tokio::test]
async fn a_returned_result_is_unwrapped_and_its_err_is_a_tool_error() {
    let ok = echo("outcome", json!({"s": "fine", "fail": false, "code": 0}))
        .await
        .unwrap();
    assert_eq!(ok, json!("fine"));
    let err = echo("outcome", json!({"s": "", "fail": true, "code": 42}))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ToolError);
    assert_eq!(err.detail, Some(json!(42)));
    // Nested results are values like any other.
    let wrapped = echo("wrapped", json!({"r": {"err": 7}})).await.unwrap();
    assert_eq!(wrapped, json!([{"err": 7}]));
}

#[tokio::test]
async fn lists_tuples_and_unit_functions_work() {
    assert_eq!(
        echo("bytes", json!({"b": [0, 1, 255]})).await.unwrap(),
        json!([0, 1, 255])
    );
    let l = json!({"l": [[{"x": 1, "y": 1}], [], [{"x": 2, "y": 2}, {"x": 3, "y": 3}]]});
    assert_eq!(echo("nested", l).await.unwrap(), json!(3));
    assert_eq!(echo("unit", json!({})).await.unwrap(), json!(null));
    assert_eq!(
        echo("unit", json!({"extra": 1})).await.unwrap_err().code,
        ErrorCode::BadRequest
    );
    assert_eq!(
        echo("unit", json!([1])).await.unwrap_err().code,
        ErrorCode::BadRequest
    );
}

#[test]
fn schemas_are_exact_and_carry_wit_docs() {
    let ex = common::executor();
    let c = common::load(&ex, "fixtures/types.wasm");
    let ints = c.function(Some("ints")).unwrap();
    assert_eq!(
        ints.description.as_deref(),
        Some("Echoes every integer width.")
    );
    let s = &ints.input_schema;
    assert_eq!(s["additionalProperties"], json!(false));
    assert_eq!(
        s["properties"]["a"],
        json!({"type": "integer", "minimum": 0, "maximum": 255})
    );
    assert_eq!(
        s["properties"]["b"],
        json!({"type": "integer", "minimum": -128, "maximum": 127})
    );
    assert_eq!(s["properties"]["g"]["maximum"], json!(u64::MAX));

    let point = &c.function(Some("point")).unwrap().input_schema["properties"]["p"];
    assert_eq!(point["description"], json!("A point on a grid."));
    assert_eq!(
        point["properties"]["x"]["description"],
        json!("Distance from the left edge.")
    );
    assert_eq!(point["required"], json!(["x", "y"]));

    let color = &c.function(Some("color")).unwrap().input_schema["properties"]["c"];
    assert_eq!(color["enum"], json!(["red", "green", "blue"]));
    let maybe = c.function(Some("maybe")).unwrap();
    assert_eq!(maybe.input_schema["required"], json!([]));
    let outcome = c.function(Some("outcome")).unwrap();
    assert_eq!(outcome.output_schema, json!({"type": "string"}));
}
