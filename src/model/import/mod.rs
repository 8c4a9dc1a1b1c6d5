//! `cascade import`: the client stacks of a Resilience4j `application.yml`, an Istio
//! `DestinationRule` / `VirtualService` or an Envoy cluster, in model TOML.
//!
//! Each importer maps the keys it knows (documented in [`resilience4j`], [`istio`],
//! [`envoy`], with the library's defaults written out for absent keys) and every other
//! key of the file is reported with its path and why it has no equivalent ([`Unmapped`]):
//! nothing is dropped silently. Every imported stack is validated as a client edge of a
//! two-service model before it is printed, so what is printed loads.
//!
//! YAML is read with `yaml-rust2` (a maintained, pure-Rust YAML 1.2 parser) into a tree
//! walked key by key ([`yaml`]).

pub mod envoy;
pub mod istio;
pub mod resilience4j;
pub mod yaml;

use std::path::Path;

use toml::{Table, Value};
use yaml_rust2::{Yaml, YamlLoader};

use crate::model::load::{LoadError, model_from_table};
use crate::time::SimDuration;

/// The formats `cascade import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Resilience4j Spring Boot configuration.
    Resilience4j,
    /// Istio `DestinationRule` (and `VirtualService` retries).
    Istio,
    /// Envoy clusters (and route retry policies).
    Envoy,
}

impl Format {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Resilience4j => "resilience4j",
            Format::Istio => "istio",
            Format::Envoy => "envoy",
        }
    }
}

/// One client stack: the table to paste as `[services.<caller>.clients.<name>]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Stack {
    /// The callee: an instance name (Resilience4j), a host (Istio), a cluster (Envoy).
    pub name: String,
    /// The client table.
    pub client: Table,
    /// How a value was derived, for people (written as comments).
    pub notes: Vec<String>,
}

/// A key of the file that has no equivalent.
#[derive(Clone, Debug, PartialEq)]
pub struct Unmapped {
    /// Its dotted path in the file.
    pub path: String,
    /// Why.
    pub why: String,
}

/// What an import found.
#[derive(Clone, Debug)]
pub struct Import {
    /// Stacks in the order the file names them.
    pub stacks: Vec<Stack>,
    /// Keys not mapped.
    pub unmapped: Vec<Unmapped>,
    /// The reason for an unread key, by its last segment (`None`: no equivalent).
    pub reasons: fn(&str) -> Option<&'static str>,
}

fn no_reason(_: &str) -> Option<&'static str> {
    None
}

impl Import {
    fn new() -> Import {
        Import {
            stacks: Vec::new(),
            unmapped: Vec::new(),
            reasons: no_reason,
        }
    }

    /// The stack named `name`, created empty when new.
    pub fn stack(&mut self, name: &str) -> &mut Stack {
        let i = match self.stacks.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                self.stacks.push(Stack {
                    name: name.to_string(),
                    client: Table::new(),
                    notes: Vec::new(),
                });
                self.stacks.len() - 1
            }
        };
        &mut self.stacks[i]
    }
}

/// A duration as a model file writes it.
pub fn duration_value(d: SimDuration) -> Value {
    Value::String(d.short())
}

/// Envoy's retry back-off (Istio's too, at Envoy's defaults): full jitter from `base`
/// up to `cap`, as cascade's `backoff` table.
pub fn full_jitter_backoff(base: SimDuration, cap: SimDuration) -> Value {
    let mut fj = Table::new();
    fj.insert("base".into(), duration_value(base));
    fj.insert("cap".into(), duration_value(cap));
    let mut b = Table::new();
    b.insert("full_jitter".into(), Value::Table(fj));
    Value::Table(b)
}

/// Reads `file` as `format`. Errors (one line, naming the file and the key): unreadable
/// file, invalid YAML, YAML that is not the named format, values of the wrong type, and
/// stacks the model would refuse.
pub fn import(format: Format, file: &Path) -> Result<Import, LoadError> {
    let bad = |key: &str, p: String| LoadError::new(file, key, p);
    let meta =
        std::fs::metadata(file).map_err(|e| bad("", format!("cannot read the file: {e}")))?;
    if !meta.is_file() || meta.len() > 4 << 20 {
        return Err(bad("", "is not a regular file of at most 4 MiB".into()));
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| bad("", format!("cannot read the file as UTF-8 text: {e}")))?;
    let docs = YamlLoader::load_from_str(&text).map_err(|e| {
        let m = e.marker();
        bad(
            "",
            format!(
                "line {}, column {}: invalid YAML: {}",
                m.line(),
                m.col() + 1,
                e.info()
            ),
        )
    })?;
    let mut out = Import::new();
    let mut found = false;
    for (i, doc) in docs.iter().enumerate() {
        let prefix = if docs.len() > 1 {
            format!("[{i}]")
        } else {
            String::new()
        };
        let tracker = yaml::Tracker::default();
        let hit = match format {
            Format::Resilience4j => resilience4j::import(doc, &tracker, &mut out),
            Format::Istio => istio::import(doc, &tracker, &prefix, &mut out),
            Format::Envoy => envoy::import(doc, &tracker, &prefix, &mut out),
        }
        .map_err(|(key, p)| bad(&key, p))?;
        found |= hit;
        if hit {
            for path in tracker.unread(doc, &prefix) {
                let last = path.rsplit('.').next().unwrap_or(&path);
                let why = (out.reasons)(last)
                    .unwrap_or("no equivalent in cascade")
                    .to_string();
                out.unmapped.push(Unmapped { path, why });
            }
        }
    }
    if !found {
        let what = match format {
            Format::Resilience4j => {
                "a Resilience4j configuration (no top-level `resilience4j` key)"
            }
            Format::Istio => {
                "an Istio DestinationRule or VirtualService (no document of that kind)"
            }
            Format::Envoy => {
                "an Envoy configuration (no cluster: expected a cluster, `clusters`, or `static_resources.clusters`)"
            }
        };
        return Err(bad("", format!("is not {what}")));
    }
    if out.stacks.is_empty() {
        return Err(bad(
            "",
            "names no client stack (no instances, hosts or clusters)".into(),
        ));
    }
    for s in &out.stacks {
        check(file, s)?;
    }
    Ok(out)
}

