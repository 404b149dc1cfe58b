import fastifyStatic from '@fastify/static'
import fp from 'fastify-plugin'
import { publicDir } from '../../paths.js'

/** Stylesheets, images and small scripts under /public/. */
export default fp(async function staticPlugin (app) {
  await app.register(fastifyStatic, {
    root: publicDir,
    prefix: '/public/',
    // Stylesheets and images are small and change only with a deploy.
    maxAge: app.config.production ? '1d' : 0
  })
}, { name: 'static' })
