//! WIT doc comments, read back from a component's embedded WIT.
//!
//! The Rust toolchain's linker drops doc comments when it builds a component, so Cordon's
//! build (`make components`, `scripts/embed-wit.py`) appends the tool's WIT package,
//! binary-encoded with its docs, as a custom section named `cordon:wit`. Components without
//! that section still load and run: docs are then taken from their own embedded WIT, which
//! usually has none, and schemas simply carry no descriptions.

use crate::values::DocLookup;
use std::collections::HashMap;
use wit_parser::{Resolve, TypeDefKind, WorldItem, WorldKey};

/// Docs of a component's exported functions and of its named types.
#[derive(Debug, Default, Clone)]
pub struct ComponentDocs {
    functions: HashMap<String, String>,
    /// Keyed by the type's member names joined with NUL; `None` where two types with the
    /// same members have different docs (then neither gets any).
    types: HashMap<String, Option<TypeDocs>>,
}

/// A type's own doc and its members' docs, in member order.
type TypeDocs = (Option<String>, Vec<Option<String>>);

impl ComponentDocs {
    /// Reads docs from a component binary; empty when it has none or cannot be decoded.
    pub fn from_component(bytes: &[u8]) -> Self {
        if let Some(section) = wit_section(bytes) {
            match wit_component::decode(section) {
                Ok(wit_component::DecodedWasm::WitPackage(resolve, pkg)) => {
                    let mut docs = ComponentDocs::default();
                    for (_, world) in &resolve.packages[pkg].worlds {
                        docs.merge(Self::from_resolve(&resolve, *world));
                    }
                    return docs;
                }
                Ok(_) => tracing::debug!("cordon:wit section is not a WIT package"),
                Err(e) => tracing::debug!(error = %e, "cordon:wit section does not decode"),
            }
        }
        match wit_component::decode(bytes) {
            Ok(wit_component::DecodedWasm::Component(resolve, world)) => {
                Self::from_resolve(&resolve, world)
            }
            Ok(_) => Self::default(),
            Err(e) => {
                tracing::debug!(error = %e, "component WIT could not be decoded; no docs");
                Self::default()
            }
        }
    }

    fn from_resolve(resolve: &Resolve, world: wit_parser::WorldId) -> Self {
        let mut docs = ComponentDocs::default();
        for (key, item) in &resolve.worlds[world].exports {
            match item {
                WorldItem::Function(f) => {
                    if let Some(d) = &f.docs.contents {
                        docs.functions.insert(f.name.clone(), d.trim().to_owned());
                    }
                }
                WorldItem::Interface { id, .. } => {
                    let prefix = match key {
                        WorldKey::Name(n) => n.clone(),
                        WorldKey::Interface(_) => resolve.name_world_key(key),
                    };
                    for (name, f) in &resolve.interfaces[*id].functions {
                        if let Some(d) = &f.docs.contents {
                            docs.functions
                                .insert(format!("{prefix}#{name}"), d.trim().to_owned());
                        }
                    }
                }
                WorldItem::Type { .. } => {}
            }
        }
        for (_, ty) in resolve.types.iter() {
            let (members, member_docs): (Vec<&str>, Vec<Option<String>>) = match &ty.kind {
                TypeDefKind::Record(r) => r
                    .fields
                    .iter()
                    .map(|f| (f.name.as_str(), clean(&f.docs)))
                    .unzip(),
                TypeDefKind::Variant(v) => v
                    .cases
                    .iter()
                    .map(|c| (c.name.as_str(), clean(&c.docs)))
                    .unzip(),
                TypeDefKind::Enum(e) => e
                    .cases
                    .iter()
                    .map(|c| (c.name.as_str(), clean(&c.docs)))
                    .unzip(),
                TypeDefKind::Flags(f) => f
                    .flags
                    .iter()
                    .map(|c| (c.name.as_str(), clean(&c.docs)))
                    .unzip(),
                _ => continue,
            };
            let entry = (clean(&ty.docs), member_docs);
            if entry.0.is_none() && entry.1.iter().all(Option::is_none) {
                continue;
            }
            docs.add_type(members.join("\0"), Some(entry));
        }
        docs
    }

    fn merge(&mut self, other: ComponentDocs) {
        self.functions.extend(other.functions);
        for (key, entry) in other.types {
            self.add_type(key, entry);
        }
    }

    /// Records docs for the type with member key `key`; a second, different entry for the
    /// same key makes it ambiguous (`None`), so neither type gets possibly wrong docs.
    fn add_type(&mut self, key: String, entry: Option<TypeDocs>) {
        match self.types.get(&key) {
            None => {
                self.types.insert(key, entry);
            }
            Some(existing) if *existing == entry => {}
            Some(_) => {
                self.types.insert(key, None);
            }
        }
    }

    /// The doc comment of exported function `name` (`func` or `interface#func`).
    pub fn function(&self, name: &str) -> Option<&str> {
        self.functions.get(name).map(String::as_str)
    }
}

/// The payload of the top-level `cordon:wit` custom section, if present.
/// Appends the WIT package in `wit_dir` (with the packages under its `deps/`), encoded with
/// its doc comments, to `component` as the `cordon:wit` custom section
/// [`ComponentDocs::from_component`] reads. What `cordon build` does after compiling a tool;
/// a custom section never changes what a component does.
///
/// # Errors
///
/// When the WIT does not parse or resolve.
pub fn embed_wit(component: &[u8], wit_dir: &std::path::Path) -> Result<Vec<u8>, String> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_dir(wit_dir)
        .map_err(|e| format!("{}: {e:#}", wit_dir.display()))?;
    let encoded = wit_component::encode(&resolve, package)
        .map_err(|e| format!("encoding {}: {e:#}", wit_dir.display()))?;
    let name = b"cordon:wit";
    let mut payload = leb128(name.len());
    payload.extend_from_slice(name);
    payload.extend_from_slice(&encoded);
    let mut out = component.to_vec();
    out.push(0);
    out.extend(leb128(payload.len()));
    out.extend(payload);
    Ok(out)
}

fn leb128(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn wit_section(bytes: &[u8]) -> Option<&[u8]> {
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.ok()? {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::CustomSection(c) if depth == 0 && c.name() == "cordon:wit" => {
                return Some(&bytes[c.data_offset()..c.data_offset() + c.data().len()]);
            }
            _ => {}
        }
    }
    None
}

fn clean(docs: &wit_parser::Docs) -> Option<String> {
    docs.contents
        .as_ref()
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty())
}

impl DocLookup for ComponentDocs {
    fn type_docs(&self, members: &[&str]) -> Option<(Option<String>, Vec<Option<String>>)> {
        self.types.get(&members.join("\0")).cloned().flatten()
    }
}
