/**
 * Loaded with `node --import` into the app under load: samples event-loop delay, heap and RSS,
 * and writes them to $PROBE_OUT once a second (a synchronous write, so the last sample
 * survives however the process ends).
 */
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const out = process.env.PROBE_OUT;
if (out) {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const mb = (bytes) => Math.round((bytes / 1024 / 1024) * 10) / 10;
  const ms = (ns) => Math.round(ns / 1e5) / 10;
  let first;
  let maxRss = 0;
  const sample = () => {
    const { heapUsed, rss } = process.memoryUsage();
    first ??= mb(heapUsed);
    maxRss = Math.max(maxRss, rss);
    writeFileSync(
      out,
      JSON.stringify({
        eventLoop: {
          p50: ms(histogram.percentile(50)),
          p99: ms(histogram.percentile(99)),
          max: ms(histogram.max),
        },
        heap: { first, last: mb(heapUsed) },
        maxRssMb: mb(maxRss),
      }),
    );
  };
  // Let start-up settle before the first heap sample, taken after a GC (with --expose-gc).
  setTimeout(() => {
    globalThis.gc?.();
    sample();
  }, 1000).unref();
  // The driver sends SIGUSR2 after the load: a GC, then the last sample.
  process.on('SIGUSR2', () => {
    globalThis.gc?.();
    sample();
  });
  setInterval(sample, 1000).unref();
}
