import { createPinia, setActivePinia } from 'pinia'
import { createApp, defineComponent, h, nextTick } from 'vue'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { useLive, concerns } from '@/composables/useLive'
import { i18n } from '@/i18n'
import { RealtimeClient, type EventSourceLike } from '@/realtime/sse'
import { useAuthStore } from '@/stores/auth'
import { usePrefsStore } from '@/stores/prefs'
import { setRealtimeFactory, useRealtimeStore } from '@/stores/realtime'

type Route = (url: string, init: RequestInit) => { status?: number; body: unknown }
let routes: Route
const calls: { url: string; init: RequestInit }[] = []

function ok(data: unknown) {
  return { body: { success: true, data } }
}

beforeEach(() => {
  setActivePinia(createPinia())
  localStorage.clear()
  calls.length = 0
  vi.stubGlobal('fetch', vi.fn(async (url: string, init: RequestInit) => {
    calls.push({ url, init })
    const { status = 200, body } = routes(url, init)
    return new Response(JSON.stringify(body), { status })
  }))
})
afterEach(() => vi.unstubAllGlobals())

const session = { setup_required: false, authenticated: true, username: 'admin', display_name: 'Admin', expires_at: 'x', access_token: 'tok-1', token_type: 'bearer' }

describe('auth store', () => {
  it('keeps the session token after login and drops it on logout', async () => {
    routes = (url) => (url.endsWith('/auth/login') ? ok(session) : ok({ message: 'bye' }))
    const auth = useAuthStore()
    await auth.login('secret')
    expect(auth.authenticated).toBe(true)
    expect(localStorage.getItem('wfm.session')).toBe('tok-1')
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual({ username: 'admin', password: 'secret' })
    await auth.logout()
    expect((calls[1]?.init.headers as Record<string, string>).Authorization).toBe('Bearer tok-1')
    expect(auth.authenticated).toBe(false)
    expect(localStorage.getItem('wfm.session')).toBeNull()
  })

  it('surfaces the API error of a wrong password and stays signed out', async () => {
    routes = () => ({ status: 401, body: { success: false, error: { code: 'AUTH_FAILED', message: 'Invalid username or password' } } })
    const auth = useAuthStore()
    await expect(auth.login('nope')).rejects.toMatchObject({ code: 'AUTH_FAILED', message: 'Invalid username or password' })
    expect(auth.authenticated).toBe(false)
  })

  it('forgets a stored token the server no longer accepts', async () => {
    localStorage.setItem('wfm.session', 'stale')
    routes = () => ok({ ...session, authenticated: false })
    const auth = useAuthStore()
    await auth.load()
    expect(auth.token).toBeNull()
    expect(localStorage.getItem('wfm.session')).toBeNull()
  })
})

describe('prefs store', () => {
  it('applies the language at once and saves language + theme to the API', async () => {
    routes = (_url, init) => ok(JSON.parse(String(init.body ?? '{}')))
    const prefs = usePrefsStore()
    await prefs.save({ locale: 'zh-CN', theme: 'dark' })
    expect(i18n.global.locale.value).toBe('zh-CN')
    expect(i18n.global.t('nav.settings')).toBe('设置')
    expect(localStorage.getItem('wfm.theme')).toBe('dark')
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual({ locale: 'zh-CN', theme_mode: 'dark' })
    prefs.applyLocale('en-US')
    expect(i18n.global.t('nav.settings')).toBe('Settings')
  })
})

class FakeSource implements EventSourceLike {
  static last: FakeSource | null = null
  readyState = 0
  onopen: EventSourceLike['onopen'] = null
  onerror: EventSourceLike['onerror'] = null
  listeners = new Map<string, (ev: MessageEvent) => void>()
  constructor(readonly url: string) {
    FakeSource.last = this
  }
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void {
    this.listeners.set(type, listener)
  }
  close(): void {}
  emit(type: string, payload: unknown): void {
    this.listeners.get(type)?.(new MessageEvent(type, { data: JSON.stringify({ id: '1', type, timestamp: '', payload }) }))
  }
}

