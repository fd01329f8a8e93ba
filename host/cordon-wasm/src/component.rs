//! A loaded component: compiled, linked, and described function by function.

use crate::cache::CacheStatus;
use crate::docs::ComponentDocs;
use crate::state::CallState;
use crate::values::{self, DocLookup};
use serde_json::{Map, Value, json};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Type};

/// One exported function, with everything needed to call it from JSON.
#[derive(Clone)]
pub struct FunctionInfo {
    /// `name` for a function exported by the component itself, `interface#name` for one
    /// inside an exported interface (e.g. `wasi:cli/run@0.2.0#run`).
    pub name: String,
    /// Parameter names and types, in order.
    pub params: Vec<(String, Type)>,
    /// The result type, if the function returns one.
    pub result: Option<Type>,
    /// The function's WIT doc comment.
    pub description: Option<String>,
    /// JSON Schema of the arguments object.
    pub input_schema: Value,
    /// JSON Schema of the returned value (a top-level `result` is described by its `ok`).
    pub output_schema: Value,
    /// Why the function cannot be called through JSON, if it cannot.
    pub unsupported: Option<String>,
    /// The export to call; `None` for a native command tool's `run`, which no component runs.
    pub(crate) index: Option<ComponentExportIndex>,
}

impl std::fmt::Debug for FunctionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionInfo")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl FunctionInfo {
    /// The one function of a native command tool: `run(args?, stdin?)`, the arguments going
    /// after the manifest's own, and `{code, signal, stdout, stderr}` back.
    pub fn command_run(description: &str) -> FunctionInfo {
        let input_schema = json!({
            "type": "object",
            "description": description,
            "properties": {
                "args": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Arguments after the tool's own; each one argument, never through a shell",
                },
                "stdin": {
                    "type": "string",
                    "description": "The command's standard input; closed when absent",
                },
            },
            "additionalProperties": false,
        });
        let output_schema = json!({
            "type": "object",
            "properties": {
                "code": {"type": ["integer", "null"], "description": "Exit status, when it exited"},
                "signal": {"type": ["integer", "null"], "description": "The signal that ended it, when one did"},
                "stdout": {"type": "string"},
                "stderr": {"type": "string"},
            },
            "required": ["code", "signal", "stdout", "stderr"],
        });
        FunctionInfo {
            name: "run".into(),
            params: Vec::new(),
            result: None,
            description: Some(description.to_owned()),
            input_schema,
            output_schema,
            unsupported: None,
            index: None,
        }
    }

    /// Whether the return value is a `result` whose `err` Cordon reports as `tool_error`.
    pub fn returns_result(&self) -> bool {
        matches!(self.result, Some(Type::Result(_)))
    }
}

/// A component ready to instantiate: compiled (or loaded from the precompile cache),
/// linked once into an `InstancePre`, and with its exported functions described.
pub struct LoadedComponent {
    /// Display name (the tool name, or the file name).
    pub name: String,
    /// SHA-256 of the component's bytes.
    pub digest: String,
    /// Whether it came from the precompile cache.
    pub cache_status: CacheStatus,
    pub(crate) pre: InstancePre<CallState>,
    functions: Vec<FunctionInfo>,
    imports: Vec<String>,
    toolchain: Option<&'static str>,
}

impl LoadedComponent {
    pub(crate) fn new(
        name: String,
        digest: String,
        cache_status: CacheStatus,
        component: &Component,
        pre: InstancePre<CallState>,
        docs: &ComponentDocs,
        toolchain: Option<&'static str>,
    ) -> Self {
        let engine = component.engine();
        let mut functions = Vec::new();
        for (export, item) in component.component_type().exports(engine) {
            match item.ty {
                ComponentItem::ComponentFunc(f) => {
                    if let Some(index) = component.get_export_index(None, export) {
                        functions.push(describe(export.to_owned(), &f, index, docs));
                    }
                }
                ComponentItem::ComponentInstance(inst) => {
                    let Some(parent) = component.get_export_index(None, export) else {
                        continue;
                    };
                    for (fname, item) in inst.exports(engine) {
                        if let ComponentItem::ComponentFunc(f) = item.ty
                            && let Some(index) = component.get_export_index(Some(&parent), fname)
                        {
                            functions.push(describe(format!("{export}#{fname}"), &f, index, docs));
                        }
                    }
                }
                _ => {}
            }
        }
        // componentize-py adds an `exports` instance of its own (`exports#init`, which it
        // calls while building); callers never should.
        if toolchain == Some("componentize-py") {
            functions.retain(|f| !f.name.starts_with("exports#"));
        }
        let imports = component
            .component_type()
            .imports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        LoadedComponent {
            name,
            digest,
            cache_status,
            pre,
            functions,
            imports,
            toolchain,
        }
    }

