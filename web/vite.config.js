import { defineConfig } from 'vite';

// The gateway serves the build at /app/ (gateway/web.py); `npm run dev` proxies the API.
export default defineConfig({
  base: '/app/',
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1500 },
  server: {
    proxy: { '/api': process.env.CRM_GATEWAY || 'http://127.0.0.1:8000' },
  },
});
