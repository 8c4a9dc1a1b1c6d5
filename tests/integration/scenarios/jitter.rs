//! Scenario test: being written.
