import { createI18n } from 'vue-i18n'
import en from './en-US'
import zh from './zh-CN'

export type Locale = 'en-US' | 'zh-CN'
export const LOCALES: { value: Locale; label: string }[] = [
  { value: 'en-US', label: 'English' },
  { value: 'zh-CN', label: '简体中文' },
]

export function initialLocale(): Locale {
  const saved = globalThis.localStorage?.getItem('wfm.locale')
  if (saved === 'en-US' || saved === 'zh-CN') return saved
  return globalThis.navigator?.language?.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en-US'
}

export const i18n = createI18n({
  legacy: false,
  locale: initialLocale(),
  fallbackLocale: 'en-US',
  messages: { 'en-US': en, 'zh-CN': zh },
})
