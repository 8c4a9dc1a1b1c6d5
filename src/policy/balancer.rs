//! Load balancers: which instance of a callee gets the next attempt, as Envoy picks it.
//!
//! Why the choice matters: with identical instances every policy spreads load evenly, but
//! real fleets are never identical. One slow instance (a noisy neighbour, a bad disk, a
//! cold JIT — a *gray failure*) keeps receiving its 1/N share under round robin and random
//! routing, so its queue grows without bound and a tenth of all requests time out, while
//! the other nine instances idle. A balancer that looks at load — Envoy's least request,
//! the "power of two choices" of Mitzenmacher's thesis — sends new work to the less busy of
//! two random instances, so the slow one receives only what it can finish and the fleet
//! routes around it. Sampling two hosts instead of scanning all of them keeps the pick O(1)
//! and, as the thesis shows, almost as good as a full scan.
//!
//! What is reproduced (Envoy `source/extensions/load_balancing_policies/`):
//! - `round_robin`: `hosts[rr_index++ % hosts.len()]`, one index per host source (healthy
//!   hosts, or all hosts in panic), both starting at a random seed drawn when the balancer
//!   is created (`EdfLoadBalancerBase::seed_`), so every edge does not start at host 0;
//! - `random`: `hosts[random() % hosts.len()]`;
//! - `least_request` (N_CHOICES): `choice_count` hosts drawn at random *with replacement*;
//!   the first is the candidate and a later draw replaces it only with strictly fewer
//!   active requests;
//! - `least_outstanding` (Envoy's FULL_SCAN selection): every host is scanned, the fewest
//!   active requests win and ties are broken uniformly by reservoir sampling.
//!
//! The panic threshold ([`in_panic`]) decides between the healthy hosts and all of them:
//! below it Envoy balances across every host, healthy or not, on the theory that routing
//! to sick hosts beats concentrating all traffic on the few survivors.
//!
//! The balancer is sans-IO: the caller passes the host list and each host's active count;
//! it keeps only its round-robin indices. It must not read a clock or own an RNG.

use std::fmt;

use rand::Rng;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ConfigError;

/// The balancing policy as written in a model file: `"round_robin"` (default, Envoy's),
/// `"random"`, `{ least_request = { choice_count = 2 } }` or `"least_outstanding"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BalancerConfig {
    /// Each host in turn.
    #[default]
    RoundRobin,
    /// A uniformly random host.
    Random,
    /// The least active of `choice_count` random hosts (power of k choices).
    LeastRequest {
        /// Hosts sampled per pick (Envoy's default 2, at least 2).
        choice_count: u32,
    },
    /// The least active of all hosts (full scan, ties broken at random).
    LeastOutstanding,
}

impl BalancerConfig {
    /// The snake_case name as written in files.
    pub fn name(&self) -> &'static str {
        match self {
            BalancerConfig::RoundRobin => "round_robin",
            BalancerConfig::Random => "random",
            BalancerConfig::LeastRequest { .. } => "least_request",
            BalancerConfig::LeastOutstanding => "least_outstanding",
        }
    }

    /// Checks the parameters (Envoy rejects `choice_count < 2`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let BalancerConfig::LeastRequest { choice_count } = self
            && *choice_count < 2
        {
            return Err(ConfigError::new(
                "least_request.choice_count",
                "must be at least 2 (one choice is random balancing)",
            ));
        }
        Ok(())
    }
}

fn default_choice_count() -> u32 {
    2
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct LeastRequestSpec {
    #[serde(default = "default_choice_count")]
    choice_count: u32,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct LeastRequestTable {
    least_request: LeastRequestSpec,
}

impl Serialize for BalancerConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            BalancerConfig::LeastRequest { choice_count } => LeastRequestTable {
                least_request: LeastRequestSpec { choice_count },
            }
            .serialize(s),
            other => s.serialize_str(other.name()),
        }
    }
}

