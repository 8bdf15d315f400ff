// Types of the ESM entry (index.mjs): the same exports as index.d.ts, which documents them,
// and the default export (the whole module, as `import ks from 'kernelscope'` gives it).
import * as ks from './index.js'
export * from './index.js'
export default ks
