// kernelscope/fastify: a fastify plugin (made with fastify-plugin); options as ks.middleware()
// (docs/middleware.md), the logger defaulting to request.log; request.<field> holds the report
// (an ExplainReport, or a BriefRequestReport for a request only timed or faster than thresholdMs).
import type { MiddlewareOptions } from '../../index'

declare function kernelscopeFastify(fastify: any, options: MiddlewareOptions, done: (err?: Error) => void): void
export = kernelscopeFastify
