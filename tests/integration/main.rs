//! Integration tests, one binary (link once): `cargo test --release`.

mod cli;
mod engine;
mod fleets;
mod mechanisms;
mod scenarios;
mod world;
