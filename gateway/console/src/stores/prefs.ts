import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api } from '@/api'
import { i18n, type Locale } from '@/i18n'

export type ThemeMode = 'system' | 'light' | 'dark'

function savedTheme(): ThemeMode {
  const value = globalThis.localStorage?.getItem('wfm.theme')
  return value === 'light' || value === 'dark' ? value : 'system'
}

/** UI language and theme: applied at once, kept locally and saved to `/settings/ui`. */
export const usePrefsStore = defineStore('prefs', () => {
  const locale = ref<Locale>(i18n.global.locale.value as Locale)
  const theme = ref<ThemeMode>(savedTheme())

  function applyLocale(value: Locale): void {
    locale.value = value
    i18n.global.locale.value = value
    globalThis.localStorage?.setItem('wfm.locale', value)
    if (globalThis.document) document.documentElement.lang = value
  }

  function applyTheme(value: ThemeMode): void {
    theme.value = value
    globalThis.localStorage?.setItem('wfm.theme', value)
  }

  /** Take the server's saved preferences (after login). */
  async function loadRemote(): Promise<void> {
    const ui = await api.settings.ui()
    if (ui.locale === 'en-US' || ui.locale === 'zh-CN') applyLocale(ui.locale)
    if (ui.theme_mode === 'light' || ui.theme_mode === 'dark' || ui.theme_mode === 'system') {
      applyTheme(ui.theme_mode)
    }
  }

  async function save(next: { locale?: Locale; theme?: ThemeMode }): Promise<void> {
    if (next.locale) applyLocale(next.locale)
    if (next.theme) applyTheme(next.theme)
    await api.settings.saveUi({ locale: locale.value, theme_mode: theme.value })
  }

  return { locale, theme, applyLocale, applyTheme, loadRemote, save }
})
