//! Reading a foreign YAML configuration key by key: a [`Node`] knows its dotted path and
//! remembers which keys were read, so whatever an importer did not map is reported
//! ([`Node::unread`]) instead of dropped silently.

use std::cell::RefCell;
use std::collections::BTreeSet;

use yaml_rust2::Yaml;

use crate::time::SimDuration;

/// The paths read from one document.
#[derive(Default)]
pub struct Tracker {
    /// Keys looked at (a mapping among them is looked into).
    read: RefCell<BTreeSet<String>>,
    /// Keys taken whole, whatever is under them.
    whole: RefCell<BTreeSet<String>>,
}

/// A YAML value at a path.
#[derive(Clone)]
pub struct Node<'a> {
    /// The value.
    pub yaml: &'a Yaml,
    tracker: &'a Tracker,
    path: String,
}

/// Why a value cannot be read: `(path, problem)`.
pub type Bad = (String, String);

fn key_text(k: &Yaml) -> String {
    match k {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        _ => "?".to_string(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Tracker {
    /// The root of a document; `prefix` names it in reports (`""`, or `docs[1]`).
    pub fn root<'a>(&'a self, yaml: &'a Yaml, prefix: &str) -> Node<'a> {
        Node {
            yaml,
            tracker: self,
            path: prefix.to_string(),
        }
    }

    /// Every key of `yaml` (under `prefix`) that was never read, in file order; a
    /// mapping that was read is looked into, any other value read counts whole.
    pub fn unread(&self, yaml: &Yaml, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(yaml, prefix, &mut out);
        out
    }

    fn walk(&self, yaml: &Yaml, path: &str, out: &mut Vec<String>) {
        let read = self.read.borrow();
        let whole = self.whole.borrow();
        match yaml {
            Yaml::Hash(h) => {
                for (k, v) in h {
                    let p = join(path, &key_text(k));
                    if whole.contains(&p) {
                        continue;
                    }
                    if !read.contains(&p) {
                        out.push(p);
                    } else if v.as_hash().is_some() || v.as_vec().is_some() {
                        self.walk(v, &p, out);
                    }
                }
            }
            Yaml::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    if read.contains(&p) && !whole.contains(&p) {
                        self.walk(v, &p, out);
                    }
                }
            }
            _ => {}
        }
    }
}

impl<'a> Node<'a> {
    /// This node's dotted path.
    pub fn path(&self) -> String {
        self.path.clone()
    }

    /// The path of `key` under this node.
    pub fn at(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The keys of a mapping, in file order (none for anything else).
    pub fn keys(&self) -> Vec<String> {
        match self.yaml {
            Yaml::Hash(h) => h.keys().map(key_text).collect(),
            _ => Vec::new(),
        }
    }

    /// Marks `key` and everything under it as read, without using it.
    pub fn touch(&self, key: &str) {
        self.tracker.whole.borrow_mut().insert(self.at(key));
    }

    /// The value of `key`, marked as read; `None` when absent (or null).
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        let Yaml::Hash(h) = self.yaml else {
            return None;
        };
        let v = h.get(&Yaml::String(key.to_string()))?;
        let path = self.at(key);
        self.tracker.read.borrow_mut().insert(path.clone());
        if v.is_null() {
            return None;
        }
        Some(Node {
            yaml: v,
            tracker: self.tracker,
            path,
        })
    }

    /// The items of a list, each marked as read.
    pub fn items(&self) -> Vec<Node<'a>> {
        let Yaml::Array(items) = self.yaml else {
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let path = format!("{}[{i}]", self.path);
                self.tracker.read.borrow_mut().insert(path.clone());
                Node {
                    yaml: v,
                    tracker: self.tracker,
                    path,
                }
            })
            .collect()
    }

    /// A string (numbers as their text).
    pub fn str(&self, key: &str) -> Result<Option<String>, Bad> {
        let Some(n) = self.get(key) else {
            return Ok(None);
        };
        match n.yaml {
            Yaml::String(s) | Yaml::Real(s) => Ok(Some(s.clone())),
            Yaml::Integer(i) => Ok(Some(i.to_string())),
            Yaml::Boolean(b) => Ok(Some(b.to_string())),
            _ => Err((n.path(), "must be a single value".into())),
        }
    }

    /// A non-negative integer.
    pub fn uint(&self, key: &str) -> Result<Option<u64>, Bad> {
        let Some(n) = self.get(key) else {
            return Ok(None);
        };
        match n.yaml {
            Yaml::Integer(i) if *i >= 0 => Ok(Some(*i as u64)),
            // A protobuf wrapper written out: `{ value: 5 }`.
            Yaml::Hash(_) => n.uint("value").map(|v| v.or(Some(0))),
            Yaml::String(s) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| (n.path(), format!("{s:?} is not a non-negative integer"))),
            other => Err((n.path(), format!("{other:?} is not a non-negative integer"))),
        }
    }

    /// A number.
    pub fn float(&self, key: &str) -> Result<Option<f64>, Bad> {
        let Some(n) = self.get(key) else {
            return Ok(None);
        };
        let x = match n.yaml {
            Yaml::Integer(i) => Some(*i as f64),
            Yaml::Real(s) | Yaml::String(s) => s.trim().trim_end_matches('%').parse().ok(),
            Yaml::Hash(_) => n.float("value")?,
            _ => None,
        };
        x.filter(|x: &f64| x.is_finite())
            .map(Some)
            .ok_or_else(|| (n.path(), "is not a number".into()))
    }

    /// A boolean.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, Bad> {
        let Some(n) = self.get(key) else {
            return Ok(None);
        };
        match n.yaml {
            Yaml::Boolean(b) => Ok(Some(*b)),
            Yaml::String(s) if s == "true" || s == "false" => Ok(Some(s == "true")),
            _ => Err((n.path(), "must be true or false".into())),
        }
    }

    /// A duration: `"30s"`, `"1.5s"`, `"200ms"`, `"1m"`; a bare number is in
    /// `bare_unit` (milliseconds for Spring Boot, seconds where a format says so).
    pub fn duration(&self, key: &str, bare_unit: SimDuration) -> Result<Option<SimDuration>, Bad> {
        let Some(n) = self.get(key) else {
            return Ok(None);
        };
        let text = match n.yaml {
            Yaml::Integer(i) if *i >= 0 => {
                return Ok(Some(SimDuration::from_nanos(
                    (*i as u64).saturating_mul(bare_unit.as_nanos()),
                )));
            }
            Yaml::String(s) | Yaml::Real(s) => s.trim().to_string(),
            _ => return Err((n.path(), "is not a duration".into())),
        };
        if let Ok(x) = text.parse::<f64>()
            && x >= 0.0
            && x.is_finite()
        {
            return Ok(Some(bare_unit.mul_f64(x)));
        }
        // Protobuf JSON durations allow fractions of seconds ("0.25s"); ISO-8601 ("PT5S")
        // is what Spring prints.
        let lower = text.to_ascii_lowercase();
        if let Some(iso) = lower.strip_prefix("pt") {
            return iso
                .parse::<SimDuration>()
                .map(Some)
                .map_err(|e| (n.path(), format!("{text:?}: {e}")));
        }
        if let Some(secs) = lower.strip_suffix('s')
            && !secs.ends_with('m')
            && !secs.ends_with('n')
            && !secs.ends_with('u')
            && let Ok(x) = secs.parse::<f64>()
            && x >= 0.0
        {
            return Ok(Some(SimDuration::from_secs_f64(x)));
        }
        lower
            .parse::<SimDuration>()
            .map(Some)
            .map_err(|e| (n.path(), format!("{text:?} is not a duration: {e}")))
    }
}
