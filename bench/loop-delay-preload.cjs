// Loaded into the pdf scenario's app instance only (node --require this file): records the event
// loop's delay with node's monitorEventLoopDelay at a 1 ms resolution (prom-client's default
// metric samples every 10 ms, and each of its values includes those 10 ms). SIGURG (ignored by
// default; close-with-grace shuts the server down on SIGUSR2, and bench/gc-preload.cjs uses
// SIGWINCH) prints the delays recorded since the previous SIGURG to stderr, numbered, then starts afresh:
//   bench-loop-delay #<n> p50=<ms> p99=<ms> max=<ms> count=<samples>
// Each value is the time between two ticks of a 1 ms timer, so an idle loop reads about 1 ms.
// The server itself is unchanged.
'use strict'
const { monitorEventLoopDelay } = require('node:perf_hooks')

const histogram = monitorEventLoopDelay({ resolution: 1 })
histogram.enable()
let reports = 0
process.on('SIGURG', () => {
  const ms = (ns) => (ns / 1e6).toFixed(3)
  reports += 1
  process.stderr.write(`bench-loop-delay #${reports} p50=${ms(histogram.percentile(50))} p99=${ms(histogram.percentile(99))} max=${ms(histogram.max)} count=${histogram.count}\n`)
  histogram.reset()
})
