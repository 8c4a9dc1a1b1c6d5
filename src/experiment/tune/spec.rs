//! The `[tune]` table of an experiment file as written ([`TuneSpec`]) and validated
//! ([`Tune`]): the goal, the constraints, the search space, the budget and the shape of
//! the search.
//!
//! ```toml
//! [tune]
//! minimize = "lost"                       # or maximize = "good"; any column of runs.csv
//! constraints = ["p99_ok_ms <= 2000"]     # checked on every replication
//! start = "protected"                     # the variant the search starts from (default: the model as written)
//! budget = 60                             # simulated runs in all
//! eta = 3                                 # keep the best third at each rung
//! min_replications = 1                    # replications at the first rung
//! max_replications = 3                    # replications of the survivors at the last rung
//! method = "successive_halving"           # or "hyperband": brackets from wide-and-shallow to narrow-and-deep
//! cost = "p99_ok_ms"                      # the Pareto frontier's other axis; ties on the goal go to the lower cost
//! from_check = true                       # also try cascade check's Little's-law timeouts and bulkheads
//! [tune.space]
//! "services.payment.clients.processor.timeout" = { duration = ["100ms", "2s"] }
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::experiment::results::RUN_METRICS;
use crate::experiment::tune::space::Param;
use crate::model::load::LoadError;

/// `[tune]` as written.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TuneSpec {
    /// The run metric to minimise (a `runs.csv` column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimize: Option<String>,
    /// The run metric to maximise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximize: Option<String>,
    /// `"METRIC OP NUMBER"` with OP one of `<=`, `<`, `>=`, `>`.
    #[serde(default)]
    pub constraints: Vec<String>,
    /// The variant whose overrides the search starts from (default: the model as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Dotted model path → range or choices ([`Param`]).
    pub space: Table,
    /// Simulated runs in all (every replication of every configuration counts one).
    pub budget: u64,
    /// The halving rate: a rung keeps the best 1/eta (default 3).
    #[serde(default = "three")]
    pub eta: u32,
    /// Replications of every configuration at the first rung (default 1).
    #[serde(default = "one")]
    pub min_replications: u32,
    /// Replications of the survivors at the last rung (default 3).
    #[serde(default = "three")]
    pub max_replications: u32,
    /// `successive_halving` (default) or `hyperband`.
    #[serde(default)]
    pub method: Method,
    /// The cost axis of the Pareto frontier and the tie-break on equal goals (default
    /// `p99_ok_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<String>,
    /// Also try, second, the start with `cascade check`'s Little's-law starting points on
    /// the searched client timeouts (2 × callee p99) and bulkhead sizes (peak calls/s ×
    /// callee p99), clamped into their ranges (default false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_check: bool,
}

fn three() -> u32 {
    3
}
fn one() -> u32 {
    1
}

/// The shape of the search.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// One bracket: many configurations on few replications, the best on more.
    #[default]
    SuccessiveHalving,
    /// Li et al.'s Hyperband: one successive-halving bracket per starting rung, the
    /// budget shared equally, so a goal that only shows on many replications still
    /// gets configurations that start deep.
    Hyperband,
}

/// A comparison in a constraint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `<=`
    Le,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `>`
    Gt,
}

/// One constraint, checked on every replication.
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    /// As written.
    pub text: String,
    /// Index in [`RUN_METRICS`].
    pub metric: usize,
    /// The comparison.
    pub op: Op,
    /// The bound.
    pub bound: f64,
}

impl Constraint {
    /// Whether a run's value passes (a missing value, NaN, fails).
    pub fn holds(&self, x: f64) -> bool {
        match self.op {
            Op::Le => x <= self.bound,
            Op::Lt => x < self.bound,
            Op::Ge => x >= self.bound,
            Op::Gt => x > self.bound,
        }
    }
}

/// The validated `[tune]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct Tune {
    /// Index of the goal in [`RUN_METRICS`].
    pub goal: usize,
    /// True for `maximize`.
    pub maximize: bool,
    /// Constraints.
    pub constraints: Vec<Constraint>,
    /// Start variant name.
    pub start: Option<String>,
    /// Searched paths, sorted by path (the order of `tune.csv` columns).
    pub space: Vec<Param>,
    /// Runs in all.
    pub budget: u64,
    /// Halving rate.
    pub eta: u32,
    /// Replications per rung, increasing, the last `max_replications`.
    pub rungs: Vec<u32>,
    /// Shape of the search.
    pub method: Method,
    /// Index of the cost metric in [`RUN_METRICS`].
    pub cost: usize,
    /// Seed the search with `cascade check`'s starting points.
    pub from_check: bool,
}

/// The index of a run metric, or an error naming the key.
pub fn metric_index(file: &Path, key: &str, name: &str) -> Result<usize, LoadError> {
    RUN_METRICS.iter().position(|m| *m == name).ok_or_else(|| {
        LoadError::new(
            file,
            key,
            format!(
                "{name:?} is not a run metric (any runs.csv column: lost, lost_revenue, outage_s, p99_ok_ms, amplification, …; `cascade explain` lists them)"
            ),
        )
    })
}

