#!/usr/bin/env python3
"""The M/M/c model of `cascade bench` (c = 200, mean service 180 ms, utilisation 0.9) in
SimPy, for the README's comparison: events per second counted as cascade counts them
(one per arrival, one per departure).

Usage: pip install simpy==4.1.2 && scripts/simpy-mmc.py [CUSTOMERS]
"""
import random
import sys
import time

try:
    import simpy
except ImportError:
    sys.exit("simpy-mmc: FAIL: needs SimPy (pip install simpy==4.1.2)")

C, MEAN_SERVICE, RHO = 200, 0.180, 0.9
LAMBDA = RHO * C / MEAN_SERVICE


def customer(env, servers, waits):
    arrived = env.now
    with servers.request() as req:
        yield req
        waits.append(env.now - arrived)
        yield env.timeout(random.expovariate(1.0 / MEAN_SERVICE))


def source(env, servers, n, waits):
    for _ in range(n):
        yield env.timeout(random.expovariate(LAMBDA))
        env.process(customer(env, servers, waits))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    random.seed(1)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=C)
    waits = []
    env.process(source(env, servers, n, waits))
    start = time.perf_counter()
    env.run()
    wall = time.perf_counter() - start
    events = 2 * n
    print(f"engine=simpy-{simpy.__version__} customers={n} events={events} wall_s={wall:.3f} "
          f"events_per_s={events / wall:.0f} mean_wait_ms={1e3 * sum(waits) / len(waits):.3f}")


if __name__ == "__main__":
    main()
