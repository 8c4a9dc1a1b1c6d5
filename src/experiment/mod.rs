//! Experiments: what users touch. An experiment file names a model, variants (named
//! overrides), an optional sweep grid and replications; the plan is variants × sweep
//! points × replications, every job independent and run in parallel; the outputs are
//! CSV files, a manifest and charts.
//!
//! - [`spec`]: the file, validated into an [`Experiment`] (every model built up front);
//! - [`plan`]: sweep points and jobs in plan order;
//! - [`limits`]: the guards of every run and the size checks made before running;
//! - [`overrides`]: dotted-path overrides applied before validation;
//! - [`runner`]: parallel execution with a progress bar;
//! - [`results`]: exact, order-independent aggregation;
//! - [`checkpoint`]: finished jobs saved, so an interrupted run resumes;
//! - [`output`]: the files, written whole into a staging directory and swapped into
//!   place, verified when read, and the merge of shards.

pub mod checkpoint;
pub mod columns;
pub mod limits;
pub mod output;
pub mod overrides;
pub mod plan;
pub mod results;
pub mod runner;
pub mod spec;
pub mod tune;

pub use spec::{Experiment, Overrides};
