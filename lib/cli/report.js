'use strict'
// `kernelscope report in.json [-o out.html]`: renders a JSON report (from `kernelscope run
// --report out.json`) as the self-contained HTML page, after checking it against the schema.

const fs = require('node:fs')
const path = require('node:path')

const EXIT_USAGE = 2
const summary = 'render a JSON report (kernelscope run --report x.json) as a self-contained HTML file'
const usage = `usage: kernelscope report <in.json> [-o out.html]

Checks <in.json> against the report schema (version 1, docs/report.md) and writes the HTML page
(default: <in>.html beside it).`

async function main (argv) {
  let input = null
  let output = null
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '-h' || a === '--help') {
      process.stdout.write(usage + '\n')
      return 0
    } else if (a === '-o' || a === '--output') {
      if (i + 1 >= argv.length) return fail(`${a} needs a file name`, true)
      output = argv[++i]
    } else if (a.startsWith('--output=')) {
      output = a.slice(9)
    } else if (a.startsWith('-') && a !== '-') {
      return fail(`unknown option ${a}`, true)
    } else if (input === null) {
      input = a
    } else {
      return fail(`unexpected argument ${a}`, true)
    }
  }
  if (input === null) return fail('no input file', true)
  if (output === null) output = input === '-' ? 'kernelscope-report.html' : input.replace(/(\.json)?$/, '.html')
  let text
  try {
    text = fs.readFileSync(input === '-' ? 0 : input, 'utf8')
  } catch (err) {
    return fail(`cannot read ${input}: ${err.code || err.message}`, false, err.code === 'EACCES' ? 3 : EXIT_USAGE)
  }
  let doc
  try {
    doc = JSON.parse(text)
  } catch (err) {
    return fail(`${input} is not JSON: ${err.message}`)
  }
  const { validateReport, renderHtml, FORMAT, VERSION } = require('../report')
  if (doc === null || typeof doc !== 'object' || doc.format !== FORMAT) return fail(`${input} is not a kernelscope report (format is not '${FORMAT}')`)
  if (doc.version !== VERSION) return fail(`${input} is report version ${JSON.stringify(doc.version)}; this kernelscope reads version ${VERSION}`)
  const errors = validateReport(doc)
  if (errors.length > 0) return fail(`${input} does not match the report schema:\n${errors.map((e) => `  ${e.path}: ${e.message}`).join('\n')}`)
  try {
    fs.writeFileSync(output, renderHtml(doc))
  } catch (err) {
    return fail(`cannot write ${output}: ${err.code || err.message}`, false, err.code === 'EACCES' ? 3 : EXIT_USAGE)
  }
  process.stderr.write(`kernelscope: ${path.resolve(output)} written\n`)
  return 0
}

function fail (msg, withUsage = false, code = EXIT_USAGE) {
  process.stderr.write(`kernelscope report: ${msg}\n${withUsage ? '\n' + usage + '\n' : ''}`)
  return code
}

module.exports = { summary, usage, main }
