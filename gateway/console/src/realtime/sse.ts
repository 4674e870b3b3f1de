/**
 * One shared server-sent-events connection (reference §9).
 *
 * A browser EventSource cannot send the Bearer header, so every (re)connect first trades the
 * session for a one-time stream ticket. Events are refresh hints: subscribers refetch REST
 * projections. After any (re)connect `onOpen` handlers run so pages refetch what they may have
 * missed. Errors and silence (no frame, not even the 15 s clock sync, within the watchdog
 * window) close the source and reconnect with exponential backoff.
 */

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed'

export interface StreamEvent<P = Record<string, unknown>> {
  id: string
  type: string
  timestamp: string
  payload: P
}

export interface EventSourceLike {
  readyState: number
  onopen: ((this: EventSourceLike, ev: Event) => unknown) | null
  onerror: ((this: EventSourceLike, ev: Event) => unknown) | null
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void
  close(): void
}

export interface RealtimeOptions {
  /** Returns the stream path with a fresh ticket (`POST /events/ticket` → `stream_path`). */
  streamPath: () => Promise<string>
  createSource?: (url: string) => EventSourceLike
  /** Called when the ticket request is refused with 401: the session is gone, stop. */
  isAuthError?: (error: unknown) => boolean
  onAuthError?: () => void
  baseDelayMs?: number
  maxDelayMs?: number
  watchdogMs?: number
}

export const EVENT_TYPES = [
  'config.list.updated',
  'config.overview.updated',
  'node.workspace.updated',
  'node.apply.updated',
  'mesh.workspace.updated',
  'endpoint.status.updated',
  'control.log.created',
  'control.log.updated',
  'settings.mqtt.updated',
  'snapshot.list.updated',
  'system.status.updated',
  'system.clock.sync',
  'runtime.snapshot.updated',
] as const

type Handler = (event: StreamEvent) => void

export class RealtimeClient {
  state: ConnectionState = 'idle'
  /** Consecutive failed attempts; the next delay is base · 2^attempts, capped. */
  attempts = 0
  lastEventAt = 0

  private source: EventSourceLike | null = null
  private handlers = new Map<string, Set<Handler>>()
  private stateHandlers = new Set<(state: ConnectionState) => void>()
  private openHandlers = new Set<() => void>()
  private retryTimer: ReturnType<typeof setTimeout> | null = null
  private watchdog: ReturnType<typeof setInterval> | null = null
  private generation = 0
  private readonly opts: Required<Omit<RealtimeOptions, 'onAuthError' | 'isAuthError'>> &
    Pick<RealtimeOptions, 'onAuthError' | 'isAuthError'>

  constructor(options: RealtimeOptions) {
    this.opts = {
      createSource: (url) => new EventSource(url) as unknown as EventSourceLike,
      baseDelayMs: 1000,
      maxDelayMs: 10_000,
      watchdogMs: 40_000,
      ...options,
    }
  }

  on(type: string, handler: Handler): () => void {
    let set = this.handlers.get(type)
    if (!set) {
      set = new Set()
      this.handlers.set(type, set)
    }
    set.add(handler)
    return () => set.delete(handler)
  }

  onState(handler: (state: ConnectionState) => void): () => void {
    this.stateHandlers.add(handler)
    return () => this.stateHandlers.delete(handler)
  }

  /** Runs after every successful (re)connect. */
  onOpen(handler: () => void): () => void {
    this.openHandlers.add(handler)
    return () => this.openHandlers.delete(handler)
  }

  nextDelay(): number {
    return Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** this.attempts)
  }

  start(): void {
    if (this.state === 'connecting' || this.state === 'open') return
    this.attempts = 0
    void this.connect()
  }

  stop(): void {
    this.generation += 1
    this.teardown()
    this.setState('closed')
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return
    this.state = state
    for (const handler of this.stateHandlers) handler(state)
  }

  private teardown(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer)
    if (this.watchdog) clearInterval(this.watchdog)
    this.retryTimer = this.watchdog = null
    this.source?.close()
    this.source = null
  }

  private async connect(): Promise<void> {
    const generation = ++this.generation
    this.teardown()
    this.setState(this.attempts === 0 ? 'connecting' : 'reconnecting')
    let path: string
    try {
      path = await this.opts.streamPath()
    } catch (error) {
      if (generation !== this.generation) return
      if (this.opts.isAuthError?.(error)) {
        this.stop()
        this.opts.onAuthError?.()
        return
      }
      this.scheduleRetry(generation)
      return
    }
    if (generation !== this.generation) return
    const source = this.opts.createSource(path)
    this.source = source
    source.onopen = () => {
      if (generation !== this.generation) return
      this.attempts = 0
      this.lastEventAt = Date.now()
      this.setState('open')
      for (const handler of this.openHandlers) handler()
    }
    source.onerror = () => {
      // The ticket is single use: the browser's own retry would be refused, so we reconnect.
      if (generation !== this.generation) return
      this.scheduleRetry(generation)
    }
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (message) => this.dispatch(generation, type, message))
    }
    this.watchdog = setInterval(() => {
      if (generation === this.generation && Date.now() - this.lastEventAt > this.opts.watchdogMs) {
        this.scheduleRetry(generation)
      }
    }, Math.max(1000, Math.floor(this.opts.watchdogMs / 4)))
  }

  private scheduleRetry(generation: number): void {
    if (generation !== this.generation) return
    this.teardown()
    this.setState('reconnecting')
    const delay = this.nextDelay()
    this.attempts += 1
    this.retryTimer = setTimeout(() => {
      if (generation === this.generation) void this.connect()
    }, delay)
  }

  private dispatch(generation: number, type: string, message: MessageEvent): void {
    if (generation !== this.generation) return
    this.lastEventAt = Date.now()
    let event: StreamEvent
    try {
      const data = JSON.parse(String(message.data)) as Partial<StreamEvent>
      event = {
        id: data.id ?? message.lastEventId ?? '',
        type: data.type ?? type,
        timestamp: data.timestamp ?? '',
        payload: (data.payload ?? {}) as Record<string, unknown>,
      }
    } catch {
      return
    }
    for (const handler of this.handlers.get(type) ?? []) handler(event)
    for (const handler of this.handlers.get('*') ?? []) handler(event)
  }
}
