//! Reading model files: TOML text → [`toml::Table`] → [`ModelSpec`] → [`Model`], with
//! every error reduced to one line naming the file, the key path and the problem.
//!
//! The table stage exists so that experiments can apply overrides (dotted paths) to the
//! file's values *before* validation: a variant is then checked exactly like a
//! hand-written model.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::model::graph::Model;
use crate::model::spec::ModelSpec;

/// A model or experiment file that cannot be used. Consequence: nothing was run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    /// The file.
    pub file: PathBuf,
    /// The key path inside it (empty for whole-file problems).
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.problem)
        } else {
            write!(f, "{}: {}: {}", self.file.display(), self.key, self.problem)
        }
    }
}

impl LoadError {
    /// An error about `key` in `file`.
    pub fn new(file: &Path, key: impl Into<String>, problem: impl Into<String>) -> Self {
        LoadError {
            file: file.to_path_buf(),
            key: key.into(),
            problem: one_line(&problem.into()),
        }
    }

    /// A validation error of `file`.
    pub fn config(file: &Path, e: ConfigError) -> Self {
        LoadError::new(file, e.field, e.problem)
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Largest model or experiment file read (4 MiB). The bundled ones are a few KiB; a
/// larger file is almost certainly not a model (a log, a device, a binary), and reading
/// it whole would cost memory for nothing.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads and parses a TOML file. Only regular files up to [`MAX_FILE_BYTES`] are read:
/// `/dev/zero`, a FIFO or a directory is refused before it is opened (opening a FIFO
/// would block), and a file that grows while it is read stops at the limit.
pub fn read_table(path: &Path) -> Result<toml::Table, LoadError> {
    let text = read_limited(path)?;
    let text = String::from_utf8(text)
        .map_err(|_| LoadError::new(path, "", "is not UTF-8 text (is it really a TOML file?)"))?;
    parse_table(path, &text)
}

fn read_limited(path: &Path) -> Result<Vec<u8>, LoadError> {
    use std::io::Read;
    let cannot = |e: std::io::Error| LoadError::new(path, "", format!("cannot read the file: {e}"));
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        return Err(LoadError::new(
            path,
            "",
            "is not a regular file (a model or experiment is a TOML text file)",
        ));
    }
    let too_big = || {
        LoadError::new(
            path,
            "",
            format!(
                "is larger than {} MiB: not a model or experiment file",
                MAX_FILE_BYTES >> 20
            ),
        )
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut text = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut text))
        .map_err(cannot)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    Ok(text)
}

/// Parses TOML text; syntax errors give the line and column.
pub fn parse_table(path: &Path, text: &str) -> Result<toml::Table, LoadError> {
    text.parse::<toml::Table>().map_err(|e| {
        let at = e
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("line {line}, column {col}: ")
            })
            .unwrap_or_default();
        LoadError::new(path, "", format!("{at}invalid TOML: {}", e.message()))
    })
}

/// Deserializes a table into `T`, reporting the key path of the first problem.
pub fn from_table<T: serde::de::DeserializeOwned>(
    path: &Path,
    table: toml::Table,
) -> Result<T, LoadError> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { String::new() } else { key };
        LoadError::new(path, key, e.into_inner().to_string())
    })
}

/// Builds a model from a (possibly overridden) table of `path`.
pub fn model_from_table(path: &Path, table: toml::Table) -> Result<(ModelSpec, Model), LoadError> {
    let spec: ModelSpec = from_table(path, table)?;
    let model = Model::build(&spec).map_err(|e| LoadError::config(path, e))?;
    Ok((spec, model))
}

/// Reads, parses and validates a model file.
pub fn load_model(path: &Path) -> Result<Model, LoadError> {
    model_from_table(path, read_table(path)?).map(|(_, m)| m)
}
