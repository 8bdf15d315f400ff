// kernelscope/koa: an async (ctx, next) middleware; options as ks.middleware() (docs/middleware.md).
import type { MiddlewareOptions } from '../../index'

declare function koa(options?: MiddlewareOptions): (ctx: any, next: () => Promise<unknown>) => Promise<void>
export = koa