    /// Every interface the component imports (`wasi:filesystem/types@0.2.12`, ...), in
    /// import order: what admission policy weighs.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// The tool chain that built it (`componentize-py`), when its modules say so; what
    /// admission policy may excuse imports for.
    pub fn toolchain(&self) -> Option<&'static str> {
        self.toolchain
    }

    /// Keeps only the exported functions named in `names` (full or bare names, as
    /// [`LoadedComponent::function`] resolves them): a tool's manifest hides exports that
    /// are its toolchain's, not its callers' (componentize-py's `exports#init`).
    ///
    /// # Errors
    ///
    /// The resolution error of a name that names no function.
    pub fn retain_functions(&mut self, names: &[String]) -> Result<(), String> {
        let mut keep = Vec::new();
        for name in names {
            keep.push(self.function(Some(name))?.name.clone());
        }
        self.functions.retain(|f| keep.contains(&f.name));
        Ok(())
    }

    /// Every exported function, in export order.
    pub fn functions(&self) -> &[FunctionInfo] {
        &self.functions
    }

    /// Finds a function by its full name, or by its bare name when that is unambiguous
    /// (`run` for `wasi:cli/run@0.2.0#run`). Without a name, the component's only function.
    ///
    /// # Errors
    ///
    /// A message listing the available functions.
    pub fn function(&self, name: Option<&str>) -> Result<&FunctionInfo, String> {
        let list = || {
            self.functions
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(name) = name else {
            return match self.functions.as_slice() {
                [only] => Ok(only),
                _ => Err(format!(
                    "{} exports several functions; choose one with --fn: {}",
                    self.name,
                    list()
                )),
            };
        };
        if let Some(f) = self.functions.iter().find(|f| f.name == name) {
            return Ok(f);
        }
        let mut by_suffix = self
            .functions
            .iter()
            .filter(|f| f.name.rsplit_once('#').is_some_and(|(_, n)| n == name));
        match (by_suffix.next(), by_suffix.next()) {
            (Some(f), None) => Ok(f),
            _ => Err(format!(
                "{} has no function {name:?}; it exports: {}",
                self.name,
                list()
            )),
        }
    }
}

fn describe(
    name: String,
    f: &wasmtime::component::types::ComponentFunc,
    index: ComponentExportIndex,
    docs: &ComponentDocs,
) -> FunctionInfo {
    let params: Vec<(String, Type)> = f.params().map(|(n, t)| (n.to_owned(), t)).collect();
    let result = f.results().next();
    let unsupported = params
        .iter()
        .map(|(n, t)| values::check_supported(t, n))
        .chain(result.iter().map(|t| values::check_supported(t, "result")))
        .find_map(Result::err)
        .map(|e| e.to_string())
        .or_else(|| {
            f.async_()
                .then(|| "async functions are not callable yet".to_owned())
        });
    let description = docs.function(&name).map(str::to_owned);
    let input_schema = input_schema(&params, description.as_deref(), docs);
    let output_schema = match &result {
        None => json!({"type": "null"}),
        Some(Type::Result(r)) => r
            .ok()
            .map_or_else(|| json!({"type": "null"}), |t| values::schema(&t, docs)),
        Some(t) => values::schema(t, docs),
    };
    FunctionInfo {
        name,
        params,
        result,
        description,
        input_schema,
        output_schema,
        unsupported,
        index: Some(index),
    }
}

fn input_schema(
    params: &[(String, Type)],
    description: Option<&str>,
    docs: &dyn DocLookup,
) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for (name, ty) in params {
        props.insert(name.clone(), values::schema(ty, docs));
        if !matches!(ty, Type::Option(_)) {
            required.push(name.clone());
        }
    }
    let mut schema = json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
    });
    if let (Some(d), Value::Object(o)) = (description, &mut schema) {
        o.insert("description".into(), json!(d));
    }
    schema
}
