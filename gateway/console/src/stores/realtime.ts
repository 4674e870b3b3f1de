import { defineStore } from 'pinia'
import { ref, shallowRef } from 'vue'
import { api, ApiError, type SystemStatus } from '@/api'
import { RealtimeClient, type ConnectionState, type RealtimeOptions, type StreamEvent } from '@/realtime/sse'

let factory: (options: RealtimeOptions) => RealtimeClient = (options) => new RealtimeClient(options)

/** Tests replace the client (e.g. with a fake EventSource). */
export function setRealtimeFactory(next: (options: RealtimeOptions) => RealtimeClient): void {
  factory = next
}

/** The one shared SSE connection of the app, its state and the latest system status. */
export const useRealtimeStore = defineStore('realtime', () => {
  const state = ref<ConnectionState>('idle')
  const systemStatus = shallowRef<SystemStatus | null>(null)
  const serverClock = ref<{ timestamp: string; timezone: string } | null>(null)
  let client: RealtimeClient | null = null
  let onAuthLost: () => void = () => undefined

  function ensure(): RealtimeClient {
    if (client) return client
    client = factory({
      streamPath: async () => (await api.events.ticket()).stream_path,
      isAuthError: (error) => error instanceof ApiError && error.status === 401,
      onAuthError: () => onAuthLost(),
    })
    client.onState((next) => (state.value = next))
    client.on('system.status.updated', (event) => {
      // The first frame carries the whole status; later ones may be bare hints.
      if ('summary' in event.payload) systemStatus.value = event.payload as unknown as SystemStatus
      else void refreshStatus()
    })
    client.on('system.clock.sync', (event) => {
      serverClock.value = event.payload as { timestamp: string; timezone: string }
    })
    return client
  }

  async function refreshStatus(): Promise<void> {
    try {
      systemStatus.value = await api.system.status()
    } catch {
      // The indicator and pages show failures; the next event retries.
    }
  }

  function connect(handleAuthLost: () => void): void {
    onAuthLost = handleAuthLost
    ensure().start()
  }

  function disconnect(): void {
    client?.stop()
    state.value = 'idle'
  }

  function on(type: string, handler: (event: StreamEvent) => void): () => void {
    return ensure().on(type, handler)
  }

  function onOpen(handler: () => void): () => void {
    return ensure().onOpen(handler)
  }

  return { state, systemStatus, serverClock, connect, disconnect, on, onOpen, refreshStatus }
})
