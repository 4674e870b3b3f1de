import { onBeforeUnmount, ref, shallowRef, watch, type Ref, type WatchSource } from 'vue'
import { ApiError } from '@/api'
import { useRealtimeStore } from '@/stores/realtime'
import type { StreamEvent } from '@/realtime/sse'

export interface LiveOptions {
  /** Event types that may change this resource. */
  events: string[]
  /** Whether an event concerns this resource (default: every event of the listed types). */
  match?: (event: StreamEvent) => boolean
  /** Re-run when these change (route params). */
  watch?: WatchSource[]
  debounceMs?: number
}

export interface Live<T> {
  data: Ref<T | null>
  error: Ref<ApiError | null>
  loading: Ref<boolean>
  reload: () => Promise<void>
}

/** REST snapshot first, then refetch when a matching event arrives or the stream reconnects. */
export function useLive<T>(fetcher: () => Promise<T>, options: LiveOptions): Live<T> {
  const realtime = useRealtimeStore()
  const data = shallowRef<T | null>(null) as Ref<T | null>
  const error = ref<ApiError | null>(null) as Ref<ApiError | null>
  const loading = ref(true)
  let timer: ReturnType<typeof setTimeout> | null = null
  let sequence = 0

  async function reload(): Promise<void> {
    const mine = ++sequence
    try {
      const value = await fetcher()
      if (mine !== sequence) return
      data.value = value
      error.value = null
    } catch (err) {
      if (mine !== sequence) return
      error.value = err instanceof ApiError ? err : new ApiError(0, { code: 'ERROR', message: String(err) })
    } finally {
      if (mine === sequence) loading.value = false
    }
  }

  function schedule(): void {
    if (timer) clearTimeout(timer)
    timer = setTimeout(() => void reload(), options.debounceMs ?? 120)
  }

  const offs = options.events.map((type) =>
    realtime.on(type, (event) => {
      if (!options.match || options.match(event)) schedule()
    }),
  )
  offs.push(realtime.onOpen(schedule))
  if (options.watch) {
    watch(options.watch, () => {
      loading.value = true
      void reload()
    })
  }
  void reload()
  onBeforeUnmount(() => {
    if (timer) clearTimeout(timer)
    for (const off of offs) off()
  })
  return { data, error, loading, reload }
}

/** Whether an event's payload names this config (and, when given, this node). */
export function concerns(event: StreamEvent, configId: string, nodeId?: string): boolean {
  const payload = event.payload as { config_id?: string; node_id?: string; node_ids?: string[] }
  if (payload.config_id !== undefined && payload.config_id !== configId) return false
  if (nodeId === undefined) return true
  if (payload.node_id !== undefined) return payload.node_id === nodeId
  if (Array.isArray(payload.node_ids)) return payload.node_ids.includes(nodeId)
  return true
}
