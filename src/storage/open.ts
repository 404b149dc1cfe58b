import type { StorageConfig } from '../config.js'
import { createFileStore } from './folder-store.js'
import type { Store } from './store.js'

/**
 * The store STORAGE_URL names; the AWS SDK is loaded only for a bucket. `notice` hears what an
 * operator should know about the store's software (a Node version the AWS SDK drops).
 */
export async function openStore (storage: StorageConfig, options: { uploadAllowanceMs: number, notice?: (message: string) => void }): Promise<Store> {
  if (storage.kind === 'folder') return createFileStore(storage.dir, storage.variable)
  const { createS3Store } = await import('./s3-store.js')
  return createS3Store(storage, options)
}
