import { onBeforeUnmount, ref } from 'vue'

/** True below the given width (the phone layout). */
export function useNarrow(maxWidth = 768) {
  const query = globalThis.matchMedia?.(`(max-width: ${maxWidth}px)`)
  const narrow = ref(query?.matches ?? false)
  const update = (event: MediaQueryListEvent) => (narrow.value = event.matches)
  query?.addEventListener('change', update)
  onBeforeUnmount(() => query?.removeEventListener('change', update))
  return narrow
}
