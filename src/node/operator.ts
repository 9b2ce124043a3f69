/**
 * What the operator sees of a running node: its last errors, its metrics (when
 * `metrics.listen` is set) and the endpoint that serves them with its status. The node owns
 * one and wires it in a few lines; everything here reads the node through public methods.
 */
import { ErrorLog, collectStatus, type OperatorStatus } from './status.js'
import { NodeMetrics } from './metrics.js'
import { OperatorEndpoint } from './operator-endpoint.js'
import type { CatchupResponderStats } from './catchup/index.js'
import type { IntakeSource, IntakeVerdict } from './intake.js'
import type { AsmtpLibp2p } from './libp2p.js'
import type { NodeConfig } from '../config/index.js'
import type { NodeStatus } from './node-types.js'

/** The parts of the node the operator reads. */
export interface OperatedNode {
  readonly config: NodeConfig
  readonly host: AsmtpLibp2p
  status: () => Promise<NodeStatus>
}

export class NodeOperator {
  readonly errors = new ErrorLog()
  /** undefined when metrics.listen is off: nothing is counted then */
  readonly metrics: NodeMetrics | undefined
  /** the catch-up responder's counters, set once the node has one */
  catchupServed: (() => CatchupResponderStats) | undefined
  private endpoint: OperatorEndpoint | undefined

  constructor (private readonly node: OperatedNode) {
    this.metrics = node.config.metrics.listen === null
      ? undefined
      : new NodeMetrics({
        store: async () => await node.status(),
        catchup: async () => (await node.status()).catchup,
        catchupServed: () => this.catchupServed?.(),
        peers: () => node.host.getPeers().length
      })
  }

  async status (): Promise<OperatorStatus> {
    return await collectStatus({ config: this.node.config, host: this.node.host, status: this.node.status.bind(this.node), errors: this.errors })
  }

  onVerdict (v: IntakeVerdict, source: IntakeSource): void {
    this.metrics?.onVerdict(v, source)
  }

  async timeStamp<T> (stamp: () => Promise<T>): Promise<T> {
    return this.metrics === undefined ? await stamp() : await this.metrics.timeStamp(stamp)
  }

  /** Starts the endpoint when metrics.listen is set; resolves to its address (null when off). */
  async start (): Promise<string | null> {
    const listen = this.node.config.metrics.listen
    const metrics = this.metrics
    if (listen === null || metrics === undefined) return null
    this.endpoint = new OperatorEndpoint({
      listen,
      metrics: async () => ({ text: await metrics.text(), contentType: metrics.contentType }),
      status: async () => await this.status()
    })
    return await this.endpoint.start()
  }

  get address (): string | null {
    return this.endpoint?.address ?? null
  }

  async stop (): Promise<void> {
    await this.endpoint?.stop()
    this.endpoint = undefined
  }
}
