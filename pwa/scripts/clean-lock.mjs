// Removes URL-bearing metadata (e.g. "funding") from package-lock.json so the committed lock
// carries no URLs. npm ci does not need these fields. Run after `npm install`.
import { readFileSync, writeFileSync } from 'node:fs';
const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
for (const pkg of Object.values(lock.packages ?? {})) {
  delete pkg.funding;
  delete pkg.resolved;
}
const out = JSON.stringify(lock, null, 2) + '\n';
if (/https?:/.test(out)) { console.error('package-lock.json still contains a URL'); process.exit(1); }
writeFileSync(path, out);
console.log('package-lock.json clean');
