import fp from 'fastify-plugin'
import { createUsers, type Users } from './users.js'

declare module 'fastify' {
  interface FastifyInstance {
    users: Users
  }
}

/** Accounts and their sign-ins. */
export default fp(async function users (app) {
  const { config, database } = app
  app.decorate('users', createUsers({ db: database.db, runner: database.runner, adminEmails: config.adminEmails, sessionDays: config.sessionDays, changeStamp: database.changeStamp }))
}, { name: 'users', dependencies: ['database'] })
