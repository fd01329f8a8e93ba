//! Catalog functions as MCP tools: names, descriptions and schemas.
//!
//! A catalog tool can export several functions, and an MCP tool is one function, so each
//! function becomes one MCP tool. Names keep to `[A-Za-z0-9_-]` (what MCP clients and model
//! APIs accept): a tool with one function is listed under the tool's own name; otherwise
//! as `tool__function`, with the interface added (`tool__interface__function`) only when
//! two interfaces export a function of the same name.

use cordon_wasm::FunctionInfo;
use cordon_wasm::catalog::{Catalog, Tool};
use rmcp::model::JsonObject;
use serde_json::{Value, json};
use std::sync::Arc;

/// One catalog function under its MCP name.
pub(crate) struct Listed<'a> {
    pub name: String,
    pub tool: &'a Arc<Tool>,
    pub function: &'a FunctionInfo,
}

/// Every callable function of every catalog tool, in catalog order.
pub(crate) fn functions(catalog: &Catalog) -> Vec<Listed<'_>> {
    let mut out = Vec::new();
    for tool in catalog.tools() {
        let callable: Vec<&FunctionInfo> = tool
            .functions()
            .iter()
            .filter(|f| f.unsupported.is_none())
            .collect();
        for f in &callable {
            let name = if callable.len() == 1 {
                tool.manifest.name.clone()
            } else {
                let short = short_name(&f.name);
                let clash = callable
                    .iter()
                    .filter(|g| short_name(&g.name) == short)
                    .count()
                    > 1;
                let part = if clash { f.name.as_str() } else { short };
                format!("{}__{}", tool.manifest.name, sanitize(part))
            };
            out.push(Listed {
                name,
                tool,
                function: f,
            });
        }
    }
    out
}

/// `wasi:cli/run@0.2.0#run` → `run`; `add` → `add`.
fn short_name(function: &str) -> &str {
    function.rsplit('#').next().unwrap_or(function)
}

/// `files#read-file` → `files__read-file`; `wasi:cli/run@0.2.0#run` → `wasi_cli_run_0_2_0__run`.
fn sanitize(function: &str) -> String {
    function
        .replace('#', "__")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Listed<'_> {
    /// The MCP tool definition: the WIT doc comment (else the manifest's description) as
    /// the description, the WIT-derived JSON Schema as `inputSchema` (with `session` for
    /// tools with a workspace), and the result under
    /// `result` as `outputSchema` (MCP's structured content must be an object).
    pub(crate) fn definition(&self) -> rmcp::model::Tool {
        let manifest = &self.tool.manifest;
        let description = match &self.function.description {
            Some(d) if !d.trim().is_empty() => {
                format!("{} ({}: {})", d.trim(), manifest.name, manifest.description)
            }
            _ => manifest.description.clone(),
        };
        let output = json!({
            "type": "object",
            "properties": {"result": self.function.output_schema},
            "required": ["result"],
        });
        rmcp::model::Tool::new(
            self.name.clone(),
            description,
            Arc::new(object(&cordon_host::call_schema(self.tool, self.function))),
        )
        .with_title(format!("{} · {}", manifest.name, self.function.name))
        .with_raw_output_schema(Arc::new(object(&output)))
    }
}

fn object(schema: &Value) -> JsonObject {
    match schema {
        Value::Object(m) => m.clone(),
        _ => JsonObject::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_to_the_characters_clients_accept() {
        assert_eq!(sanitize("files#read-file"), "files__read-file");
        assert_eq!(
            sanitize("wasi:cli/run@0.2.0#run"),
            "wasi_cli_run_0_2_0__run"
        );
        assert_eq!(short_name("files#read-file"), "read-file");
        assert_eq!(short_name("add"), "add");
    }
}
