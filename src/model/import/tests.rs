//! Round trips of the libraries' documented examples: each imports to the stack the
//! mapping tables say, every key is mapped or reported, and the stack loads in a model.

use std::path::PathBuf;

use toml::Value;

use super::*;

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cascade-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn at<'a>(import: &'a Import, stack: &str, path: &str) -> &'a Value {
    let s = import
        .stacks
        .iter()
        .find(|s| s.name == stack)
        .unwrap_or_else(|| panic!("no stack {stack}"));
    let mut v = s
        .client
        .get(path.split('.').next().unwrap())
        .unwrap_or_else(|| panic!("{stack}: no {path}"));
    for seg in path.split('.').skip(1) {
        v = v.get(seg).unwrap_or_else(|| panic!("{stack}: no {path}"));
    }
    v
}

fn unmapped(import: &Import) -> Vec<&str> {
    import.unmapped.iter().map(|u| u.path.as_str()).collect()
}

/// Istio's DestinationRule reference example, with the outlier detection of its docs.
const DESTINATION_RULE: &str = "
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews-cb-policy
spec:
  host: reviews.prod.svc.cluster.local
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 100
      http:
        http1MaxPendingRequests: 10
        http2MaxRequests: 100
        maxRequestsPerConnection: 10
    outlierDetection:
      consecutive5xxErrors: 5
      interval: 30s
      baseEjectionTime: 30s
      maxEjectionPercent: 50
";

#[test]
fn istio_destination_rule_maps_pool_and_outlier_detection() {
    let i = import(Format::Istio, &write("dr.yaml", DESTINATION_RULE)).unwrap();
    let t = |p: &str| at(&i, "reviews", p).clone();
    assert_eq!(
        t("bulkhead.thread_pool.max_threads").as_integer(),
        Some(100)
    );
    assert_eq!(
        t("bulkhead.thread_pool.core_threads").as_integer(),
        Some(100)
    );
    assert_eq!(
        t("bulkhead.thread_pool.queue_capacity").as_integer(),
        Some(10)
    );
    assert_eq!(t("outlier_detection.consecutive_5xx").as_integer(), Some(5));
    assert_eq!(t("outlier_detection.interval").as_str(), Some("30s"));
    assert_eq!(
        t("outlier_detection.base_ejection_time").as_str(),
        Some("30s")
    );
    assert_eq!(
        t("outlier_detection.max_ejection_percent").as_integer(),
        Some(50)
    );
    assert_eq!(
        t("outlier_detection.enforcing_success_rate").as_integer(),
        Some(0)
    );
    assert_eq!(t("panic_threshold").as_float(), Some(0.0));
    assert_eq!(
        unmapped(&i),
        ["spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection"]
    );
    let text = to_toml(Format::Istio, Path::new("dr.yaml"), "productpage", &i);
    let parsed: Table = text.parse().expect("the output is TOML");
    assert!(parsed["services"]["productpage"]["clients"]["reviews"].is_table());
    assert!(text.contains("#   spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection:"));
}

#[test]
fn istio_virtual_service_retries_count_retries_not_attempts() {
    let vs = "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings-route
spec:
  hosts:
  - ratings.prod.svc.cluster.local
  http:
  - route:
    - destination:
        host: ratings.prod.svc.cluster.local
        subset: v1
    retries:
      attempts: 3
      perTryTimeout: 2s
      retryOn: gateway-error,connect-failure,refused-stream
    timeout: 10s
";
    let i = import(Format::Istio, &write("vs.yaml", vs)).unwrap();
    assert_eq!(
        at(&i, "ratings", "retry.max_attempts").as_integer(),
        Some(4)
    );
    assert_eq!(at(&i, "ratings", "timeout").as_str(), Some("2s"));
    assert_eq!(at(&i, "ratings", "total_timeout").as_str(), Some("10s"));
    assert!(unmapped(&i).contains(&"spec.hosts"), "{:?}", unmapped(&i));
}

/// The Resilience4j Spring Boot documentation's examples, in its own relaxed-key form.
const R4J: &str = "
resilience4j.circuitbreaker:
    configs:
        default:
            slidingWindowSize: 100
            permittedNumberOfCallsInHalfOpenState: 10
            waitDurationInOpenState: 10000
            failureRateThreshold: 60
            eventConsumerBufferSize: 10
            registerHealthIndicator: true
    instances:
        backendA:
            baseConfig: default
            waitDurationInOpenState: 5000
        backendB:
            registerHealthIndicator: true
            slidingWindowSize: 10
            permittedNumberOfCallsInHalfOpenState: 3
            slidingWindowType: TIME_BASED
            minimumNumberOfCalls: 20
            waitDurationInOpenState: 50s
            failureRateThreshold: 50
            eventConsumerBufferSize: 10
            recordFailurePredicate: io.github.robwin.exception.RecordFailurePredicate
