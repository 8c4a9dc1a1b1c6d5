//! Reporting: turning an experiment's output directory into things people read.
//!
//! The runner writes `runs.csv`, `summary.csv`, `timeseries.csv` and `manifest.json`;
//! modules here only read those files back (never the simulation's in-memory state), so
//! a report can be redrawn from an old output directory, or from merged shards, without
//! running anything again.

pub mod charts;
