//! JSON → WIT values → JSON, for every parameter of every function of the `types` fixture
//! (records, variants, enums, flags, options, results, lists, tuples, every scalar).
//! Whatever JSON a caller sends is refused with an error or becomes a value; a value the
//! host made must convert back to the same JSON, and that JSON to the same value.
#![no_main]

use cordon_wasm::{EngineConfig, Executor, LoadedComponent, values};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static TYPES: LazyLock<LoadedComponent> = LazyLock::new(|| {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/fixtures/types.wasm");
    let executor = Executor::new(&EngineConfig::default(), None).expect("an engine");
    executor
        .load_file(std::path::Path::new(path))
        .expect("the types fixture (`make fixtures`)")
});

fuzz_target!(|data: &[u8]| {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    let Ok(arguments) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    let functions = TYPES.functions();
    let function = &functions[usize::from(pick) % functions.len()];
    for (name, ty) in &function.params {
        let Some(given) = arguments.get(name) else {
            continue;
        };
        let Ok(value) = values::from_json(ty, given, name) else {
            continue;
        };
        let once = values::to_json(&value);
        let again = values::from_json(ty, &once, name).unwrap_or_else(|e| {
            panic!("{}: the host's own JSON {once} for {given} is refused: {e}", function.name)
        });
        assert_eq!(values::to_json(&again), once, "{}: {name}", function.name);
    }
});