resilience4j.retry:
    instances:
        backendA:
            maxAttempts: 3
            waitDuration: 10s
            enableExponentialBackoff: true
            exponentialBackoffMultiplier: 2
            retryExceptions:
                - org.springframework.web.client.HttpServerErrorException
                - java.io.IOException
            ignoreExceptions:
                - io.github.robwin.exception.BusinessException
        backendB:
            maxAttempts: 3
            waitDuration: 10s
resilience4j.bulkhead:
    instances:
        backendA:
            maxConcurrentCalls: 10
        backendB:
            maxWaitDuration: 10ms
            maxConcurrentCalls: 20
resilience4j.thread-pool-bulkhead:
    instances:
        backendC:
            maxThreadPoolSize: 1
            coreThreadPoolSize: 1
            queueCapacity: 1
resilience4j.ratelimiter:
    instances:
        backendA:
            limitForPeriod: 10
            limitRefreshPeriod: 1s
            timeoutDuration: 0
        backendB:
            limitForPeriod: 6
            limitRefreshPeriod: 500ms
            timeoutDuration: 3s
resilience4j.timelimiter:
    instances:
        backendA:
            timeoutDuration: 2s
            cancelRunningFuture: true
        backendB:
            timeoutDuration: 1s
";

#[test]
fn resilience4j_documented_examples_map_with_defaults_and_base_configs() {
    let i = import(Format::Resilience4j, &write("r4j.yml", R4J)).unwrap();
    let names: Vec<&str> = i.stacks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["backendA", "backendB", "backendC"]);
    // backendA: the default config, its own open wait (a bare number is milliseconds).
    assert_eq!(
        at(&i, "backendA", "breaker.count_window.size").as_integer(),
        Some(100)
    );
    assert_eq!(
        at(&i, "backendA", "breaker.count_window.failure_rate").as_float(),
        Some(60.0)
    );
    // Absent keys take Resilience4j's defaults, written out.
    assert_eq!(
        at(&i, "backendA", "breaker.count_window.minimum_calls").as_integer(),
        Some(100)
    );
    assert_eq!(
        at(&i, "backendA", "breaker.count_window.slow_call_duration").as_str(),
        Some("1m")
    );
    assert_eq!(at(&i, "backendA", "breaker.wait_open").as_str(), Some("5s"));
    assert_eq!(
        at(&i, "backendB", "breaker.time_window.size_secs").as_integer(),
        Some(10)
    );
    assert_eq!(
        at(&i, "backendB", "breaker.half_open_calls").as_integer(),
        Some(3)
    );
    assert_eq!(
        at(&i, "backendB", "breaker.wait_open").as_str(),
        Some("50s")
    );
    assert_eq!(
        at(&i, "backendA", "retry.backoff.exponential.base").as_str(),
        Some("10s")
    );
    assert_eq!(
        at(&i, "backendA", "retry.backoff.exponential.multiplier").as_float(),
        Some(2.0)
    );
    assert_eq!(
        at(&i, "backendB", "retry.backoff.fixed.delay").as_str(),
        Some("10s")
    );
    assert_eq!(
        at(&i, "backendB", "bulkhead.max_wait").as_str(),
        Some("10ms")
    );
    assert_eq!(
        at(&i, "backendC", "bulkhead.thread_pool.queue_capacity").as_integer(),
        Some(1)
    );
    assert_eq!(
        at(
            &i,
            "backendA",
            "rate_limit.limit_for_period.timeout_duration"
        )
        .as_str(),
        Some("0s")
    );
    assert_eq!(
        at(
            &i,
            "backendB",
            "rate_limit.limit_for_period.limit_refresh_period"
        )
        .as_str(),
        Some("500ms")
    );
    assert_eq!(at(&i, "backendA", "timeout").as_str(), Some("2s"));
    // The Spring aspects' order, the rate limiter inside the breaker.
    let order: Vec<&str> = at(&i, "backendA", "order")
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        ["retry", "breaker", "rate_limiter", "timeout", "bulkhead"]
    );
    let u = unmapped(&i);
    for key in [
        "resilience4j.circuitbreaker.configs.default.eventConsumerBufferSize",
        "resilience4j.circuitbreaker.instances.backendB.recordFailurePredicate",
        "resilience4j.retry.instances.backendA.retryExceptions",
        "resilience4j.timelimiter.instances.backendA.cancelRunningFuture",
    ] {
        assert!(u.contains(&key), "{key} not reported: {u:?}");
    }
    // A key the instance overrides is not reported against the base config.
    assert!(!u.contains(&"resilience4j.circuitbreaker.configs.default.waitDurationInOpenState"));
    assert!(i.unmapped.iter().any(|x| x.why.contains("record_on")));
}

