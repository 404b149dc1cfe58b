// The cart: items and bundles a reader or guest collects to pay for in one checkout, kept in the
// browser's session (no table): POST /cart/add, POST /cart/remove, GET /cart, POST /cart/checkout.
// The checkout itself is the purchase module's (checkout.startCart); this module is its door.
export { default as cartRoutes } from './routes.js'
export { cartEntries } from './session.js'
