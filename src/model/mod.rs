//! The model of a service graph: what files say ([`spec`]), validated with ids resolved
//! ([`build`]), and read from disk with one-line errors ([`load`]).
//!
//! Raw spec, then validated value (STYLE §4): all user mistakes surface in validation,
//! each as one message with the file, the key path and what is wrong.

pub mod build;
pub mod describe;
pub mod graph;
pub mod import;
pub mod load;
pub mod spec;

pub use graph::{ClientId, EndpointId, Model, ServiceId};
pub use load::{LoadError, load_model};
pub use spec::ModelSpec;
