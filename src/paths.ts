import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

// This file runs from src/ (tsx, tests) or from dist/src/ (the build); either way the
// project's folders sit beside src/ or dist/.
const srcDir = dirname(fileURLToPath(import.meta.url))
const parent = dirname(srcDir)
export const projectRoot = basename(parent) === 'dist' ? dirname(parent) : parent
export const viewsDir = join(projectRoot, 'views')
export const publicDir = join(projectRoot, 'public')
