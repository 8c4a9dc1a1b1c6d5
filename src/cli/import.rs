//! `cascade import`: a Resilience4j, Istio or Envoy configuration as model TOML client
//! stacks on stdout; the keys with no equivalent are listed in the output (as comments)
//! and counted on stderr.

use std::path::Path;

use cascade::model::import::{self, Format};

use crate::cli::{Fail, input};

/// `cascade import FORMAT FILE`.
pub fn import(format: Format, file: &Path, caller: &str) -> Result<(), Fail> {
    let found = import::import(format, file).map_err(input)?;
    out!("{}", import::to_toml(format, file, caller, &found));
    if !found.unmapped.is_empty() {
        eprintln!(
            "note: {} keys of {} have no equivalent in cascade; the output lists them",
            found.unmapped.len(),
            file.display()
        );
    }
    Ok(())
}
