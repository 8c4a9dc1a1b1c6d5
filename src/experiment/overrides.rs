//! Dotted-path overrides of a model's TOML values: `services.order.clients.payment.timeout`.
//!
//! Overrides are applied to the parsed table *before* the model is validated, so a variant
//! is checked exactly like a hand-written model. Every segment but the last must exist
//! (a typo in a service name is an error naming the path, never a silently added
//! service); the last may be new (an optional key such as `retry`), and the model's
//! own validation then rejects unknown keys. Array elements are addressed by index
//! (`faults.0.duration`) or, for arrays of named tables, by name (`workloads.shoppers.slo`).

use toml::{Table, Value};

/// Sets `path` in `table` to `value`; the error says which prefix does not exist.
/// On error the table is unchanged.
pub fn apply(table: &mut Table, path: &str, value: Value) -> Result<(), String> {
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "{path:?} is not a dotted path like \"services.order.workers\""
        ));
    }
    let (last, parents) = segments.split_last().expect("split never yields nothing");
    let Some((first, rest)) = parents.split_first() else {
        table.insert((*last).to_string(), value);
        return Ok(());
    };
    let mut current = table.get_mut(*first).ok_or_else(|| missing(first, path))?;
    for (depth, seg) in rest.iter().enumerate() {
        let here = segments[..depth + 2].join(".");
        current = step(current, seg).ok_or_else(|| missing(&here, path))?;
    }
    match current {
        Value::Table(t) => {
            t.insert((*last).to_string(), value);
            Ok(())
        }
        Value::Array(items) => match index_of(items, last) {
            Some(i) => {
                items[i] = value;
                Ok(())
            }
            None => Err(missing(path, path)),
        },
        _ => Err(format!(
            "{} is a value, not a table, so {path} cannot be set",
            parents.join(".")
        )),
    }
}

/// Removes `path` from `table` (it must exist); the error says which prefix does not.
/// On error the table is unchanged.
pub fn remove(table: &mut Table, path: &str) -> Result<(), String> {
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "{path:?} is not a dotted path like \"services.api.liveness\""
        ));
    }
    let (last, parents) = segments.split_last().expect("split never yields nothing");
    let mut current = table;
    for (depth, seg) in parents.iter().enumerate() {
        let here = segments[..depth + 1].join(".");
        current = match current.get_mut(*seg) {
            Some(Value::Table(t)) => t,
            _ => return Err(missing(&here, path)),
        };
    }
    current
        .remove(*last)
        .map(|_| ())
        .ok_or_else(|| missing(path, path))
}

/// The value at `path`, if every segment exists (the same addressing as [`apply`]).
pub fn get<'a>(table: &'a Table, path: &str) -> Option<&'a Value> {
    let mut segments = path.split('.');
    let mut current = table.get(segments.next()?)?;
    for seg in segments {
        current = match current {
            Value::Table(t) => t.get(seg)?,
            Value::Array(items) => items.get(index_of(items, seg)?)?,
            _ => return None,
        };
    }
    Some(current)
}

fn missing(prefix: &str, path: &str) -> String {
    if prefix == path {
        format!("{path} does not exist in the model")
    } else {
        format!("{prefix} does not exist in the model (so {path} cannot be set)")
    }
}

fn index_of(items: &[Value], seg: &str) -> Option<usize> {
    if let Ok(i) = seg.parse::<usize>() {
        return (i < items.len()).then_some(i);
    }
    items
        .iter()
        .position(|v| v.get("name").and_then(Value::as_str) == Some(seg))
}

fn step<'a>(v: &'a mut Value, seg: &str) -> Option<&'a mut Value> {
    match v {
        Value::Table(t) => t.get_mut(seg),
        Value::Array(items) => {
            let i = index_of(items, seg)?;
            items.get_mut(i)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Table {
        r#"
[services.order]
workers = 10
[services.order.clients.payment]
timeout = "1s"
[[faults]]
target = "x"
at = "1s"
[[workloads]]
name = "shoppers"
slo = "1s"
"#
        .parse()
        .unwrap()
    }

    #[test]
    fn sets_existing_and_new_leaves() {
        let mut t = model();
        apply(&mut t, "services.order.workers", Value::Integer(3)).unwrap();
        apply(
            &mut t,
            "services.order.clients.payment.retry",
            Value::Table(Table::new()),
        )
        .unwrap();
        apply(&mut t, "faults.0.at", Value::String("2s".into())).unwrap();
        apply(&mut t, "workloads.shoppers.slo", Value::String("3s".into())).unwrap();
        assert_eq!(t["services"]["order"]["workers"].as_integer(), Some(3));
        assert!(
            t["services"]["order"]["clients"]["payment"]
                .get("retry")
                .is_some()
        );
        assert_eq!(t["faults"][0]["at"].as_str(), Some("2s"));
        assert_eq!(t["workloads"][0]["slo"].as_str(), Some("3s"));
    }

    #[test]
    fn gets_what_apply_sets() {
        let mut t = model();
        assert_eq!(
            get(&t, "services.order.clients.payment.timeout").and_then(Value::as_str),
            Some("1s")
        );
        assert_eq!(
            get(&t, "workloads.shoppers.slo").and_then(Value::as_str),
            Some("1s")
        );
        assert!(get(&t, "services.order.clients.payment.retry").is_none());
        apply(&mut t, "faults.0.at", Value::String("2s".into())).unwrap();
        assert_eq!(get(&t, "faults.0.at").and_then(Value::as_str), Some("2s"));
    }

    #[test]
    fn removes_a_key_that_exists_and_names_one_that_does_not() {
        let mut t = model();
        remove(&mut t, "services.order.clients.payment.timeout").unwrap();
        assert!(
            t["services"]["order"]["clients"]["payment"]
                .get("timeout")
                .is_none()
        );
        let before = t.clone();
        assert_eq!(
            remove(&mut t, "services.order.clients.payment.timeout").unwrap_err(),
            "services.order.clients.payment.timeout does not exist in the model"
        );
        assert!(remove(&mut t, "services.nope.workers").is_err());
        assert_eq!(t, before);
    }

    #[test]
    fn a_missing_prefix_is_an_error_naming_it_and_changes_nothing() {
        let mut t = model();
        let before = t.clone();
        let e = apply(
            &mut t,
            "services.no_such_service.workers",
            Value::Integer(3),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "services.no_such_service does not exist in the model (so services.no_such_service.workers cannot be set)"
        );
        assert!(apply(&mut t, "faults.7.at", Value::Integer(1)).is_err());
        assert!(apply(&mut t, "services.order.workers.x", Value::Integer(1)).is_err());
        assert!(apply(&mut t, "services..workers", Value::Integer(1)).is_err());
        assert_eq!(t, before);
    }
}
