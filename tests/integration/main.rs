//! Integration tests, one binary (link once): `cargo test --release`.

mod cli;
mod contention;
mod engine;
mod fleets;
mod fuzz;
mod guard;
mod import;
mod lifecycle;
mod mechanisms;
mod outputs;
mod report;
mod resume;
mod scenarios;
mod tune;
mod world;
