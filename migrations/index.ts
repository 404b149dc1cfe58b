import type { Migration } from 'kysely'
import * as initial from './0001-initial.js'
import * as refunds from './0002-refunds.js'
import * as store from './0003-store.js'
import * as sessions from './0004-sessions.js'
import * as freeLibrary from './0005-free-library.js'
import * as desk from './0006-desk.js'
import * as orderEvents from './0007-order-events.js'
import * as versions from './0008-versions.js'
import * as settingsSearch from './0009-settings-search.js'
import * as outbox from './0010-outbox.js'
import * as downloadLog from './0011-download-log.js'
import * as payments from './0012-payments.js'
import * as instances from './0013-instances.js'
import * as partialRefunds from './0014-partial-refunds.js'
import * as leases from './0015-leases.js'
import * as providerNeutralNames from './0016-provider-neutral-names.js'
import * as pdf from './0017-pdf.js'
import * as buyers from './0018-buyers.js'
import * as tax from './0019-tax.js'
import * as bundles from './0020-bundles.js'
import * as orderLines from './0021-order-lines.js'

// A static list rather than a folder scan, so the same migrations run from TypeScript sources
// (tests, tsx) and from the compiled build without depending on file extensions.
export const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-refunds': refunds,
  '0003-store': store,
  '0004-sessions': sessions,
  '0005-free-library': freeLibrary,
  '0006-desk': desk,
  '0007-order-events': orderEvents,
  '0008-versions': versions,
  '0009-settings-search': settingsSearch,
  '0010-outbox': outbox,
  '0011-download-log': downloadLog,
  '0012-payments': payments,
  '0013-instances': instances,
  '0014-partial-refunds': partialRefunds,
  '0015-leases': leases,
  '0016-provider-neutral-names': providerNeutralNames,
  '0017-pdf': pdf,
  '0018-buyers': buyers,
  '0019-tax': tax,
  '0020-bundles': bundles,
  '0021-order-lines': orderLines
}
