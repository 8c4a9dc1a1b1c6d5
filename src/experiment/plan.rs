//! The plan of an experiment: sweep points (the cartesian product of the swept values)
//! and jobs (variant × point × replication, in a fixed order that every output follows).

use toml::Value;

use crate::experiment::spec::value_text;

/// One sweep point: the values of every swept path.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Short label, `timeout=500ms` (empty without a sweep): the last path segment, or
    /// the whole path where two swept paths share a last segment. The files also carry
    /// one column per swept path with its value.
    pub label: String,
    /// The value of each swept path, as text.
    pub values: Vec<String>,
}

/// One run of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    /// Position in the plan.
    pub index: usize,
    /// Variant index.
    pub variant: usize,
    /// Sweep point index.
    pub point: usize,
    /// Replication (the seed of every random stream depends on it, not on the variant).
    pub replication: u32,
}

/// Jobs in plan order: variant-major, then point, then replication.
pub fn jobs(variants: usize, points: usize, replications: u32) -> Vec<Job> {
    let mut jobs = Vec::with_capacity(variants * points * replications as usize);
    for v in 0..variants {
        for p in 0..points {
            for r in 0..replications {
                jobs.push(Job {
                    index: jobs.len(),
                    variant: v,
                    point: p,
                    replication: r,
                });
            }
        }
    }
    jobs
}

/// The number of points of a sweep, `None` if it overflows (checked before expanding).
pub fn point_count(values: &[Vec<Value>]) -> Option<u64> {
    values
        .iter()
        .try_fold(1u64, |acc, v| acc.checked_mul(v.len() as u64))
}

/// Every point of the sweep, in order (one empty point without a sweep).
pub fn cartesian(paths: &[String], values: &[Vec<Value>]) -> Vec<Point> {
    if paths.is_empty() {
        return vec![Point {
            label: String::new(),
            values: Vec::new(),
        }];
    }
    let short: Vec<String> = paths
        .iter()
        .map(|p| p.rsplit('.').next().unwrap_or(p).to_string())
        .collect();
    let unique = short
        .iter()
        .enumerate()
        .all(|(i, s)| !short[..i].contains(s));
    let names: Vec<&String> = if unique {
        short.iter().collect()
    } else {
        paths.iter().collect()
    };
    let mut points = vec![Vec::<String>::new()];
    for vals in values {
        let mut next = Vec::new();
        for p in &points {
            for v in vals {
                let mut q = p.clone();
                q.push(value_text(v));
                next.push(q);
            }
        }
        points = next;
    }
    points
        .into_iter()
        .map(|values| Point {
            label: names
                .iter()
                .zip(&values)
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            values,
        })
        .collect()
}

/// The value of swept path `si` at point `pi` (points are the cartesian product in order).
pub fn point_value(values: &[Vec<Value>], pi: usize, si: usize) -> Value {
    let stride: usize = values[si + 1..].iter().map(Vec::len).product();
    values[si][(pi / stride) % values[si].len()].clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_enumerate_the_product_with_the_last_path_fastest() {
        let paths = vec!["a.x".to_string(), "b.y".to_string()];
        let values = vec![
            vec![Value::Integer(1), Value::Integer(2)],
            vec![Value::String("p".into()), Value::String("q".into())],
        ];
        let pts = cartesian(&paths, &values);
        let labels: Vec<_> = pts.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["x=1,y=p", "x=1,y=q", "x=2,y=p", "x=2,y=q"]);
        assert_eq!(point_value(&values, 2, 0), Value::Integer(2));
        assert_eq!(point_value(&values, 2, 1), Value::String("p".into()));
        assert_eq!(point_count(&values), Some(4));
    }

    #[test]
    fn shared_last_segments_fall_back_to_whole_paths() {
        let paths = vec!["a.timeout".to_string(), "b.timeout".to_string()];
        let values = vec![vec![Value::Integer(1)], vec![Value::Integer(2)]];
        assert_eq!(
            cartesian(&paths, &values)[0].label,
            "a.timeout=1,b.timeout=2"
        );
    }

    #[test]
    fn jobs_are_variant_major_then_point_then_replication() {
        let j = jobs(2, 2, 2);
        assert_eq!(j.len(), 8);
        assert_eq!((j[5].variant, j[5].point, j[5].replication), (1, 0, 1));
        assert!(j.iter().enumerate().all(|(i, x)| x.index == i));
    }
}
