import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { useAuthStore } from '@/stores/auth'

const routes: RouteRecordRaw[] = [
  { path: '/setup', name: 'setup', component: () => import('@/views/SetupView.vue'), meta: { public: true } },
  { path: '/login', name: 'login', component: () => import('@/views/LoginView.vue'), meta: { public: true } },
  {
    path: '/',
    component: () => import('@/layouts/AppLayout.vue'),
    children: [
      { path: '', name: 'home', component: () => import('@/views/HomeView.vue') },
      { path: 'configs/:configId', name: 'config', component: () => import('@/views/ConfigOverviewView.vue'), props: true },
      { path: 'configs/:configId/nodes', name: 'nodes', component: () => import('@/views/NodesView.vue'), props: true },
      {
        path: 'configs/:configId/nodes/:nodeId/:tab(details|mesh|advanced|apply|control|download)?',
        name: 'node',
        component: () => import('@/views/NodeWorkspaceView.vue'),
        props: true,
      },
      { path: 'tools/quick-mesh/:mode(hub-spoke|full-mesh|free-mesh)?', name: 'quick-mesh', component: () => import('@/views/QuickMeshView.vue'), props: true },
      { path: 'tools/download/:tab(client|configs)?', name: 'downloads', component: () => import('@/views/DownloadToolsView.vue'), props: true },
      { path: 'tools/port-forward', name: 'port-forward', component: () => import('@/views/PortForwardView.vue') },
      { path: 'tools/mcp-access', name: 'mcp-access', component: () => import('@/views/McpAccessView.vue') },
      { path: 'settings', name: 'settings', component: () => import('@/views/SettingsView.vue') },
      { path: 'backups', redirect: '/settings' },
      { path: 'system', name: 'system', component: () => import('@/views/SystemView.vue') },
      { path: 'help', name: 'help', component: () => import('@/views/HelpView.vue') },
    ],
  },
  { path: '/:pathMatch(.*)*', redirect: '/' },
]

export const router = createRouter({ history: createWebHistory(), routes })

router.beforeEach(async (to) => {
  const auth = useAuthStore()
  if (!auth.state) {
    try {
      await auth.load()
    } catch {
      // The API is unreachable: let the page render and show the error.
      return true
    }
  }
  if (auth.setupRequired) return to.name === 'setup' ? true : { name: 'setup' }
  if (to.name === 'setup') return { name: auth.authenticated ? 'home' : 'login' }
  if (!to.meta.public && !auth.authenticated) {
    return { name: 'login', query: to.fullPath !== '/' ? { redirect: to.fullPath } : {} }
  }
  if (to.name === 'login' && auth.authenticated) return { name: 'home' }
  return true
})
