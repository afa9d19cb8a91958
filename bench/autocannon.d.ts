// The few parts of autocannon's API the benchmarks use (the package ships no types).
declare module 'autocannon' {
  import type { ClientRequest } from 'node:http'
  export interface RequestSpec {
    method?: string
    path?: string
    headers?: Record<string, string>
    body?: string | Buffer
  }
  export interface Options {
    url: string
    connections?: number
    pipelining?: number
    amount?: number
    duration?: number
    timeout?: number
    method?: string
    headers?: Record<string, string>
    requests?: Array<RequestSpec & {
      setupRequest?: (req: RequestSpec, context: Record<string, unknown>) => RequestSpec
      onResponse?: (status: number, body: string, context: Record<string, unknown>) => void
    }>
  }
  export interface Histogram { average: number, mean: number, p50: number, p90: number, p99: number, max: number, total: number }
  export interface Result {
    requests: Histogram & { sent: number }
    latency: Histogram
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    '2xx': number
    '4xx': number
    '5xx': number
  }
  function autocannon (options: Options): Promise<Result>
  export default autocannon
  export type { ClientRequest }
}
