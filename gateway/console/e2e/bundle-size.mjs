// Initial JS of the production build: the entry chunk and every chunk it imports statically
// (what the browser loads before the first route renders), raw and gzip. Reads dist/.vite/manifest.json.
import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'

const manifest = JSON.parse(readFileSync('dist/.vite/manifest.json', 'utf8'))
const entry = Object.keys(manifest).find((key) => manifest[key].isEntry)
const seen = new Set()
const visit = (key) => {
  if (seen.has(key)) return
  seen.add(key)
  for (const child of manifest[key].imports ?? []) visit(child)
}
visit(entry)
let raw = 0
let gz = 0
for (const key of seen) {
  const bytes = readFileSync(`dist/${manifest[key].file}`)
  raw += bytes.length
  gz += gzipSync(bytes, { level: 9 }).length
}
const all = Object.values(manifest).filter((c) => c.file.endsWith('.js')).length
const kb = (n) => (n / 1024).toFixed(1)
console.log(JSON.stringify({ initial_chunks: seen.size, all_chunks: all, initial_js_kb: +kb(raw), initial_js_gzip_kb: +kb(gz) }))
if (gz > 400 * 1024) {
  console.error('initial JS is over the 400 KB gzip budget')
  process.exit(1)
}
