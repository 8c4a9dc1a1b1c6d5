//! Integration tests, one binary (link once): `cargo test --release`.

mod engine;
mod world;