fn parse_constraint(file: &Path, key: &str, text: &str) -> Result<Constraint, LoadError> {
    let bad = |p: String| LoadError::new(file, key, p);
    let ops = [("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)];
    let Some((pos, len, op)) = ops
        .iter()
        .find_map(|(s, op)| text.find(s).map(|p| (p, s.len(), *op)))
    else {
        return Err(bad(format!(
            "{text:?} is not a constraint like \"p99_ok_ms <= 2000\" (METRIC <=, <, >= or > NUMBER)"
        )));
    };
    let metric = text[..pos].trim();
    let bound_text = text[pos + len..].trim();
    let bound: f64 = bound_text
        .parse()
        .ok()
        .filter(|b: &f64| b.is_finite())
        .ok_or_else(|| bad(format!("{bound_text:?} in {text:?} is not a number")))?;
    Ok(Constraint {
        text: format!("{metric} {} {bound_text}", &text[pos..pos + len]),
        metric: metric_index(file, key, metric)?,
        op,
        bound,
    })
}

impl TuneSpec {
    /// Validates the table of `file`; errors name `tune.<key>`.
    pub fn validate(&self, file: &Path) -> Result<Tune, LoadError> {
        let bad = |k: &str, p: &str| LoadError::new(file, format!("tune.{k}"), p);
        let (goal, maximize) = match (&self.minimize, &self.maximize) {
            (Some(g), None) => (metric_index(file, "tune.minimize", g)?, false),
            (None, Some(g)) => (metric_index(file, "tune.maximize", g)?, true),
            (None, None) => {
                return Err(bad(
                    "minimize",
                    "a goal is needed: minimize = \"lost\" (or maximize = \"good\")",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(bad("maximize", "give minimize or maximize, not both"));
            }
        };
        let constraints = self
            .constraints
            .iter()
            .enumerate()
            .map(|(i, c)| parse_constraint(file, &format!("tune.constraints[{i}]"), c))
            .collect::<Result<Vec<_>, _>>()?;
        if self.space.is_empty() {
            return Err(bad("space", "is empty: give at least one path to search"));
        }
        let space = self
            .space
            .iter()
            .map(|(path, v)| {
                Param::parse(path, v)
                    .map_err(|p| LoadError::new(file, format!("tune.space.\"{path}\""), p))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.budget == 0 {
            return Err(bad("budget", "must be at least 1 simulated run"));
        }
        if self.eta < 2 {
            return Err(bad(
                "eta",
                "must be at least 2 (keep the best 1/eta at each rung)",
            ));
        }
        if self.min_replications == 0 {
            return Err(bad("min_replications", "must be at least 1"));
        }
        if self.max_replications < self.min_replications {
            return Err(bad("max_replications", "must be at least min_replications"));
        }
        if self.max_replications > 1000 {
            return Err(bad("max_replications", "must be at most 1000"));
        }
        let mut rungs = Vec::new();
        let mut r = self.min_replications as u64;
        loop {
            let clipped = r.min(self.max_replications as u64) as u32;
            rungs.push(clipped);
            if clipped >= self.max_replications {
                break;
            }
            r *= self.eta as u64;
        }
        let cost = match &self.cost {
            Some(c) => metric_index(file, "tune.cost", c)?,
            None => metric_index(file, "tune.cost", "p99_ok_ms")?,
        };
        Ok(Tune {
            goal,
            maximize,
            constraints,
            start: self.start.clone(),
            space,
            budget: self.budget,
            eta: self.eta,
            rungs,
            method: self.method,
            cost,
            from_check: self.from_check,
        })
    }
}

impl Tune {
    /// The goal's name.
    pub fn goal_name(&self) -> &'static str {
        RUN_METRICS[self.goal]
    }

    /// The cost's name.
    pub fn cost_name(&self) -> &'static str {
        RUN_METRICS[self.cost]
    }

    /// The value to minimise (the goal, negated when it is maximised).
    pub fn loss(&self, goal: f64) -> f64 {
        if self.maximize { -goal } else { goal }
    }
}

/// A TOML value as text in a table or a CSV cell.
pub fn text(v: &Value) -> String {
    crate::experiment::spec::value_text(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: &str) -> Result<Tune, LoadError> {
        let text = format!(
            "minimize = \"lost\"\nbudget = 20\n{extra}\n[space]\n\"a.b\" = {{ int = [1, 3] }}\n"
        );
        let t: TuneSpec = toml::from_str(&text).unwrap();
        t.validate(Path::new("t.toml"))
    }

    #[test]
    fn rungs_grow_by_eta_up_to_the_maximum() {
        assert_eq!(spec("max_replications = 9").unwrap().rungs, [1, 3, 9]);
        assert_eq!(spec("max_replications = 5").unwrap().rungs, [1, 3, 5]);
        assert_eq!(spec("max_replications = 1").unwrap().rungs, [1]);
    }

    #[test]
    fn constraints_parse_and_unknown_metrics_are_named() {
        let t = spec("constraints = [\"p99_ok_ms <= 2000\", \"amplification<1.5\"]").unwrap();
        assert_eq!(t.constraints[0].op, Op::Le);
        assert!(t.constraints[0].holds(2000.0) && !t.constraints[0].holds(2000.1));
        assert!(!t.constraints[1].holds(1.5));
        let e = spec("constraints = [\"p99_okk_ms <= 2000\"]").unwrap_err();
        assert_eq!(e.key, "tune.constraints[0]");
        assert!(e.problem.contains("p99_okk_ms"), "{e}");
        assert!(spec("constraints = [\"lost = 3\"]").is_err());
        assert!(spec("constraints = [\"lost <= x\"]").is_err());
    }

    #[test]
    fn budget_zero_and_missing_goals_are_refused() {
        let t: TuneSpec =
            toml::from_str("minimize = \"lost\"\nbudget = 0\n[space]\n\"a\" = { int = [1, 2] }")
                .unwrap();
        assert_eq!(
            t.validate(Path::new("t.toml")).unwrap_err().key,
            "tune.budget"
        );
        let t: TuneSpec = toml::from_str("budget = 3\n[space]\n\"a\" = { int = [1, 2] }").unwrap();
        assert_eq!(
            t.validate(Path::new("t.toml")).unwrap_err().key,
            "tune.minimize"
        );
        assert!(spec("cost = \"nope\"").is_err());
    }
}
