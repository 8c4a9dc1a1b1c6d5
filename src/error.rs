//! [`ConfigError`]: what a value in a configuration gets when it makes no sense.
//!
//! Shared by every layer that validates user-written parameters (distributions in the
//! engine, policy configs, the model). Each layer reports the key relative to its own
//! config; the caller prefixes its key path with [`ConfigError::within`], and the model
//! loader finally prefixes the file name, so the user reads one line:
//! `models/shop.toml: services.order.clients.payment.retry.backoff.cap: is below base`.

/// A configuration value that makes no sense. `field` is the snake_case key inside the
/// config being validated (`failure_rate`, `backoff.cap`). Consequence: the thing is not
/// built and nothing is run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ConfigError {
    /// The offending key, relative to the config being validated.
    pub field: String,
    /// What is wrong with it, in a short lowercase phrase.
    pub problem: String,
}

impl ConfigError {
    /// An error for `field` with the explanation `problem`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The same error one level down: `retry` + `backoff.cap` → `retry.backoff.cap`.
    pub fn within(self, parent: &str) -> Self {
        let field = if self.field.is_empty() {
            parent.to_string()
        } else {
            format!("{parent}.{}", self.field)
        };
        ConfigError {
            field,
            problem: self.problem,
        }
    }
}
