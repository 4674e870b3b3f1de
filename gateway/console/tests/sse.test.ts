import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { RealtimeClient, type EventSourceLike, type StreamEvent } from '@/realtime/sse'

class FakeSource implements EventSourceLike {
  static all: FakeSource[] = []
  readyState = 0
  closed = false
  onopen: EventSourceLike['onopen'] = null
  onerror: EventSourceLike['onerror'] = null
  listeners = new Map<string, ((ev: MessageEvent) => void)[]>()
  constructor(readonly url: string) {
    FakeSource.all.push(this)
  }
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener])
  }
  close(): void {
    this.closed = true
  }
  open(): void {
    this.readyState = 1
    this.onopen?.call(this, new Event('open'))
  }
  fail(): void {
    this.onerror?.call(this, new Event('error'))
  }
  emit(type: string, payload: Record<string, unknown>, id = '1-0'): void {
    const data = JSON.stringify({ id, type, timestamp: 'now', payload })
    for (const listener of this.listeners.get(type) ?? []) listener(new MessageEvent(type, { data }))
  }
}


describe('RealtimeClient', () => {
  let tickets: number
  beforeEach(() => {
    FakeSource.all = []
    tickets = 0
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
  })
  afterEach(() => vi.useRealTimers())

  function client(extra: Partial<ConstructorParameters<typeof RealtimeClient>[0]> = {}) {
    return new RealtimeClient({
      streamPath: async () => `/api/v1/events/stream?ticket=t${++tickets}`,
      createSource: (url) => new FakeSource(url),
      ...extra,
    })
  }

  it('connects with a fresh ticket, reports state and dispatches typed events', async () => {
    const rt = client()
    const states: string[] = []
    const got: StreamEvent[] = []
    rt.onState((s) => states.push(s))
    rt.on('endpoint.status.updated', (e) => got.push(e))
    rt.start()
    await vi.advanceTimersByTimeAsync(0)
    const source = FakeSource.all[0]!
    expect(source.url).toBe('/api/v1/events/stream?ticket=t1')
    source.open()
    source.emit('endpoint.status.updated', { config_id: 'cfg', node_ids: ['n1'] })
    source.emit('config.list.updated', {})
    expect(states).toEqual(['connecting', 'open'])
    expect(got).toHaveLength(1)
    expect(got[0]?.payload).toEqual({ config_id: 'cfg', node_ids: ['n1'] })
  })

  it('reconnects after an error with a new ticket and exponential backoff, then refetch hooks run', async () => {
    const rt = client({ baseDelayMs: 1000, maxDelayMs: 4000 })
    const opened = vi.fn()
    rt.onOpen(opened)
    rt.start()
    await vi.advanceTimersByTimeAsync(0)
    FakeSource.all[0]!.open()
    expect(opened).toHaveBeenCalledTimes(1)

    FakeSource.all[0]!.fail()
    expect(FakeSource.all[0]!.closed).toBe(true)
    expect(rt.state).toBe('reconnecting')
    await vi.advanceTimersByTimeAsync(999)
    expect(FakeSource.all).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(FakeSource.all).toHaveLength(2)
    expect(FakeSource.all[1]!.url).toContain('ticket=t2')

    FakeSource.all[1]!.fail() // second failure in a row: 2 s
    await vi.advanceTimersByTimeAsync(1999)
    expect(FakeSource.all).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(1)
    FakeSource.all[2]!.fail() // third: 4 s (cap)
    expect(rt.nextDelay()).toBe(4000)
    await vi.advanceTimersByTimeAsync(4000)
    FakeSource.all[3]!.open()
    expect(rt.state).toBe('open')
    expect(rt.attempts).toBe(0)
    expect(opened).toHaveBeenCalledTimes(2)
  })

  it('reconnects when the stream goes silent past the watchdog', async () => {
    const rt = client({ watchdogMs: 8000 })
    rt.start()
    await vi.advanceTimersByTimeAsync(0)
    FakeSource.all[0]!.open()
    await vi.advanceTimersByTimeAsync(6000)
    FakeSource.all[0]!.emit('system.clock.sync', { timestamp: 'x', timezone: 'UTC' })
    await vi.advanceTimersByTimeAsync(6000)
    expect(FakeSource.all[0]!.closed).toBe(false) // the clock sync kept it alive
    await vi.advanceTimersByTimeAsync(6000)
    expect(FakeSource.all[0]!.closed).toBe(true)
    await vi.advanceTimersByTimeAsync(1000)
    expect(FakeSource.all).toHaveLength(2)
  })

  it('retries when the ticket request fails, and stops for good on an auth error', async () => {
    let fail: 'network' | 'auth' | null = 'network'
    const onAuthError = vi.fn()
    const rt = new RealtimeClient({
      streamPath: async () => {
        if (fail === 'network') throw new Error('down')
        if (fail === 'auth') throw Object.assign(new Error('expired'), { status: 401 })
        return '/stream?ticket=ok'
      },
      createSource: (url) => new FakeSource(url),
      isAuthError: (e) => (e as { status?: number }).status === 401,
      onAuthError,
    })
    rt.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(rt.state).toBe('reconnecting')
    fail = 'auth'
    await vi.advanceTimersByTimeAsync(1000)
    expect(onAuthError).toHaveBeenCalledTimes(1)
    expect(rt.state).toBe('closed')
    await vi.advanceTimersByTimeAsync(20000)
    expect(FakeSource.all).toHaveLength(0)
  })

  it('stop closes the source and ignores late frames', async () => {
    const rt = client()
    const handler = vi.fn()
    rt.on('config.list.updated', handler)
    rt.start()
    await vi.advanceTimersByTimeAsync(0)
    const source = FakeSource.all[0]!
    source.open()
    rt.stop()
    source.emit('config.list.updated', {})
    expect(source.closed).toBe(true)
    expect(handler).not.toHaveBeenCalled()
    expect(rt.state).toBe('closed')
  })
})
