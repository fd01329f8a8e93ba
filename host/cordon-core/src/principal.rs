use serde::{Deserialize, Serialize};

/// Who is calling: the tenant they act for, who they are, and the roles policy weighs.
///
/// Surfaces build one from a verified token (or, for the local CLI, from configuration);
/// policy never sees anything else about the caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Principal {
    /// The tenant: the unit of isolation for limits, audit queries and (later) queues.
    pub tenant: String,
    /// Who, within the tenant: a user, a service, an agent.
    pub subject: String,
    /// Role names, e.g. `guest`, `developer`, `admin`. Unknown roles grant nothing.
    pub roles: Vec<String>,
}

impl Principal {
    /// A principal with the given tenant, subject and roles.
    pub fn new(
        tenant: impl Into<String>,
        subject: impl Into<String>,
        roles: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Principal {
            tenant: tenant.into(),
            subject: subject.into(),
            roles: roles.into_iter().map(Into::into).collect(),
        }
    }
}
