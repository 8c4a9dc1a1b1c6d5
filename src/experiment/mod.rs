//! Experiments: what users touch. An experiment file names a model, variants (named
//! overrides), an optional sweep grid and replications; the plan is variants × sweep
//! points × replications, every job independent and run in parallel; the outputs are
//! CSV files, a manifest and charts.
//!
//! - [`spec`]: the file, validated into an [`Experiment`] (every model built up front);
//! - [`overrides`]: dotted-path overrides applied before validation;
//! - [`runner`]: parallel execution with a progress bar;
//! - [`results`]: exact, order-independent aggregation;
//! - [`output`]: the files, written atomically, and the merge of shards.

pub mod output;
pub mod overrides;
pub mod results;
pub mod runner;
pub mod spec;

pub use spec::{Experiment, Overrides};
