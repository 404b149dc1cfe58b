import neostandard from 'neostandard'

// One style for the whole tree (TypeScript included), as the Fastify ecosystem writes it.
export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'test-output/**', 'bench/tmp/**', 'content/**', 'data/**'] })
]
