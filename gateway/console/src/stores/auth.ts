import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, tokenStore, type AuthState, type TokenSession } from '@/api'

/** The admin session: the token lives in localStorage, the state comes from `/auth/state`. */
export const useAuthStore = defineStore('auth', () => {
  const token = ref<string | null>(tokenStore.get())
  const state = ref<AuthState | null>(null)

  const setupRequired = computed(() => state.value?.setup_required ?? false)
  const authenticated = computed(() => Boolean(token.value) && (state.value?.authenticated ?? false))

  function adopt(session: TokenSession): void {
    token.value = session.access_token
    tokenStore.set(session.access_token)
    state.value = { ...session }
  }

  async function load(): Promise<AuthState> {
    state.value = await api.auth.state()
    if (!state.value.authenticated && token.value) forget()
    return state.value
  }

  async function setup(password: string, locale: string): Promise<void> {
    adopt(await api.auth.setup(password, locale))
  }

  async function login(password: string): Promise<void> {
    adopt(await api.auth.login(password))
  }

  async function changePassword(current: string, next: string): Promise<void> {
    adopt(await api.auth.changePassword(current, next))
  }

  function forget(): void {
    token.value = null
    tokenStore.set(null)
    if (state.value) state.value = { ...state.value, authenticated: false }
  }

  async function logout(): Promise<void> {
    try {
      if (token.value) await api.auth.logout()
    } finally {
      forget()
    }
  }

  return { token, state, setupRequired, authenticated, load, setup, login, changePassword, logout, forget }
})
