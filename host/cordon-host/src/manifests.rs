//! Tool manifests in the policy engine's value form, converted once per tool.

use cordon_policy::PolicyValue;
use cordon_wasm::catalog::Tool;
use std::collections::HashMap;
use std::sync::RwLock;

/// A catalog can hold thousands of tools; past this many distinct names the cache starts
/// over rather than grow without bound.
const MAX_TOOLS: usize = 4096;

/// Per tool name, the manifest last seen and its converted form. A tool reloaded with a
/// different manifest is noticed by comparing the JSON (far cheaper than converting it).
#[derive(Default)]
pub(crate) struct PreparedManifests {
    by_name: RwLock<HashMap<String, (serde_json::Value, PolicyValue)>>,
}

impl PreparedManifests {
    pub(crate) fn get(&self, tool: &Tool) -> PolicyValue {
        let name = &tool.manifest.name;
        if let Some((json, prepared)) = self
            .by_name
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            && *json == tool.manifest_json
        {
            return prepared.clone();
        }
        let prepared = PolicyValue::from_json(&tool.manifest_json);
        let mut by_name = self
            .by_name
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if by_name.len() >= MAX_TOOLS && !by_name.contains_key(name) {
            by_name.clear();
        }
        by_name.insert(name.clone(), (tool.manifest_json.clone(), prepared.clone()));
        prepared
    }
}
