//! `cascade tune`: search the model values a user can set (timeouts, retries, breaker
//! thresholds, bulkhead and pool sizes) for the configuration that does best on a goal
//! under constraints, in virtual time.
//!
//! A tuning file is an experiment file with a `[tune]` table ([`spec`]): the goal, the
//! constraints, the search space of dotted model paths ([`space`]) and a budget of
//! simulated runs. The search ([`search`]) is successive halving (or Hyperband) under
//! common random numbers, run through the experiment runner (parallel, the same progress
//! bar and memory guard, results independent of `--threads`). The outputs ([`output`]):
//! `tune.csv` with every configuration tried, the recommendation as a ready-to-run
//! experiment that compares it with the model as written, and a TOML patch.
//!
//! This module reuses the experiment layer's overrides: a searched path is a dotted path
//! exactly like a variant's `set` or a sweep's, validated the same way.

pub mod output;
pub mod search;
pub mod space;
pub mod spec;

pub use search::{Outcome, Tried, TuneError, Tuning};
pub use spec::{Tune, TuneSpec};