/// Loads `stack` as the client edge `a → b` of a two-service model: what is printed loads.
fn check(file: &Path, stack: &Stack) -> Result<(), LoadError> {
    const MODEL: &str = "[[workloads]]\nname = \"w\"\ntarget = \"a.x\"\narrivals = { poisson = { rate = 1.0 } }\npatience = \"10s\"\nslo = \"1s\"\n[services.a]\nworkers = 10\n[services.a.endpoints.x]\nsteps = [{ call = \"b.y\" }]\n[services.b]\nworkers = 10\n[services.b.endpoints.y]\nsteps = [{ work = { constant = \"1ms\" } }]\n";
    let mut t: Table = MODEL.parse().expect("a valid model");
    let clients = t["services"]["a"]
        .as_table_mut()
        .map(|a| {
            a.entry("clients")
                .or_insert_with(|| Value::Table(Table::new()))
        })
        .and_then(Value::as_table_mut)
        .expect("a table");
    clients.insert("b".into(), Value::Table(stack.client.clone()));
    model_from_table(file, t).map(|_| ()).map_err(|e| {
        let key = e.key.replacen("services.a.clients.b", &stack.name, 1);
        LoadError::new(
            file,
            key,
            format!("does not map to a valid client stack: {}", e.problem),
        )
    })
}

/// The import as model TOML: a header, the unmapped keys as comments, then one table per
/// stack under `[services.<caller>.clients.<name>]`.
pub fn to_toml(format: Format, file: &Path, caller: &str, import: &Import) -> String {
    let mut out = format!(
        "# cascade import {} {}\n# One client stack per {}: paste each under the service that makes the calls\n# (rename `{caller}` to it, or use --caller NAME).\n",
        format.name(),
        file.display(),
        match format {
            Format::Resilience4j => "instance",
            Format::Istio => "host",
            Format::Envoy => "cluster",
        }
    );
    if import.unmapped.is_empty() {
        out.push_str("# Every key of the file is mapped.\n");
    } else {
        out.push_str(&format!(
            "# Not mapped ({} keys, no equivalent in cascade):\n",
            import.unmapped.len()
        ));
        for u in &import.unmapped {
            out.push_str(&format!("#   {}: {}\n", u.path, u.why));
        }
    }
    for s in &import.stacks {
        out.push('\n');
        for n in &s.notes {
            out.push_str(&format!("# {n}\n"));
        }
        let mut clients = Table::new();
        clients.insert(s.name.clone(), Value::Table(s.client.clone()));
        let mut svc = Table::new();
        svc.insert("clients".into(), Value::Table(clients));
        let mut services = Table::new();
        services.insert(caller.to_string(), Value::Table(svc));
        let mut root = Table::new();
        root.insert("services".into(), Value::Table(services));
        out.push_str(&toml::to_string(&root).unwrap_or_default());
    }
    out
}

/// The YAML value of a document as text, for messages.
pub fn describe(y: &Yaml) -> String {
    match y {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        _ => format!("{y:?}"),
    }
}

#[cfg(test)]
mod tests;

/// Envoy's `retry_on` conditions (Istio's `retryOn` uses the same names) as the outcome
/// classes a cascade retry retries on; a condition with no class is reported at `path`.
pub(crate) fn retry_on_classes(on: &str, path: &str, unmapped: &mut Vec<Unmapped>) -> toml::Value {
    let mut kinds: Vec<&str> = Vec::new();
    for cond in on.split(',').map(str::trim) {
        let add: &[&str] = match cond {
            "5xx" | "gateway-error" | "connect-failure" | "reset" | "refused-stream"
            | "unavailable" | "cancelled" => &["server_error", "timeout"],
            "retriable-4xx" => &["client_error"],
            "resource-exhausted" => &["throttled"],
            _ => {
                unmapped.push(Unmapped {
                    path: path.to_string(),
                    why: format!("{cond:?}: no equivalent outcome class"),
                });
                &[]
            }
        };
        for k in add {
            if !kinds.contains(k) {
                kinds.push(k);
            }
        }
    }
    toml::Value::Array(
        kinds
            .iter()
            .map(|k| toml::Value::String(k.to_string()))
            .collect(),
    )
}

/// `{ least_request = { choice_count = k } }`: Envoy's power-of-k balancer (Istio's
/// LEAST_REQUEST is Envoy's with k = 2).
pub(crate) fn least_request(k: u64) -> toml::Value {
    let mut t = toml::Table::new();
    t.insert("choice_count".into(), toml::Value::Integer(k as i64));
    let mut lr = toml::Table::new();
    lr.insert("least_request".into(), toml::Value::Table(t));
    toml::Value::Table(lr)
}
