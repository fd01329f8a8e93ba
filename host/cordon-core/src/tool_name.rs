use std::fmt;

/// A tool name as MCP clients accept it: 1 to 64 ASCII letters, digits, `_` or `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ToolName(String);

/// Why a string is not a valid [`ToolName`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid tool name {name:?}: use 1 to 64 ASCII letters, digits, '_' or '-' (MCP's rule)")]
pub struct ToolNameError {
    name: String,
}

impl ToolName {
    /// Validates `name`.
    ///
    /// ```
    /// use cordon_core::ToolName;
    /// assert!(ToolName::new("text-analysis").is_ok());
    /// assert!(ToolName::new("../etc").is_err());
    /// assert!(ToolName::new("").is_err());
    /// ```
    pub fn new(name: impl Into<String>) -> Result<Self, ToolNameError> {
        let name = name.into();
        let ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(ToolName(name))
        } else {
            Err(ToolNameError { name })
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ToolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
