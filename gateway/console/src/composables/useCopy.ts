import { useMessage } from 'naive-ui'
import { useI18n } from 'vue-i18n'

/** Copy text to the clipboard (with a fallback for browsers without the async API). */
export function useCopy() {
  const message = useMessage()
  const { t } = useI18n()
  return async (text: string): Promise<void> => {
    try {
      await navigator.clipboard.writeText(text)
    } catch {
      const area = document.createElement('textarea')
      area.value = text
      area.style.position = 'fixed'
      area.style.opacity = '0'
      document.body.appendChild(area)
      area.select()
      document.execCommand('copy')
      area.remove()
    }
    message.success(t('common.copied'))
  }
}
