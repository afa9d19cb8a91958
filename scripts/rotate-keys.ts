// npm run keys:rotate: re-encrypts every stored secret under the first key of ENCRYPTION_KEYS.
// Put the new key first and keep the old ones listed until this has finished.
import { loadConfig } from '../src/config.ts'
import { openDatabase } from '../src/platform/db/client.ts'
import { rotateEncryptionKeys } from '../src/jobs/rotate-keys.ts'

const config = loadConfig()
const database = await openDatabase({ url: config.databaseUrl, dataDir: `${config.dataDir}/pglite` })
try {
  await database.migrate()
  const report = await rotateEncryptionKeys(database.db, config)
  console.log(`encryption key "${config.encryptionKeys[0]?.id}": ${report.examined} secrets examined, ${report.reencrypted} re-encrypted, ${report.alreadyCurrent} already current`)
} finally {
  await database.close()
}
