"""The bidding-war benchmark harness: ``python -m bench`` (``make bench``), never part of ``make test``.

Invariants:
- everything runs against 127.0.0.1 only, on a benchmark database created for the run
  (``mp_bench_<random>`` on the server of ``DATABASE_URL``) and dropped at the end;
- every loop is bounded in count and in time, and the run stops by itself;
- the raw limits (pgbench, redis-benchmark) and the app's numbers are measured in the same run, on
  the same machine, so every target is a ratio of two numbers from one run;
- correctness is checked in the same run as the timing: a fast result with a lost bid is a failure.
"""
