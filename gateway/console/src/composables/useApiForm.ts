import { reactive, ref } from 'vue'
import { useMessage } from 'naive-ui'
import { ApiError } from '@/api'

/**
 * Submitting a form to the API: the API's message is shown next to the field it concerns
 * (validation `loc`, or a code → field map the form gives), otherwise as a toast.
 */
export function useApiForm(codeFields: Record<string, string> = {}) {
  const message = useMessage()
  const errors = reactive<Record<string, string>>({})
  const busy = ref(false)

  function clear(): void {
    for (const key of Object.keys(errors)) delete errors[key]
  }

  function show(error: unknown): void {
    if (!(error instanceof ApiError)) {
      message.error(String(error))
      return
    }
    const field = codeFields[error.code] ?? error.field
    if (field) errors[field] = error.message
    else message.error(error.message)
  }

  async function submit<T>(action: () => Promise<T>): Promise<T | undefined> {
    clear()
    busy.value = true
    try {
      return await action()
    } catch (error) {
      show(error)
      return undefined
    } finally {
      busy.value = false
    }
  }

  /** Props for an NFormItem: the error message as feedback. */
  function item(field: string): { feedback?: string; validationStatus?: 'error' } {
    const text = errors[field]
    return text ? { feedback: text, validationStatus: 'error' } : {}
  }

  return { errors, busy, submit, show, clear, item }
}
