// Loaded into the memory scenario's app instances only (node --expose-gc --require this file):
// SIGWINCH (ignored by default, and not one of the signals close-with-grace shuts down on) runs a
// full garbage collection, so that the idle RSS the bench reads afterwards is not whatever
// garbage happened to be waiting. The server itself is unchanged.
'use strict'
process.on('SIGWINCH', () => {
  globalThis.gc()
  globalThis.gc()
  process.stderr.write('bench-gc done\n')
})
