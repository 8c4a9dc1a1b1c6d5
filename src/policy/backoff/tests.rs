//! Test helpers shared by the strategy files, and the tests of the enum as a whole
//! (TOML shapes, validation, laws every strategy obeys).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

pub(super) use super::*;
pub(super) use crate::time::SimDuration;
use crate::time::short::{ms, secs};

pub(super) fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub(super) fn build(c: BackoffConfig) -> Backoff {
    Backoff::new(c).expect("valid config")
}

/// The first `k` delays of one call sequence.
pub(super) fn seq(b: &Backoff, k: usize, seed: u64) -> Vec<SimDuration> {
    let mut r = rng(seed);
    let mut s = BackoffState::default();
    (0..k).map(|_| b.next_delay(&mut s, &mut r)).collect()
}

pub(super) fn jitter(base: SimDuration, cap: SimDuration, exponent_offset: i32) -> JitterConfig {
    JitterConfig {
        base,
        cap,
        exponent_offset,
        ..Default::default()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Holder {
    backoff: BackoffConfig,
}

pub(super) fn parse(s: &str) -> Result<BackoffConfig, toml::de::Error> {
    toml::from_str::<Holder>(s).map(|h| h.backoff)
}

mod config {
    use super::*;

    #[test]
    fn parses_every_documented_toml_shape() {
        assert_eq!(
            parse(r#"backoff = "immediate""#).unwrap(),
            BackoffConfig::Immediate
        );
        assert_eq!(parse(r#"backoff = "none""#).unwrap(), BackoffConfig::None);
        assert_eq!(
            parse(r#"backoff = { fixed = { delay = "1s" } }"#).unwrap(),
            BackoffConfig::Fixed(FixedConfig { delay: secs(1) })
        );
        assert_eq!(
            parse(r#"backoff = { linear = { base = "100ms", cap = "10s" } }"#).unwrap(),
            BackoffConfig::Linear(LinearConfig {
                base: ms(100),
                step: None,
                cap: secs(10)
            })
        );
        assert_eq!(
            parse(r#"backoff = { exponential = { base = "100ms", cap = "5s", multiplier = 3 } }"#)
                .unwrap(),
            BackoffConfig::Exponential(ExponentialConfig {
                base: ms(100),
                cap: secs(5),
                multiplier: 3.0
            })
        );
        assert_eq!(
            parse(r#"backoff = { full_jitter = { base = "1s", cap = "20s" } }"#).unwrap(),
            BackoffConfig::FullJitter(jitter(secs(1), secs(20), -1))
        );
        assert_eq!(
            parse(r#"backoff = { full_jitter = { flavor = "continuous" } }"#).unwrap(),
            BackoffConfig::FullJitter(JitterConfig {
                flavor: JitterFlavor::Continuous,
                ..Default::default()
            })
        );
        for shape in [
            r#"backoff = { equal_jitter = { base = "1s", cap = "20s", exponent_offset = -1 } }"#,
            r#"backoff = { decorrelated_jitter = { base = "1s", cap = "20s" } }"#,
            r#"backoff = { decorrelated_jitter_v2 = { median_first = "1s" } }"#,
            r#"backoff = { decorrelated_jitter_v2 = { median_first = "1s", cap = "9s" } }"#,
            r#"backoff = { randomized_exponential = { initial = "500ms", multiplier = 1.5, randomization_factor = 0.5, cap = "9s" } }"#,
            r#"backoff = { polly = { delay = "2s", backoff_type = "exponential", use_jitter = true, max_delay = "30s" } }"#,
            r#"backoff = { grpc = { initial_backoff = "100ms", max_backoff = "1s", backoff_multiplier = 2.0, flavor = "full_jitter" } }"#,
        ] {
            let c = parse(shape).unwrap_or_else(|e| panic!("{shape}: {e}"));
            Backoff::new(c).unwrap();
        }
    }

    #[test]
    fn rejects_unknown_fields_and_variants() {
        assert!(parse(r#"backoff = { fixed = { delay = "1s", jitter = 1 } }"#).is_err());
        assert!(parse(r#"backoff = "exponential_ish""#).is_err());
        assert!(
            parse(r#"backoff = { decorrelated_jitter = { base = "1s", exponent_offset = 1 } }"#)
                .is_err()
        );
    }

    #[test]
    fn defaults_follow_the_libraries() {
        assert_eq!(
            BackoffConfig::default(),
            BackoffConfig::Fixed(FixedConfig { delay: ms(500) })
        );
        let r = RandomizedExponentialConfig::default();
        assert_eq!(
            (r.initial, r.multiplier, r.randomization_factor),
            (ms(500), 1.5, 0.5)
        );
        let p = PollyBackoffConfig::default();
        assert_eq!(
            (p.delay, p.backoff_type, p.use_jitter),
            (secs(2), PollyBackoffType::Constant, false)
        );
        assert_eq!(GrpcBackoffConfig::default().flavor, GrpcFlavor::Jitter20pct);
        // aws-sdk-java-v2 DefaultRetryStrategy: BASE_DELAY 100 ms, MAX_BACKOFF 20 s,
        // exponent attempt − 2 (retry − 1), whole milliseconds.
        let j = JitterConfig::default();
        assert_eq!(
            (j.base, j.cap, j.exponent_offset, j.flavor),
            (ms(100), secs(20), -1, JitterFlavor::AwsJavaV2)
        );
    }

    #[test]
    fn round_trips_through_toml() {
        let c = BackoffConfig::Exponential(ExponentialConfig::default());
        let s =
            toml::to_string(&std::collections::BTreeMap::from([("backoff", c.clone())])).unwrap();
        assert_eq!(parse(&s).unwrap(), c);
    }
}

mod validation {
    use super::*;

    fn field(c: BackoffConfig) -> String {
        Backoff::new(c).unwrap_err().field
    }

    #[test]
    fn names_the_offending_field() {
        let exp = |base, cap, multiplier| {
            BackoffConfig::Exponential(ExponentialConfig {
                base,
                cap,
                multiplier,
            })
        };
        assert_eq!(field(exp(secs(2), secs(1), 2.0)), "cap");
        assert_eq!(field(exp(ms(1), secs(1), 0.5)), "multiplier");
        assert_eq!(field(exp(ms(1), secs(1), f64::NAN)), "multiplier");
        assert_eq!(
            field(BackoffConfig::FullJitter(jitter(secs(2), secs(1), 0))),
            "cap"
        );
        assert_eq!(
            field(BackoffConfig::EqualJitter(jitter(ms(1), secs(1), -2))),
            "exponent_offset"
        );
        assert_eq!(
            field(BackoffConfig::DecorrelatedJitter(
                DecorrelatedJitterConfig {
                    base: SimDuration::ZERO,
                    cap: secs(1)
                }
            )),
            "base"
        );
        assert_eq!(
            field(BackoffConfig::Linear(LinearConfig {
                base: secs(2),
                step: None,
                cap: secs(1)
            })),
            "cap"
        );
        let r4j = |initial, randomization_factor, cap| {
            BackoffConfig::RandomizedExponential(RandomizedExponentialConfig {
                initial,
                randomization_factor,
                cap,
                ..Default::default()
            })
        };
        assert_eq!(field(r4j(ms(500), 1.5, None)), "randomization_factor");
        assert_eq!(field(r4j(ms(500), -0.1, None)), "randomization_factor");
        assert_eq!(
            field(r4j(crate::time::short::us(500), 0.5, None)),
            "initial"
        );
        assert_eq!(field(r4j(ms(500), 0.5, Some(ms(100)))), "cap");
        let grpc = |initial_backoff, max_backoff, backoff_multiplier| {
            BackoffConfig::Grpc(GrpcBackoffConfig {
                initial_backoff,
                max_backoff,
                backoff_multiplier,
                flavor: GrpcFlavor::Jitter20pct,
            })
        };
        assert_eq!(
            field(grpc(SimDuration::ZERO, secs(1), 2.0)),
            "initial_backoff"
        );
        assert_eq!(field(grpc(secs(2), secs(1), 2.0)), "max_backoff");
        assert_eq!(field(grpc(secs(1), secs(2), 0.0)), "backoff_multiplier");
        assert_eq!(
            field(BackoffConfig::Polly(PollyBackoffConfig {
                delay: secs(86_401),
                ..Default::default()
            })),
            "delay"
        );
    }

    #[test]
    fn accepts_edge_values() {
        Backoff::new(BackoffConfig::Exponential(ExponentialConfig {
            base: secs(1),
            cap: secs(1),
            multiplier: 1.0,
        }))
        .unwrap();
        Backoff::new(BackoffConfig::RandomizedExponential(
            RandomizedExponentialConfig {
                randomization_factor: 1.0,
                ..Default::default()
            },
        ))
        .unwrap();
    }
}

mod laws {
    use super::*;
    use proptest::prelude::*;

    fn any_config() -> impl Strategy<Value = BackoffConfig> {
        let dur = |lo: u64, hi: u64| (lo..hi).prop_map(SimDuration::from_millis);
        (
            dur(1, 2_000),
            dur(0, 60_000),
            1.0f64..4.0,
            0.0f64..=1.0,
            0usize..10,
        )
            .prop_map(|(base, extra, mult, f, kind)| {
                let cap = base + extra;
                match kind {
                    0 => BackoffConfig::Linear(LinearConfig {
                        base,
                        step: Some(extra),
                        cap,
                    }),
                    1 => BackoffConfig::Exponential(ExponentialConfig {
                        base,
                        cap,
                        multiplier: mult,
                    }),
                    2 => BackoffConfig::FullJitter(jitter(base, cap, 0)),
                    3 => BackoffConfig::EqualJitter(jitter(base, cap, -1)),
                    4 => BackoffConfig::DecorrelatedJitter(DecorrelatedJitterConfig { base, cap }),
                    5 => BackoffConfig::DecorrelatedJitterV2(DecorrelatedJitterV2Config {
                        median_first: base,
                        cap: Some(cap),
                    }),
                    6 => BackoffConfig::RandomizedExponential(RandomizedExponentialConfig {
                        initial: base,
                        multiplier: mult,
                        randomization_factor: f,
                        cap: Some(cap),
                    }),
                    7 => BackoffConfig::Polly(PollyBackoffConfig {
                        delay: base,
                        backoff_type: PollyBackoffType::Linear,
                        use_jitter: f > 0.5,
                        max_delay: Some(cap),
                    }),
                    8 => BackoffConfig::Grpc(GrpcBackoffConfig {
                        initial_backoff: base,
                        max_backoff: cap,
                        backoff_multiplier: mult,
                        flavor: if f > 0.5 {
                            GrpcFlavor::FullJitter
                        } else {
                            GrpcFlavor::Jitter20pct
                        },
                    }),
                    _ => BackoffConfig::Fixed(FixedConfig { delay: base }),
                }
            })
    }

    proptest! {
        #[test]
        fn every_delay_lies_within_zero_and_the_cap(cfg in any_config(), seed in any::<u64>()) {
            let b = Backoff::new(cfg).unwrap();
            let cap = b.max_delay();
            prop_assert!(cap < SimDuration::MAX);
            for d in seq(&b, 20, seed) {
                prop_assert!(d <= cap, "{} > {}", d, cap);
            }
        }
    }
}