impl<'de> Deserialize<'de> for BalancerConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BalancerConfig;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "\"round_robin\", \"random\", \"least_outstanding\" or { least_request = { choice_count = 2 } }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BalancerConfig, E> {
                match v {
                    "round_robin" => Ok(BalancerConfig::RoundRobin),
                    "random" => Ok(BalancerConfig::Random),
                    "least_outstanding" => Ok(BalancerConfig::LeastOutstanding),
                    "least_request" => Ok(BalancerConfig::LeastRequest {
                        choice_count: default_choice_count(),
                    }),
                    other => Err(E::custom(format!(
                        "unknown load balancer {other:?}: use round_robin, random, least_request or least_outstanding"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<BalancerConfig, A::Error> {
                let t = LeastRequestTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(BalancerConfig::LeastRequest {
                    choice_count: t.least_request.choice_count,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Which host list a pick draws from (Envoy keeps one round-robin index per source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostSource {
    /// The healthy hosts (normal operation).
    Healthy,
    /// Every host, healthy or not (panic mode).
    All,
}

/// Envoy's overprovisioning factor (percent): a host set counts as fully available as long
/// as `140 × healthy ÷ total ≥ 100`, i.e. at least ~72 % of its hosts are healthy.
pub const OVERPROVISIONING_FACTOR: u64 = 140;

/// Envoy's default `healthy_panic_threshold`, percent.
pub const DEFAULT_PANIC_THRESHOLD: f64 = 50.0;

/// Whether a host set with `healthy` of `total` hosts healthy is in panic, so that the
/// balancer uses every host (`LoadBalancerBase::recalculatePerPriorityPanic` for one
/// priority level): never while the set's availability `min(100, 140·healthy/total)` is
/// 100, otherwise when the healthy percentage is below the threshold (rounded to a whole
/// percent, as Envoy stores it). With threshold 0 a set never panics, and with no healthy
/// host nothing is routed.
pub fn in_panic(healthy: usize, total: usize, panic_threshold: f64) -> bool {
    if total == 0 {
        return false;
    }
    let availability = (OVERPROVISIONING_FACTOR * healthy as u64 / total as u64).min(100);
    if availability == 100 {
        return false;
    }
    let threshold = panic_threshold.round().clamp(0.0, 100.0);
    let healthy_percent = 100.0 * healthy as f64 / total as f64;
    healthy_percent < threshold
}

/// A load balancer of one client edge: the policy and its round-robin indices.
#[derive(Clone, Debug)]
pub struct Balancer {
    config: BalancerConfig,
    rr_healthy: u64,
    rr_all: u64,
}

impl Balancer {
    /// A balancer whose round-robin indices start at a random seed (as Envoy's do).
    pub fn new<R: Rng + ?Sized>(config: BalancerConfig, rng: &mut R) -> Result<Self, ConfigError> {
        config.validate()?;
        let seed = rng.random::<u64>();
        Ok(Balancer {
            config,
            rr_healthy: seed,
            rr_all: seed,
        })
    }

    /// The policy.
    pub fn config(&self) -> BalancerConfig {
        self.config
    }

    /// Picks one of `hosts` (ids into `active`, where `active[h]` is the number of requests
    /// this balancer has outstanding at host `h`). `None` when `hosts` is empty. Constant
    /// cost except for `least_outstanding`, which scans `hosts`.
    pub fn pick<R: Rng + ?Sized>(
        &mut self,
        hosts: &[u32],
        source: HostSource,
        active: &[u32],
        rng: &mut R,
    ) -> Option<u32> {
        let n = hosts.len() as u64;
        if n == 0 {
            return None;
        }
        let load = |h: u32| active.get(h as usize).copied().unwrap_or(0);
        let chosen = match self.config {
            BalancerConfig::RoundRobin => {
                let i = match source {
                    HostSource::Healthy => &mut self.rr_healthy,
                    HostSource::All => &mut self.rr_all,
                };
                let h = hosts[(*i % n) as usize];
                *i = i.wrapping_add(1);
                h
            }
            BalancerConfig::Random => hosts[(rng.random::<u64>() % n) as usize],
            BalancerConfig::LeastRequest { choice_count } => {
                let mut candidate = hosts[(rng.random::<u64>() % n) as usize];
                for _ in 1..choice_count {
                    let sampled = hosts[(rng.random::<u64>() % n) as usize];
                    if load(sampled) < load(candidate) {
                        candidate = sampled;
                    }
                }
                candidate
            }
            BalancerConfig::LeastOutstanding => {
                let mut candidate = hosts[0];
                let mut tied = 1u64;
                for &h in &hosts[1..] {
                    if load(h) < load(candidate) {
                        candidate = h;
                        tied = 1;
                    } else if load(h) == load(candidate) {
                        tied += 1;
                        if rng.random::<u64>() % tied == 0 {
                            candidate = h;
                        }
                    }
                }
                candidate
            }
        };
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    fn counts(b: &mut Balancer, hosts: &[u32], active: &[u32], picks: usize) -> Vec<usize> {
        let mut r = rng();
        let mut c = vec![0; active.len().max(hosts.len())];
        for _ in 0..picks {
            c[b.pick(hosts, HostSource::Healthy, active, &mut r).unwrap() as usize] += 1;
        }
        c
    }

    mod config {
        use super::*;

        #[derive(Deserialize)]
        struct W {
            lb: BalancerConfig,
        }

        #[test]
        fn parses_names_and_the_least_request_table() {
            let p = |s: &str| toml::from_str::<W>(s).map(|w| w.lb);
            assert_eq!(
                p(r#"lb = "round_robin""#).unwrap(),
                BalancerConfig::RoundRobin
            );
            assert_eq!(p(r#"lb = "random""#).unwrap(), BalancerConfig::Random);
            assert_eq!(
                p(r#"lb = "least_outstanding""#).unwrap(),
                BalancerConfig::LeastOutstanding
            );
            assert_eq!(
                p("lb = { least_request = { choice_count = 3 } }").unwrap(),
                BalancerConfig::LeastRequest { choice_count: 3 }
            );
            assert_eq!(
                p("lb = { least_request = {} }").unwrap(),
                BalancerConfig::LeastRequest { choice_count: 2 }
            );
            let e = p(r#"lb = "roundrobin""#).unwrap_err().to_string();
            assert!(e.contains("unknown load balancer"), "{e}");
            assert!(p("lb = { least_request = { choices = 2 } }").is_err());
        }

        #[test]
        fn one_choice_is_refused() {
            let e = Balancer::new(BalancerConfig::LeastRequest { choice_count: 1 }, &mut rng())
                .unwrap_err();
            assert_eq!(e.field, "least_request.choice_count");
        }

        #[test]
        fn round_trips_through_serde() {
            for c in [
                BalancerConfig::RoundRobin,
                BalancerConfig::LeastRequest { choice_count: 4 },
            ] {
                let s = toml::to_string(&std::collections::BTreeMap::from([("lb", c)])).unwrap();
                assert_eq!(toml::from_str::<W>(&s).unwrap().lb, c);
            }
        }
    }

    mod round_robin {
        use super::*;

        #[test]
        fn visits_every_host_once_per_cycle_in_list_order() {
            let mut b = Balancer::new(BalancerConfig::RoundRobin, &mut rng()).unwrap();
            let hosts = [3, 5, 8, 9];
            let mut r = rng();
            let seq: Vec<u32> = (0..12)
                .map(|_| b.pick(&hosts, HostSource::Healthy, &[], &mut r).unwrap())
                .collect();
            let start = hosts.iter().position(|&h| h == seq[0]).unwrap();
            for (i, h) in seq.iter().enumerate() {
                assert_eq!(*h, hosts[(start + i) % 4], "pick {i} of {seq:?}");
            }
        }

        #[test]
        fn the_start_is_seeded_so_edges_do_not_all_begin_at_host_zero() {
            let starts: std::collections::BTreeSet<u32> = (0..20u64)
                .map(|s| {
                    let mut b = Balancer::new(
                        BalancerConfig::RoundRobin,
                        &mut ChaCha8Rng::seed_from_u64(s),
                    )
                    .unwrap();
                    b.pick(&[0, 1, 2, 3, 4], HostSource::Healthy, &[], &mut rng())
                        .unwrap()
                })
                .collect();
            assert!(starts.len() > 2, "{starts:?}");
        }

        #[test]
        fn keeps_one_index_per_source() {
            let mut b = Balancer::new(BalancerConfig::RoundRobin, &mut rng()).unwrap();
            let mut r = rng();
            let h1 = b
                .pick(&[0, 1, 2], HostSource::Healthy, &[], &mut r)
                .unwrap();
            let a1 = b.pick(&[0, 1, 2], HostSource::All, &[], &mut r).unwrap();
            assert_eq!(h1, a1, "both indices start at the same seed");
            let h2 = b
                .pick(&[0, 1, 2], HostSource::Healthy, &[], &mut r)
                .unwrap();
            assert_eq!(h2, (h1 + 1) % 3);
        }
    }

    mod random {
        use super::*;

        #[test]
        fn is_uniform_over_the_hosts() {
            let mut b = Balancer::new(BalancerConfig::Random, &mut rng()).unwrap();
            let c = counts(&mut b, &[0, 1, 2, 3, 4], &[0; 5], 100_000);
            for (h, n) in c.iter().enumerate() {
                // 20_000 expected, s.d. ≈ 126.
                assert!((19_400..=20_600).contains(n), "host {h}: {n} of 100000");
            }
        }
    }

    mod least_request {
        use super::*;

        #[test]
        fn two_choices_pick_the_less_loaded_of_the_two() {
            let mut b = Balancer::new(BalancerConfig::LeastRequest { choice_count: 2 }, &mut rng())
                .unwrap();
            // Two hosts: whenever both are drawn the idle one wins, so the busy one gets
            // only the draws where it came up twice: a quarter.
            let c = counts(&mut b, &[0, 1], &[5, 0], 40_000);
            assert!((9_500..=10_500).contains(&c[0]), "{c:?}");
            // Equal loads: the first draw stands, uniform.
            let c = counts(&mut b, &[0, 1], &[2, 2], 40_000);
            assert!((19_400..=20_600).contains(&c[0]), "{c:?}");
        }

        #[test]
        fn the_most_loaded_of_n_hosts_gets_one_in_n_squared() {
            let mut b = Balancer::new(BalancerConfig::LeastRequest { choice_count: 2 }, &mut rng())
                .unwrap();
            let mut active = vec![1; 10];
            active[4] = 9;
            let c = counts(&mut b, &(0..10).collect::<Vec<_>>(), &active, 100_000);
            // Host 4 is chosen only when both draws are 4: 1 %.
            assert!((800..=1_200).contains(&c[4]), "{c:?}");
        }

        #[test]
        fn more_choices_avoid_the_busy_host_more() {
            let mut b = Balancer::new(BalancerConfig::LeastRequest { choice_count: 3 }, &mut rng())
                .unwrap();
            let c = counts(&mut b, &[0, 1], &[5, 0], 80_000);
            // Busy host only when all three draws hit it: 1/8.
            assert!((9_500..=10_500).contains(&c[0]), "{c:?}");
        }
    }

    mod least_outstanding {
        use super::*;

        #[test]
        fn always_picks_a_least_loaded_host_and_splits_ties_evenly() {
            let mut b = Balancer::new(BalancerConfig::LeastOutstanding, &mut rng()).unwrap();
            let c = counts(&mut b, &[0, 1, 2, 3], &[3, 1, 1, 2], 60_000);
            assert_eq!(c[0] + c[3], 0, "{c:?}");
            assert!((29_000..=31_000).contains(&c[1]), "{c:?}");
        }
    }

    mod panic {
        use super::*;

        #[test]
        fn never_while_availability_is_full() {
            // 8 of 10 healthy: 140·8/10 = 112 → 100 % available.
            assert!(!in_panic(8, 10, 50.0));
            // 8 of 10 with an 80 % threshold: still no panic (Envoy's overprovisioning).
            assert!(!in_panic(8, 10, 80.0));
            assert!(!in_panic(10, 10, 100.0));
        }

        #[test]
        fn below_the_threshold_once_availability_drops() {
            assert!(!in_panic(5, 10, 50.0), "50 % is not below 50 %");
            assert!(in_panic(4, 10, 50.0));
            assert!(in_panic(0, 10, 50.0));
            assert!(!in_panic(0, 10, 0.0), "threshold 0 disables panic mode");
            assert!(in_panic(6, 10, 65.0));
            assert!(!in_panic(0, 0, 50.0));
        }
    }
}
