// The part of parse-prometheus-text-format 1.1 that the tests use (it ships no types).
declare module 'parse-prometheus-text-format' {
  export interface PrometheusSample {
    value?: string
    labels?: Record<string, string>
    /** histograms and summaries */
    buckets?: Record<string, string>
    quantiles?: Record<string, string>
    count?: string
    sum?: string
  }
  export interface PrometheusFamily {
    name: string
    help: string
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED'
    metrics: PrometheusSample[]
  }
  /** Throws on text that is not the Prometheus text format. */
  export default function parsePrometheusTextFormat (text: string): PrometheusFamily[]
}