#[test]
fn envoy_cluster_maps_thresholds_and_outlier_detection_and_reports_the_budget() {
    let yaml = "
clusters:
- name: service_backend
  connect_timeout: 0.25s
  type: STRICT_DNS
  lb_policy: LEAST_REQUEST
  circuit_breakers:
    thresholds:
    - priority: DEFAULT
      max_connections: 1000
      max_pending_requests: 200
      max_requests: 500
      max_retries: 3
      retry_budget:
        budget_percent:
          value: 20.0
        min_retry_concurrency: 3
  outlier_detection:
    consecutive_5xx: 7
    interval: 10s
    base_ejection_time: 30s
    max_ejection_percent: 10
virtual_hosts:
- name: backend
  domains: ['*']
  routes:
  - match: { prefix: / }
    route:
      cluster: service_backend
      timeout: 5s
      retry_policy:
        retry_on: 5xx
        num_retries: 2
        per_try_timeout: 1s
        retry_back_off: { base_interval: 0.1s, max_interval: 1s }
";
    let i = import(Format::Envoy, &write("envoy.yaml", yaml)).unwrap();
    let t = |p: &str| at(&i, "service_backend", p).clone();
    assert_eq!(
        t("bulkhead.thread_pool.max_threads").as_integer(),
        Some(500)
    );
    assert_eq!(
        t("bulkhead.thread_pool.queue_capacity").as_integer(),
        Some(200)
    );
    assert_eq!(t("outlier_detection.consecutive_5xx").as_integer(), Some(7));
    assert_eq!(
        t("load_balancer.least_request.choice_count").as_integer(),
        Some(2)
    );
    assert_eq!(t("retry.max_attempts").as_integer(), Some(3));
    assert_eq!(t("retry.backoff.full_jitter.base").as_str(), Some("100ms"));
    assert_eq!(t("timeout").as_str(), Some("1s"));
    assert_eq!(t("total_timeout").as_str(), Some("5s"));
    let u = unmapped(&i);
    for key in [
        "clusters[0].connect_timeout",
        "clusters[0].circuit_breakers.thresholds[0].max_retries",
        "clusters[0].circuit_breakers.thresholds[0].retry_budget",
    ] {
        assert!(u.contains(&key), "{key} not reported: {u:?}");
    }
}

#[test]
fn yaml_of_another_format_or_broken_yaml_is_a_one_line_error() {
    let dr = write("dr2.yaml", DESTINATION_RULE);
    let e = import(Format::Resilience4j, &dr).unwrap_err().to_string();
    assert!(
        e.contains("dr2.yaml") && e.contains("not a Resilience4j"),
        "{e}"
    );
    let e = import(Format::Envoy, &dr).unwrap_err().to_string();
    assert!(e.contains("not an Envoy"), "{e}");
    let r = write("r.yml", R4J);
    assert!(
        import(Format::Istio, &r)
            .unwrap_err()
            .to_string()
            .contains("not an Istio")
    );
    let broken = write("broken.yaml", "a: [1, 2\nb: 3\n");
    let e = import(Format::Istio, &broken).unwrap_err().to_string();
    assert!(e.contains("invalid YAML") && !e.contains('\n'), "{e}");
    let bad = write(
        "bad.yml",
        "resilience4j.circuitbreaker:\n  instances:\n    x:\n      failureRateThreshold: 150\n",
    );
    let e = import(Format::Resilience4j, &bad).unwrap_err().to_string();
    assert!(e.contains("x") && e.contains("failure_rate"), "{e}");
    let typed = write(
        "typed.yml",
        "resilience4j.retry:\n  instances:\n    x:\n      maxAttempts: lots\n",
    );
    let e = import(Format::Resilience4j, &typed)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("resilience4j.retry.instances.x.maxAttempts"),
        "{e}"
    );
}