describe('realtime store and live resources', () => {
  beforeEach(() => {
    setRealtimeFactory((options) => new RealtimeClient({ ...options, createSource: (url) => new FakeSource(url) }))
  })

  it('takes the stream path from a ticket and keeps the pushed system status', async () => {
    routes = (url) => (url.endsWith('/events/ticket') ? ok({ ticket: 't', expires_at: 'x', stream_path: '/api/v1/events/stream?ticket=t' }) : ok({}))
    const realtime = useRealtimeStore()
    realtime.connect(() => undefined)
    await vi.waitFor(() => expect(FakeSource.last?.url).toBe('/api/v1/events/stream?ticket=t'))
    FakeSource.last!.onopen?.call(FakeSource.last!, new Event('open'))
    expect(realtime.state).toBe('open')
    FakeSource.last!.emit('system.status.updated', { summary: { configs: 2, nodes: 5, dynamic_nodes: 3, online_nodes: 1 } })
    expect(realtime.systemStatus?.summary.online_nodes).toBe(1)
    realtime.disconnect()
    expect(realtime.state).toBe('idle')
  })

  it('useLive loads a REST snapshot first, then refetches only on matching events', async () => {
    let online = false
    routes = (url) => {
      if (url.endsWith('/events/ticket')) return ok({ stream_path: '/s?ticket=t' })
      return ok({ node_cards: [{ name: 'alpha', online }] })
    }
    const realtime = useRealtimeStore()
    realtime.connect(() => undefined)
    await vi.waitFor(() => expect(FakeSource.last).not.toBeNull())
    let live: ReturnType<typeof useLive<{ node_cards: { online: boolean }[] }>> | null = null
    const Probe = defineComponent({
      setup() {
        live = useLive(async () => (await (await fetch('/api/v1/configs/cfg_a/overview', {})).json()).data, {
          events: ['endpoint.status.updated'],
          match: (e) => concerns(e, 'cfg_a'),
          debounceMs: 1,
        })
        return () => h('div')
      },
    })
    const app = createApp(Probe)
    app.mount(document.createElement('div'))
    await vi.waitFor(() => expect(live!.data.value?.node_cards[0]?.online).toBe(false))
    const overviewCalls = () => calls.filter((c) => c.url.includes('/overview')).length
    expect(overviewCalls()).toBe(1)

    online = true
    FakeSource.last!.emit('endpoint.status.updated', { config_id: 'cfg_other', node_ids: ['x'] })
    await new Promise((r) => setTimeout(r, 20))
    expect(overviewCalls()).toBe(1)
    FakeSource.last!.emit('endpoint.status.updated', { config_id: 'cfg_a', node_ids: ['n1'] })
    await vi.waitFor(() => expect(live!.data.value?.node_cards[0]?.online).toBe(true))
    expect(overviewCalls()).toBe(2)
    app.unmount()
    await nextTick()
    FakeSource.last!.emit('endpoint.status.updated', { config_id: 'cfg_a', node_ids: ['n1'] })
    await new Promise((r) => setTimeout(r, 20))
    expect(overviewCalls()).toBe(2)
    realtime.disconnect()
  })
})

describe('concerns', () => {
  const event = (payload: Record<string, unknown>) => ({ id: '', type: 't', timestamp: '', payload })
  it('matches config and node ids in either payload shape', () => {
    expect(concerns(event({ config_id: 'a' }), 'a')).toBe(true)
    expect(concerns(event({ config_id: 'b' }), 'a')).toBe(false)
    expect(concerns(event({ config_id: 'a', node_ids: ['n1'] }), 'a', 'n1')).toBe(true)
    expect(concerns(event({ config_id: 'a', node_ids: ['n2'] }), 'a', 'n1')).toBe(false)
    expect(concerns(event({ config_id: 'a', node_id: 'n1' }), 'a', 'n1')).toBe(true)
    expect(concerns(event({}), 'a', 'n1')).toBe(true)
  })
})
