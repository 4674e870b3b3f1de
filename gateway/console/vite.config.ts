/// <reference types="vitest/config" />
import { fileURLToPath, URL } from 'node:url'
import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vite'

// The API the dev server and `vite preview` proxy /api to (the gateway does this in production).
const api = process.env.WFM_API_URL ?? 'http://127.0.0.1:8000'
const proxy = { '/api': { target: api, changeOrigin: false } }

export default defineConfig({
  plugins: [vue()],
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  server: { proxy },
  preview: { proxy },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 700,
    manifest: true,
  },
  test: {
    environment: 'happy-dom',
    include: ['tests/**/*.test.ts'],
  },
})
