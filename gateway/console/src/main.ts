import { createPinia } from 'pinia'
import { createApp } from 'vue'
import App from './App.vue'
import { onUnauthorized } from './api'
import { i18n } from './i18n'
import { router } from './router'
import { useAuthStore } from './stores/auth'
import './style.css'

const app = createApp(App)
const pinia = createPinia()
app.use(pinia).use(i18n).use(router)

onUnauthorized(() => {
  // Expired, revoked or rotated session: back to the login page.
  const auth = useAuthStore(pinia)
  auth.forget()
  const current = router.currentRoute.value
  if (!current.meta.public) void router.push({ name: 'login', query: { redirect: current.fullPath } })
})

app.mount('#app')
