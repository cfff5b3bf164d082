
-- bench: one machine-readable line with the totals. Latencies are
-- in microseconds; summary.errors.status counts responses with a status
-- above 399; a response slower than --timeout counts as a timeout and is
-- not in the latency distribution.
function done(summary, latency, requests)
  local e = summary.errors
  local p50, p99, p999, mean, max = 0, 0, 0, 0, 0
  if summary.requests > 0 and latency.max > 0 then
    p50, p99, p999 = latency:percentile(50), latency:percentile(99), latency:percentile(99.9)
    mean, max = latency.mean, latency.max
  end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p99_us":%d,"p999_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    p50, p99, p999, mean, max))
end
